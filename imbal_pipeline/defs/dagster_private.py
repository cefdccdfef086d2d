"""The private Dagster names this code location uses, in one place, each with why.

Dagster has no public way to create a run that carries its code-location origin and execute it
in this process: `dagster.execute_job` records a run without one, which the UI cannot
re-execute (see `launch.py`). Nor has it a public cron check. These names live under
`dagster._...` and may move in any release; `tests/test_packaging.py` imports each one, so an
upgrade that drops or moves one fails there by name, not in the middle of a user's run.
"""

# The repository a `Definitions` object forms: how the webserver and daemon name it.
from dagster._core.definitions.repository_definition.valid_definitions import (
    SINGLETON_REPOSITORY_NAME,
)

# Create and run a run in this process, and plan a re-execution from failure: what the UI's
# "re-execute" does, which `execute_job(reexecution_options=...)` does without the origin.
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.execution.plan.state import KnownExecutionState

# The origin the webserver and daemon know a job by: a code location, its repository, the job.
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)

# The tags by which Dagster groups a run with its re-executions (the UI's run groups), and the
# tag a partitioned run carries (a batch's run, which the `pipeline` resource lets through).
from dagster._core.storage.tags import (
    PARENT_RUN_ID_TAG,
    PARTITION_NAME_TAG,
    RESUME_RETRY_TAG,
    ROOT_RUN_ID_TAG,
)

# The module, folder and interpreter a code location is loaded from (part of its origin).
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

# The job a stored run was started with, rebuilt from its recorded origin.
from dagster._utils.hosted_user_process import recon_job_from_origin

# Dagster's own check of a schedule's cron string (ScheduleDefinition applies it when built).
from dagster._utils.schedules import is_valid_cron_string

__all__ = [
    "PARENT_RUN_ID_TAG",
    "PARTITION_NAME_TAG",
    "RESUME_RETRY_TAG",
    "ROOT_RUN_ID_TAG",
    "SINGLETON_REPOSITORY_NAME",
    "KnownExecutionState",
    "LoadableTargetOrigin",
    "ManagedGrpcPythonEnvCodeLocationOrigin",
    "RemoteJobOrigin",
    "RemoteRepositoryOrigin",
    "create_execution_plan",
    "execute_run",
    "is_valid_cron_string",
    "recon_job_from_origin",
]
