"""The `imbal_pipeline` code location: `defs`, built from the project file.

The code location is built from the project file (`imbal_pipeline.yaml` in the working folder),
so the CLI, `dagster dev`, the daemon and every step worker build the same graph. workspace.yaml
and pyproject's [tool.dagster] name this module; `defs/build.py` assembles what it holds.
"""

import dagster as dg

from imbal_pipeline.core.settings import from_values
from imbal_pipeline.defs import lifeline
from imbal_pipeline.defs.build import JOB_NAME, build_definitions

lifeline.install()  # here too in the forkserver, which preloads this module

defs = build_definitions()


def imbal_job() -> dg.JobDefinition:
    """The project's job; a module-level function so child processes can rebuild it."""
    return defs.resolve_job_def(JOB_NAME)


def job_for(**project: object) -> dg.JobDefinition:
    """The job of a project given as values: how a run started by the CLI is rebuilt anywhere.

    A step worker on another machine gets the project with the run, so it builds the graph
    the run was started with whatever project file (if any) it finds where it runs.
    """
    return build_definitions(from_values(project)).resolve_job_def(JOB_NAME)
