"""A run's progress on the console: one line per finished step, a bar and the time left."""

import contextlib
import sys
import threading
import time


def _elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


SIZE_TAG = "imbal/cells"  # a run's data size, rows x columns, to find runs of its size
# A run's pace predicts another's only on data of about its size: a 1,500-row run is not a
# 50k-row run with fewer steps done (it once said "2 min 23 s left" and ended in 24 s).
SIMILAR_SIZE = 1.5


def similar_size(tags: dict, cells: int | None) -> bool:
    """Whether a run with `tags` read data within SIMILAR_SIZE times `cells` either way."""
    theirs = tags.get(SIZE_TAG)
    if cells is None or theirs is None or not theirs.isdigit() or int(theirs) <= 0 or cells <= 0:
        return False
    return max(int(theirs), cells) / min(int(theirs), cells) <= SIMILAR_SIZE


def last_pace(instance, job_name: str, total: int, cells: int | None) -> list[float] | None:
    """When each step of the job's last successful run of `total` steps on data of a similar
    size (`cells`, rows x columns) ended, in seconds from that run's start, in order; None
    without such a run (a rerun runs fewer steps; a run of another size another pace)."""
    import dagster as dg

    runs = instance.get_run_records(
        dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=20
    )
    for record in runs:
        if not similar_size(record.dagster_run.tags, cells):
            continue
        stats = instance.get_run_step_stats(record.dagster_run.run_id)
        ends = sorted(s.end_time for s in stats if s.end_time is not None)
        if len(ends) == total and record.start_time is not None:
            return [end - record.start_time for end in ends]
    return None


def time_left(pace: list[float] | None, done: int, elapsed: float) -> float | None:
    """Seconds this run still needs: what the last run took after its `done`-th step, scaled by
    how this run compares with it so far. The comparison counts in proportion to the share of
    the last run it covers, so the first steps (mostly start-up) do not swing the estimate."""
    if not pace or not 0 < done < len(pace) or pace[done - 1] <= 0:
        return None
    covered = pace[done - 1] / pace[-1]
    speed = 1.0 + (elapsed / pace[done - 1] - 1.0) * covered
    return (pace[-1] - pace[done - 1]) * speed


BAR_WIDTH = 24
CLEAR_LINE = "\r\x1b[K"  # back to the line's start and erase it


def _timing(elapsed: float, left: float | None, sep: str) -> str:
    """The time so far ("12 s"), then `sep` and "about 1 min 05 s left" when a second or more
    is left."""
    return _elapsed(elapsed) + (f"{sep}about {_elapsed(left)} left" if left and left >= 1 else "")


def _bar(done: int, total: int, elapsed: float, left: float | None) -> str:
    """The status line a terminal shows under the step lines: "[######......] 8/31, 12 s"."""
    filled = BAR_WIDTH * done // max(total, 1)
    bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
    return f"{bar} {done}/{total}, {_timing(elapsed, left, ', ')}"


@contextlib.contextmanager
def progress(
    instance, run_id: str, total: int, stream=None, poll: float = 1.0, pace=None, bar: bool = True
):
    """While the block runs, one line per finished step: "[ 3/29] holdout_split done (14 s)",
    with "; about 1 min 05 s left" when `pace` (`last_pace`) says how the last run went. On a
    terminal a bar under those lines counts the seconds too, and is erased at the end; a log
    file or a pipe gets the step lines alone, and so does a terminal given `bar=False` (where
    Dagster's own log lines, with --verbose, would land on the bar).

    Steps run in other processes, so the lines are read from the run's event log, which every
    executor writes; a failed step is printed as it happens and counts as finished.
    """
    import dagster as dg

    stream = stream or sys.stderr
    on_terminal = bar and getattr(stream, "isatty", lambda: False)()
    kinds = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    start, stop, finished = time.monotonic(), threading.Event(), []
    width = len(str(total))

    def write(text: str) -> None:
        stream.write(CLEAR_LINE + text if on_terminal else text)
        stream.flush()

    def drain(cursor):
        connection = instance.get_records_for_run(run_id, cursor=cursor, of_type=kinds)
        for record in connection.records:
            event = record.event_log_entry.dagster_event
            finished.append(event.step_key)
            word = "done" if event.event_type == dg.DagsterEventType.STEP_SUCCESS else "FAILED"
            elapsed = time.monotonic() - start
            left = time_left(pace, len(finished), elapsed)
            when = _timing(elapsed, left, "; ")
            write(f"[{len(finished):>{width}}/{total}] {event.step_key} {word} ({when})\n")
        return connection.cursor

    def watch():
        cursor = None
        while True:
            last = stop.wait(poll)
            try:
                cursor = drain(cursor)
            except Exception:  # a busy event log costs a progress line, never the run
                if last:
                    break
                continue
            if last:
                break
            if on_terminal:
                elapsed = time.monotonic() - start
                left = time_left(pace, len(finished), elapsed)
                write(_bar(len(finished), total, elapsed, left))
        if on_terminal:
            write("")  # the bar goes; the summary follows on a clean line

    thread = threading.Thread(target=watch, name="imbal-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
