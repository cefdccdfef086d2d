"""A time budget for work whose length a user's input decides (a contract's regexes).

Why two mechanisms: Python's regular-expression engine holds the GIL for the whole match, so a
pattern that backtracks catastrophically cannot be stopped by another thread, and a worker
thread abandoned after a timeout would keep the waiting thread from running at all (measured:
`join(timeout=0.5)` returned after the match's 4 s). pandas runs most patterns with RE2 in
linear time, but falls back to Python's engine for lookarounds and backreferences, so
`(a+)+$(?!x)` on forty a's and a b runs for hours. What does stop it:

- in the main thread (the CLI, every Dagster step process of the in_process and multiprocess
  executors), a SIGALRM timer: the engine checks for signals as it backtracks, so the handler's
  exception ends the match. It costs nothing.
- elsewhere (a Dask worker's thread), or when another timer is armed, a forked child process does
  the work and is killed on expiry. It inherits everything already imported and in memory
  (Great Expectations, the frame), so it costs one fork (about 10 ms), not the ~3 s a fresh
  process would spend importing Great Expectations. `os.fork` rather than `multiprocessing`,
  which refuses to start children from daemonic processes such as Dask's workers.

Where neither exists (Windows, outside the main thread's SIGALRM), the work runs unbudgeted.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class BudgetExceeded(Exception):
    """The work ran past its budget and was stopped."""

    def __init__(self, seconds: float):
        super().__init__(f"stopped after its budget of {seconds:.0f} s")
        self.seconds = seconds


class _Expired(BaseException):
    """Raised by the timer's handler: a BaseException, so that no `except Exception` in the
    work (Great Expectations records an expectation's exception and goes on) swallows it."""


def run_within(seconds: float, work: Callable[[], T]) -> T:
    """`work()`, or BudgetExceeded once it has run `seconds` (see the module's docstring)."""
    if _timer_is_free():
        return _with_timer(seconds, work)
    if hasattr(os, "fork"):
        return _in_child(seconds, work)
    return work()


def _timer_is_free() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        and signal.getsignal(signal.SIGALRM) is not None  # a handler we could not put back
    )


def _with_timer(seconds: float, work: Callable[[], T]) -> T:
    def expire(signum, frame):
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            return work()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:  # also when it fires between the work's end and the timer's reset
        raise BudgetExceeded(seconds) from None
    finally:
        signal.signal(signal.SIGALRM, previous)


def _in_child(seconds: float, work: Callable[[], T]) -> T:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child's first write would repeat what is buffered
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child: do the work, send the outcome, never return into the caller
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(_outcome(work))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        # Readable once the child has written its outcome, or ended without one (end of file).
        if not select.select([pipe], [], [], seconds)[0]:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
            raise BudgetExceeded(seconds)
        payload = pipe.read()
    status = _reap(pid)
    if not payload:
        raise RuntimeError(
            f"the process checking a contract ended without a result (wait status {status})"
        )
    succeeded, value = pickle.loads(payload)  # written by our own child, above
    if succeeded:
        return value
    raise value


def _reap(pid: int) -> int | None:
    """The child's wait status, or None where a SIGCHLD handler of the host reaped it first."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _outcome(work: Callable[[], object]) -> bytes:
    try:
        return pickle.dumps((True, work()))
    except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the parent
        try:
            return pickle.dumps((False, exc))
        except Exception:  # an exception that cannot be pickled goes back as its text
            return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
