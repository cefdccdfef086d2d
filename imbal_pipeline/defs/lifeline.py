"""Step processes end with the run's orchestrator, even when it is killed with SIGKILL (Linux).

The multiprocess executor forks every step from a forkserver that the orchestrator (the CLI,
or a run worker) started. The forkserver exits when its parent does, but the steps it forked
would go on writing, orphaned. Installed in every process that imports the code location, the
forkserver included, this asks the kernel to kill each forked step when its parent goes.
"""

import ctypes
import multiprocessing.util
import os
import signal
import sys
from types import FrameType

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent went before the request was in place
        os._exit(1)


class _Token:
    """multiprocessing keeps after-fork hooks only while their object lives."""


_TOKEN = _Token()


def _in_forkserver() -> bool:
    """Whether this import runs inside multiprocessing's forkserver, preloading modules."""
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith("forkserver.py"):
            return True
        frame = frame.f_back
    return False


def install() -> None:
    """Tie the forkserver, and every process multiprocessing starts, to their parent's life.

    The forkserver itself must go too: it would exit when its parent does, but the libraries
    it preloads keep threads that hold its interpreter's shutdown open.
    """
    if _in_forkserver():
        _die_with_parent()
    multiprocessing.util.register_after_fork(_TOKEN, lambda _: _die_with_parent())
