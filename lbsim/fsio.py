"""Output files on disk.

Atomic writes with one file mode, a lock per output folder, and the leftovers of
killed runs.

Theory of operation:
    Every output of lbsim is written *atomically*: into a hidden temporary sibling
    first, renamed into place only when complete. :func:`write_text_atomic` does so
    for single files. ``tempfile.mkstemp`` creates its file with mode 0600, so the
    file is given the mode an ordinary ``open()`` would have given it (0666 less
    the umask, 0644 usually) before the rename: every output shares one mode.

    Two lbsim processes writing one output folder would silently replace each
    other's results (or both redo a sweep's remaining runs). :class:`FolderLock`
    takes an exclusive ``flock`` on a hidden sibling file ``.NAME.lock`` for as
    long as a command writes ``NAME``; a second process is refused at once with a
    message naming the holder's process id. The kernel releases the lock when its
    holder dies, even by SIGKILL, so a stale lock file never blocks anyone.

    A killed run can leave hidden siblings behind (``.NAME.tmp-*`` staging
    folders, ``.NAME.pcap-*`` capture spools, ``.NAME.old-*`` replaced folders).
    Whoever holds the lock knows no other lbsim process is writing them, so
    :func:`remove_leftovers` deletes them and returns their names for a note.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["FolderBusyError", "FolderLock", "file_mode", "remove_leftovers", "write_text_atomic"]


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_text_atomic(text: str, path: Path, *, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` through a hidden temporary sibling and a rename.

    Args:
        text: The content.
        path: The destination; its folder must exist.
        newline: As for :func:`open` (``""`` writes ``text`` unchanged).

    Returns:
        ``path``.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, file_mode())
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


class FolderBusyError(RuntimeError):
    """Another process holds the lock of an output folder."""


class FolderLock:
    """An exclusive lock on output folder ``folder`` (a context manager).

    Args:
        folder: The output folder (it need not exist yet); its parent is created.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder.parent / f".{self.folder.name}.lock"
        self._handle: int | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            FolderBusyError: If another process holds it.
        """
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            raise FolderBusyError(
                f"{self.folder}: another lbsim process (pid {holder}) is writing into it; "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        self._handle = handle

    def release(self) -> None:
        """Drop the lock and remove the lock file."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._handle)
        self._handle = None

    def __enter__(self) -> FolderLock:
        if self._handle is None:
            self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


_LEFTOVER_TAGS = ("tmp", "old", "pcap")


def remove_leftovers(folder: Path) -> list[str]:
    """Delete the hidden siblings killed runs left next to ``folder``.

    Call it only while holding the folder's :class:`FolderLock`.

    Args:
        folder: The output folder.

    Returns:
        The names removed.
    """
    parent = Path(folder).parent
    if not parent.is_dir():
        return []
    prefixes = tuple(f".{Path(folder).name}.{tag}-" for tag in _LEFTOVER_TAGS)
    removed = []
    for entry in sorted(parent.iterdir()):
        if entry.name.startswith(prefixes):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed
