"""Standard output that may go away, and text that is safe to show on a terminal.

Theory of operation:
    ``lbsim run`` writes its output folder *before* it prints anything, but a
    sweep or a check prints while it works, and the reader of a pipe may leave at
    any moment (``lbsim run | head -1``, ``| true``) or the file behind stdout may
    fill up (``> /dev/full``). A finished run must never be lost because of that,
    and Python must not print a traceback for it.

    :class:`GuardedStdout` wraps ``sys.stdout`` for the duration of one command.
    The first failed write or flush is remembered and every later write is
    dropped: stdout is pointed at ``/dev/null`` (so the interpreter's own final
    flush is quiet too) and the command carries on with its real work. At the end
    the command line asks :meth:`GuardedStdout.failure` what happened:

    * a broken pipe (``EPIPE``): the reader took what it wanted; not an error, the
      exit status is the command's own;
    * anything else (``ENOSPC``, ``EIO``, ...): stdout lost data; one line on
      stderr and exit status 1, after the outputs were written.

    :func:`printable` escapes control characters (ANSI escape sequences, newlines,
    carriage returns) so that names and values from a scenario, or a path with a
    newline, cannot retitle or clear the terminal nor split a one-line message.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any, TextIO

__all__ = ["GuardedStdout", "printable", "target_problem"]

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def printable(text: object) -> str:
    r"""``text`` with every control character written as an escape (``\n``, ``\x07``).

    Args:
        text: Anything; converted with ``str``.

    Returns:
        The text, safe to print on one terminal line.
    """
    shown = str(text)
    if shown.isprintable():
        return shown
    out = []
    for char in shown:
        if char.isprintable() or char == " ":
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


class GuardedStdout:
    """A stand-in for ``sys.stdout`` whose write errors never interrupt the command.

    Attributes:
        error: The first ``OSError`` a write or flush raised, or None.
        done_note: What to tell the user had nevertheless been done when stdout
            failed (e.g. where the outputs were written).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.error: OSError | None = None
        self.done_note = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _fail(self, exc: OSError) -> None:
        if self.error is None:
            self.error = exc
        try:  # later writes, and the interpreter's last flush, go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text: str) -> int:
        """Write ``text``; after a failure, drop it."""
        if self.error is not None:
            return len(text)
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._fail(exc)
            return len(text)

    def flush(self) -> None:
        """Flush; a failure is remembered, not raised."""
        if self.error is not None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            self._fail(exc)

    def isatty(self) -> bool:
        """Whether the real stream is a terminal."""
        try:
            return bool(self._stream.isatty())
        except (OSError, ValueError):
            return False

    def failure(self) -> str | None:
        """A one-line message when stdout lost data, None when all is well.

        A broken pipe (the reader left) is not a failure.
        """
        self.flush()
        if self.error is None or self.error.errno == errno.EPIPE:
            return None
        reason = self.error.strerror or str(self.error)
        note = f"; {self.done_note}" if self.done_note else ""
        return f"cannot write to standard output: {reason}{note}"


def target_problem(path: Path, *, folder: bool) -> tuple[int, str] | None:
    """Why an output cannot be written at ``path``, before any work is done.

    Args:
        path: The output folder (``folder=True``) or file to be written.
        folder: Whether ``path`` is to be a folder.

    Returns:
        ``(exit status, one-line reason)``: 2 when the path itself is wrong (a
        folder where a file is wanted, a file blocking a folder on the way), 1 when
        the file system refuses (no permission, read-only); None when it looks fine.
        A later failure while writing is still reported, with status 1.
    """
    shown = printable(path)
    if not folder and path.is_dir():
        return 2, f"{shown}: is a folder; give a file name"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        return 2, f"{shown}: {printable(ancestor)} is a file, not a folder; choose another path"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return 1, f"{shown}: cannot write in {printable(ancestor)}: permission denied"
    try:  # the real test (a read-only file system, /proc): make and remove a probe
        probe = tempfile.mkdtemp(prefix=f".{path.name}.probe-", dir=ancestor)
        os.rmdir(probe)
    except OSError as exc:
        return 1, f"{shown}: cannot write in {printable(ancestor)}: {exc.strerror or exc}"
    return None
