"""Spill folders a killed run leaves are removed by the next run (lbsim.spill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lbsim.spill import OWNER_FILE, SPILL_PREFIX, UNOWNED_AGE, SpillArea, remove_stale_spills

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and /proc are POSIX")


def _spill_dirs(where: Path) -> list[Path]:
    return sorted(p for p in where.iterdir() if p.name.startswith(SPILL_PREFIX))


def _dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_folders_of_dead_owners_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{SPILL_PREFIX}dead"
    live = tmp_path / f"{SPILL_PREFIX}live"
    fresh = tmp_path / f"{SPILL_PREFIX}fresh"  # no owner file yet: being made
    old = tmp_path / f"{SPILL_PREFIX}old"  # no owner file, an hour old: abandoned
    other = tmp_path / "not-a-spill"
    for folder in (dead, live, fresh, old, other):
        folder.mkdir()
        (folder / "chunk-000001.pickle").write_bytes(b"x")
    (dead / OWNER_FILE).write_text(f"{_dead_pid()} -\n")
    (live / OWNER_FILE).write_text(f"{os.getpid()} -\n")
    (other / OWNER_FILE).write_text(f"{_dead_pid()} -\n")
    long_ago = time.time() - UNOWNED_AGE - 60
    os.utime(old, (long_ago, long_ago))
    assert remove_stale_spills(tmp_path) == [dead, old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, fresh, other)
    )


def test_recycled_pid_is_not_taken_for_the_owner(tmp_path: Path) -> None:
    if not Path(f"/proc/{os.getpid()}/stat").exists():
        pytest.skip("needs /proc for process start times")
    folder = tmp_path / f"{SPILL_PREFIX}recycled"
    folder.mkdir()
    # Our own pid, but a start time that is not ours: a process that used this pid before.
    (folder / OWNER_FILE).write_text(f"{os.getpid()} 1\n")
    assert remove_stale_spills(tmp_path) == [folder]


def test_area_names_its_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    area = SpillArea()
    area.new_file()
    assert area.path is not None and area.path.parent == tmp_path
    assert (area.path / OWNER_FILE).read_text().split()[0] == str(os.getpid())
    assert remove_stale_spills(tmp_path) == []  # we are alive
    area.close()


def _run(tmp: Path, duration: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TMPDIR=str(tmp), LBSIM_SPILL_ROWS="20")
    command = [
        sys.executable, "-m", "lbsim", "run", "quickstart", "--set", f"duration={duration}",
        "--set", "warmup=0s", "--no-figures", "--out", str(tmp / "out"),
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_next_run_removes_the_spill_folder_of_a_killed_run(tmp_path: Path) -> None:
    killed = _run(tmp_path, "300s")
    deadline = time.monotonic() + 300
    try:
        while not any(
            any(d.glob("chunk-*")) for d in _spill_dirs(tmp_path)
        ):  # wait until it has spilled records
            assert killed.poll() is None, "the long run ended before it spilled"
            assert time.monotonic() < deadline, "no spill folder appeared"
            time.sleep(0.2)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    left = _spill_dirs(tmp_path)
    assert len(left) == 1  # SIGKILL runs no clean-up: the folder stays
    later = _run(tmp_path, "1s")
    _, stderr = later.communicate(timeout=300)
    assert later.returncode == 0, stderr.decode()
    assert not left[0].exists()
    assert _spill_dirs(tmp_path) == []  # and its own folder went at exit
    assert b"removed 1 record spill folder that killed runs left" in stderr
