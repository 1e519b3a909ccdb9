"""Ctrl-C while the command line loads: held back, then raised where it is handled.

Theory of operation: building the parser imports every sub-command's modules
(pandas, matplotlib, pydantic models), about a second on a warm machine. A
``KeyboardInterrupt`` raised in the middle of an import does not always stay a
``KeyboardInterrupt``: raised inside a class body's ``__set_name__`` hook, CPython
wraps it in a ``RuntimeError``, which would escape as a traceback. So while the
command line loads, SIGINT only records that it came; when loading ends the
previous handler is restored and, if Ctrl-C was pressed, ``KeyboardInterrupt`` is
raised there, in plain code, where :func:`lbsim.cli.main` turns it into
"interrupted" and exit status 130.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["interrupts_held"]


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold SIGINT back for the duration of the block, then raise it if it came.

    Outside the main thread (where handlers cannot be set) the block runs as is.

    Raises:
        KeyboardInterrupt: At the end of the block, if SIGINT arrived during it.
    """
    came: list[int] = []

    def record(signum: int, frame: Any) -> None:
        came.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, record)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if came:
        raise KeyboardInterrupt
