"""Where runs execute: in this process, in local processes, or on a Dask cluster.

Theory of operation: an executor takes a list of calls ``(function, argument)``
and yields ``(index, result)`` pairs as the calls finish, in whatever order they
finish. Callers never depend on that order (tables are sorted afterwards), so
the three executors are interchangeable and give identical results:

* :class:`SerialExecutor` runs the calls one after the other in this process
  (``--jobs 1``, the default; no start-up cost, easiest to debug);
* :class:`ProcessExecutor` fans them out over ``jobs`` worker processes of a
  :class:`concurrent.futures.ProcessPoolExecutor` started with the ``spawn``
  method: a fresh interpreter per worker, which inherits no threads, locks or
  open files from the parent (``fork`` would, and the progress display runs a
  thread), and behaves the same on every platform;
* :class:`DaskExecutor` submits them to an existing Dask distributed cluster
  (``--scheduler ADDRESS``). Dask is an optional dependency, imported only here
  and only then. Workers must have lbsim installed; arguments travel pickled.

If a call raises, the executor cancels what has not started and raises
:class:`CallFailed` naming the call's index. Interrupting the consumer (Ctrl-C, or
closing the generator) cancels pending calls as well, and the local process pool
stops its workers at once; calls that had finished but were not yet yielded are
kept for :meth:`salvage`, so the sweep can still record them.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

__all__ = [
    "Call",
    "CallFailed",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "ProcessExecutor",
    "SerialExecutor",
    "open_executor",
]

#: One unit of work: a picklable top-level function and its single argument.
Call = tuple[Callable[[Any], Any], Any]


class ExecutorError(RuntimeError):
    """The executor cannot be set up (Dask missing, scheduler unreachable)."""


class CallFailed(RuntimeError):
    """A call raised; ``index`` says which, ``__cause__`` holds the exception.

    Args:
        index: Position of the call in the submitted list.
        error: What it raised.
    """

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.index = index
        self.error = error


class Executor(Protocol):
    """Runs calls and yields ``(index, result)`` as they finish."""

    #: Short description for messages (``"1 process"``, ``"dask at tcp://..."``).
    description: str

    def run_unordered(self, calls: Sequence[Call]) -> Iterator[tuple[int, Any]]:
        """Run ``calls``; yield each ``(index, result)`` when it is done."""
        ...

    def salvage(self) -> list[tuple[int, Any]]:
        """Calls that finished but were not yielded when the consumer stopped."""
        ...

    def close(self) -> None:
        """Release workers and connections."""
        ...


class SerialExecutor:
    """Runs every call in this process, in order."""

    description = "1 process"

    def run_unordered(self, calls: Sequence[Call]) -> Iterator[tuple[int, Any]]:
        """Run ``calls`` one by one; see :class:`Executor`."""
        for index, (function, argument) in enumerate(calls):
            try:
                result = function(argument)
            except Exception as exc:
                raise CallFailed(index, exc) from exc
            yield index, result

    def salvage(self) -> list[tuple[int, Any]]:
        """Nothing is ever left unyielded: calls run one at a time."""
        return []

    def close(self) -> None:
        """Nothing to release."""


class ProcessExecutor:
    """Runs calls on ``jobs`` local worker processes (``spawn`` start method).

    Args:
        jobs: Number of worker processes (at least 1; fewer are started when there
            are fewer calls).
    """

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self.description = f"{jobs} processes"
        self._salvaged: list[tuple[int, Any]] = []

    def run_unordered(self, calls: Sequence[Call]) -> Iterator[tuple[int, Any]]:
        """Run ``calls`` on the worker processes; see :class:`Executor`."""
        if not calls:
            return
        pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(calls)),
            mp_context=multiprocessing.get_context("spawn"),
        )
        pending: dict[Future[Any], int] = {}
        finished = False
        try:
            for index, (function, argument) in enumerate(calls):
                pending[pool.submit(function, argument)] = index
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    index = pending.pop(future)
                    error = future.exception()
                    if error is not None:
                        raise CallFailed(index, error) from error
                    yield index, future.result()
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # interrupted or failed: keep what finished, stop the rest
                self._salvaged = [
                    (pending[f], f.result())
                    for f in sorted(pending, key=pending.__getitem__)
                    if f.done() and not f.cancelled() and f.exception() is None
                ]
                _stop_now(pool)

    def salvage(self) -> list[tuple[int, Any]]:
        """Calls that finished after the last one yielded, when the consumer stopped.

        Returns:
            ``(index, result)`` pairs; each is handed out once.
        """
        salvaged, self._salvaged = self._salvaged, []
        return salvaged

    def close(self) -> None:
        """Pools are per call of :meth:`run_unordered`; nothing stays open."""


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """Cancel the pool's pending calls and stop its workers now.

    Ctrl-C must not wait for running calls. ``ProcessPoolExecutor`` has no public
    way to stop its workers before Python 3.14 (``terminate_workers``), so its
    process table is used when present.

    Only the pool's own management thread may cancel futures here. Once a worker
    is killed, that thread marks every future it still holds as failed; before
    Python 3.12 it does so without checking whether the future was cancelled
    meanwhile, and a future cancelled from this thread at that moment made it
    raise ``InvalidStateError`` and print a traceback. ``cancel_futures=True``
    asks the management thread to do the cancelling itself, in turn with that.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()


class DaskExecutor:
    """Runs calls on an existing Dask distributed cluster.

    Args:
        address: The scheduler address, e.g. ``tcp://10.0.0.5:8786``.
        timeout: Seconds to wait for the connection.

    Raises:
        ExecutorError: If Dask is not installed or the scheduler cannot be reached.
    """

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError(
                "--scheduler needs Dask, which is not installed: "
                "pip install 'lbsim[dask]' (or dask[distributed])"
            ) from None
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(
                f"cannot connect to the Dask scheduler at {address}: {exc}"
            ) from None
        self.description = f"Dask cluster at {address}"

    def run_unordered(self, calls: Sequence[Call]) -> Iterator[tuple[int, Any]]:
        """Submit ``calls`` to the cluster; see :class:`Executor`."""
        from distributed import as_completed

        if not calls:
            return
        futures = [self.client.submit(f, a, pure=False) for f, a in calls]
        index_of = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures, loop=self.client.loop):
                index = index_of[future.key]
                if future.status == "error":
                    error = future.exception()
                    raise CallFailed(index, error) from error
                yield index, future.result()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def salvage(self) -> list[tuple[int, Any]]:
        """Finished calls are yielded as they complete; nothing to hand out."""
        return []

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        self.client.close()


def open_executor(jobs: int = 1, scheduler: str | None = None) -> Executor:
    """The executor for ``--jobs``/``--scheduler``.

    Args:
        jobs: Local worker processes; 1 runs in this process.
        scheduler: Dask scheduler address; when given, ``jobs`` is ignored.

    Returns:
        A :class:`SerialExecutor`, :class:`ProcessExecutor` or :class:`DaskExecutor`.

    Raises:
        ExecutorError: If the Dask scheduler cannot be used.
        ValueError: If ``jobs`` is below 1.
    """
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)
