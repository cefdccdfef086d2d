"""Why the Dagster instance of a home cannot be opened, in one line with the fix.

Opening an instance whose `dagster.yaml` names PostgreSQL fails in Dagster's words: a
`DagsterInvalidConfigError` that dumps the config objects when the password's environment
variable is not set, a SQLAlchemy `OperationalError` after its retries when the server is not
reachable or refuses the login. Each becomes the variable or the server, and what to do.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

TEAM_SECTION = 'README, "A team deployment"'
_UNSET = re.compile(r'environment variable "(\w+)" which is not set')
_AT_PATH = re.compile(r"at path root:([\w:]+)")


@contextlib.contextmanager
def quiet_retries() -> Iterator[None]:
    """Drop dagster-postgres's warning per connection retry (six multi-line dumps on the root
    logger before it gives up); the one line for the failure says what they would."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying failed database connection")

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _unset_variable(message: str, config: Path) -> str | None:
    found = _UNSET.search(message)
    if found is None:
        return None
    where = _AT_PATH.search(message)
    setting = f" for {where.group(1).replace(':', '.')}" if where else ""
    return (
        f"{found.group(1)} is not set, and {config} reads it{setting}; export "
        f"{found.group(1)}=... (the PostgreSQL role's password, never in the file) and run again"
    )


def _server_said(exc: BaseException) -> str | None:
    """What the PostgreSQL client said (its first line, without its FATAL:), if `exc` is a
    failed connection (psycopg2's OperationalError, possibly wrapped by SQLAlchemy)."""
    chain = [exc]
    while (seen := chain[-1].__cause__ or chain[-1].__context__) is not None and seen not in chain:
        chain.append(seen)
    for error in chain:
        module = type(error).__module__ or ""
        if type(error).__name__ == "OperationalError" and module.split(".")[0] in (
            "psycopg2",
            "sqlalchemy",
        ):
            text = getattr(error, "orig", None) or error
            first = (str(text).strip().splitlines() or [""])[0]
            first = re.sub(r"^\(psycopg2\.\w+\)\s*", "", first)
            return re.sub(r"^FATAL:\s*", "", first).strip()
    return None


def instance_problem(exc: BaseException, home: Path) -> str | None:
    """The one line for an instance in `home` that could not be opened, or None when `exc` is
    none of the failures this module knows."""
    config = home / "dagster.yaml"
    if type(exc).__name__ == "DagsterInvalidConfigError":
        message = str(exc)
        unset = _unset_variable(message, config)
        if unset is not None:
            return unset
        first = next((line.strip() for line in message.splitlines()[1:] if line.strip()), "")
        # Dagster's own line goes on with the whole expected schema or an example: the fault
        # alone, with its path, names what to fix.
        first = re.split(r"\. (?:Expected|You must provide|Example config)", first)[0]
        first = re.sub(r"^Error \d+: ", "", first).rstrip(".")
        return f"{config} is not a valid Dagster instance configuration ({first}); fix the file"
    said = _server_said(exc)
    if said is None:
        return None
    if "authentication failed" in said or ("role" in said and "does not exist" in said):
        return (
            f"the PostgreSQL server that {config} names refused the login ({said}); check "
            f"DAGSTER_PG_PASSWORD and the role ({TEAM_SECTION})"
        )
    if "database" in said and "does not exist" in said:
        return (
            f"the PostgreSQL server that {config} names has no such database ({said}); create "
            f"it ({TEAM_SECTION})"
        )
    return (
        f"cannot reach the PostgreSQL server that {config} names ({said}); start it "
        f"({TEAM_SECTION}) or fix hostname and port there"
    )
