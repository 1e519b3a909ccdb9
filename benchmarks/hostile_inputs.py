"""Peak memory and wall time of every hostile input of the robustness corpus.

Each case of ``tests/robustness/hostile.py`` (an alias bomb, absurd values, paths
that cannot be written, ...) runs as its own ``lbsim`` process; the script reports
its exit status, wall-clock seconds (interpreter start-up included), peak resident
memory (``wait4``'s ``ru_maxrss`` of that one process) and its first stderr line.
A case passes with the expected exit status, one stderr line holding the expected
text, no traceback, under 2 s and under 200 MB.

A process is killed after ``--timeout`` seconds and limited to ``--memory`` MB of
address space, so the script can also be pointed at an older copy of lbsim
(``--against DIR``, a folder holding its ``lbsim`` package) to show which cases
used to hang, grow without bound or end in a traceback.

Usage::

    python benchmarks/hostile_inputs.py [--timeout 10] [--memory 1500] [--against DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

from hostile import CASES, materialise  # noqa: E402

_CALL = (
    "import sys; sys.path.insert(0, sys.argv[1]); from lbsim.cli import main; "
    "sys.exit(main(sys.argv[2:]))"
)


def _limit(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def measure(argv: list[str], code: Path, timeout: float, memory: int) -> dict[str, object]:
    """Run one case; its status, seconds, peak MB and first stderr line."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-c", _CALL, str(code), *argv],
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=lambda: _limit(memory),
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                status = -1
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    code_ = os.waitstatus_to_exitcode(status) if status != -1 else "timeout"
    lines = [line for line in text.splitlines() if line.strip()]
    first = "Traceback ... " + lines[-1] if "Traceback" in text and lines else (lines or [""])[0]
    return {
        "status": code_,
        "seconds": seconds,
        "peak_mb": usage.ru_maxrss / 1024,
        "lines": len(lines),
        "message": first,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--memory", type=int, default=1500, help="MB of address space per case")
    parser.add_argument("--against", type=Path, default=ROOT, help="folder holding lbsim/")
    args = parser.parse_args()
    worst_seconds = worst_mb = 0.0
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        print(f"{'case':24} {'exit':>7} {'want':>4} {'s':>5} {'MB':>6}  message")
        for case in CASES:
            folder = Path(scratch) / case.name  # a fresh folder: cases never meet
            folder.mkdir()
            materialise(folder)
            argv = [arg.replace("{tmp}", str(folder)) for arg in case.argv]
            result = measure(argv, args.against, args.timeout, args.memory)
            ok = (
                result["status"] == case.status
                and result["lines"] == 1
                and "Traceback" not in str(result["message"])
                and case.says in str(result["message"])
                and float(result["seconds"]) < 2.0  # type: ignore[arg-type]
                and float(result["peak_mb"]) < 200  # type: ignore[arg-type]
            )
            failures += not ok
            worst_seconds = max(worst_seconds, float(result["seconds"]))  # type: ignore[arg-type]
            worst_mb = max(worst_mb, float(result["peak_mb"]))  # type: ignore[arg-type]
            message = str(result["message"])
            print(
                f"{case.name:24} {result['status']!s:>7} {case.status:>4} "
                f"{result['seconds']:5.2f} {result['peak_mb']:6.0f}  "
                f"{'ok  ' if ok else 'FAIL'} {message[:90]}"
            )
    print(
        f"{len(CASES)} cases, {failures} failing; slowest {worst_seconds:.2f} s, "
        f"largest {worst_mb:.0f} MB (bounds: 2 s, 200 MB, exit status as listed, one line)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
