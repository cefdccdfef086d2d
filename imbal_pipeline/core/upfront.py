"""Before a run starts: do the settings that name the data's columns and classes fit the file?

`imbal-pipeline run` records a run's settings in the project file when the run starts; a run
refused here starts nothing and writes nothing, so a target the file lacks, or a
--positive-label that is no class of it, is never saved for the next plain `run` to fail on.
The file is read as the raw_data step reads it and checked by the step's own code, so the
refusal is the step's, word for word: also a file that is empty, has no rows or cannot be parsed.
Only an error of the machine while reading (an OSError with an errno: a flaky mount or disk) is
left to the step, since the file may read whole when the run does.
"""

from __future__ import annotations

from imbal_pipeline.core import inputs
from imbal_pipeline.core.data import data
from imbal_pipeline.core.settings import Settings


def settings_problem(s: Settings) -> str | None:
    """What the raw_data step would refuse of the settings on the data file, or None: a file
    (or --test-data file) that is empty, has no rows or cannot be parsed as the settings read
    it, a column
    named by --drop, --target, --group, --id, --subgroup or --categorical that the file lacks,
    an --id that repeats, a --subgroup of too many text values, or a target whose labels give
    no binary label (a missing label, a --positive-label that is no class, more than two
    classes, 50:50, a majority positive class, one class)."""
    # A missing file, a folder or a named pipe (whose read would block) is said elsewhere.
    if s.data_path is None or data.file_problem(s.data_path, "data file") is not None:
        return None
    try:
        frame = data.read_table(s.data_path, s.read_options)
        if s.test_data_path and data.file_problem(s.test_data_path, "holdout file") is None:
            data.read_table(s.test_data_path, s.read_options)  # read as the step reads it
    except data.DataError as exc:
        if isinstance(exc.__cause__, OSError) and exc.__cause__.errno is not None:
            return None  # the system failed to read the bytes, not the file's content
        return str(exc)
    try:
        kept = inputs.drop_columns(frame, s, "data")
        data.check_frame(kept, s)
        inputs.check_subgroups(kept, s)
        data.feature_schema(kept, s)
    except data.DataError as exc:
        return str(exc)
    return None
