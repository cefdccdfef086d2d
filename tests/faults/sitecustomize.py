"""Fault injection for tests that run the CLI in a child process; never on the product's path.

With this folder on PYTHONPATH:
- IMBAL_TEST_FAULT_FOLD=k makes fitting fold k's models (fold_k_models) fail;
- IMBAL_TEST_STALL_FILE=path makes fitting fold 0's models (fold_0_models) write that file and
  then hang, so a test can kill the run at a known point with a step busy;
- IMBAL_TEST_KILL_RAW=1 makes the raw_data step's process kill itself with SIGKILL, as the
  operating system does when memory runs out.
Python imports sitecustomize at start-up, in the CLI and in the forkserver its steps are
forked from, so every step process sees the patch.
"""

import os
import time
from pathlib import Path

FOLD = os.environ.get("IMBAL_TEST_FAULT_FOLD")
STALL = os.environ.get("IMBAL_TEST_STALL_FILE")

if FOLD is not None or STALL is not None:
    from imbal_pipeline.core.train import training

    _fit_fold_models = training.fit_fold_models

    def _faulty(sets, settings, rungs=None):
        # Only the step fitting `none` (fold_<k>_models), not the SMOTE family's.
        if rungs is not None and "none" not in rungs:
            return _fit_fold_models(sets, settings, rungs)
        if FOLD is not None and str(sets.fold) == FOLD:
            raise ValueError(f"injected fault in fold {FOLD} (tests only)")
        if STALL is not None and sets.fold == 0 and not Path(STALL).exists():
            Path(STALL).write_text(str(os.getpid()))
            time.sleep(600)
        return _fit_fold_models(sets, settings, rungs)

    training.fit_fold_models = _faulty

if os.environ.get("IMBAL_TEST_KILL_RAW"):
    import signal

    from imbal_pipeline.core import inputs

    def _killed(settings, *read):
        os.kill(os.getpid(), signal.SIGKILL)

    inputs.load_raw = _killed
