"""Real servers for the scale-out tests: a throwaway PostgreSQL cluster and a Dask cluster.

Each is started on free localhost ports and stopped after. Where the packages are missing the
tests skip with a one-line reason; with IMBAL_REQUIRE_SERVERS=1 (set by .ci/run, which installs
them) a missing server fails instead, so CI always runs these tests.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REQUIRE = os.environ.get("IMBAL_REQUIRE_SERVERS") == "1"


def unavailable(reason: str):
    """Skip, or fail where the servers are required."""
    if REQUIRE:
        pytest.fail(f"{reason} (IMBAL_REQUIRE_SERVERS=1)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return found[0].parent if found else None


class Postgres:
    """A PostgreSQL cluster in a temporary folder, trusting local connections."""

    def __init__(self):
        binaries = _postgres_bin()
        if binaries is None:
            unavailable("no PostgreSQL server here (Debian: apt-get install postgresql)")
        self.bin = binaries
        # initdb and postgres refuse to run as root: run them as the postgres user, in a
        # folder that user can reach (pytest's own temporary folders are private to root).
        self.user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="imbal-pg-", dir="/tmp"))
        if self.user:
            shutil.chown(self.folder, self.user)
        self.port = free_port()
        self.data = self.folder / "data"
        self._as_owner(
            self.bin / "initdb", "-D", self.data, "-U", "dagster", "--auth=trust", "-E", "UTF8"
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._as_owner(
            self.bin / "pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            self.folder / "log",
            "-w",
            "start",
        )
        self._as_owner(
            self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "dagster", "dagster"
        )

    def _as_owner(self, *command) -> None:
        command = [str(part) for part in command]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def dagster_yaml(self) -> str:
        """An instance keeping runs, events and schedules in this cluster."""
        # SQLAlchemy 2.x would look for psycopg 3 under plain `postgresql`.
        return (
            "storage:\n  postgres:\n    postgres_db:\n"
            f"      hostname: 127.0.0.1\n      port: {self.port}\n"
            "      username: dagster\n      password: ''\n      db_name: dagster\n"
            "      scheme: postgresql+psycopg2\n"
            "telemetry:\n  enabled: false\n"
        )

    def stop(self) -> None:
        try:
            self._as_owner(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class Dask:
    """A Dask scheduler and `workers` single-threaded workers, as local processes."""

    def __init__(self, workers: int, cwd: Path, env: dict):
        try:
            import dagster_dask  # noqa: F401
            import distributed  # noqa: F401
        except ImportError:
            unavailable("dagster-dask is not installed (pip install 'imbal_pipeline[scale]')")
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        worker = [sys.executable, "-m", "distributed.cli.dask_worker"]
        # Dask places a task beside its dependencies' results and moves it to an idle worker
        # only when it expects the wait to be long; a task of unknown duration counts as 0.5 s
        # by default. Dagster steps take seconds to hours: say so, as the README does.
        env = {**env, "DASK_DISTRIBUTED__SCHEDULER__UNKNOWN_TASK_DURATION": "60s"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        options = {"cwd": cwd, "env": env, **quiet}
        self.processes = [
            subprocess.Popen(
                [*scheduler, "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
                start_new_session=True,
                **options,
            )
        ]
        wait_for_port(self.port)
        # The workers' own log (Dask's warnings), for the tests to read.
        self.logs = [cwd / f"dask-worker-{i}.log" for i in range(workers)]
        for log in self.logs:
            # One task at a time with one thread: threads x concurrent steps <= cores.
            with log.open("w") as sink:  # the worker keeps its own copy of the descriptor
                self.processes.append(
                    subprocess.Popen(
                        [*worker, self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                        start_new_session=True,
                        **{**options, "stderr": sink},
                    )
                )
        self._wait_for_workers(workers)

    def worker_log(self) -> str:
        """What the workers logged so far."""
        return "".join(log.read_text() for log in self.logs)

    @property
    def worker_pids(self) -> set[int]:
        return {p.pid for p in self.processes[1:]}

    def _wait_for_workers(self, count: int, timeout: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(count, timeout=timeout)
            # A real cluster is up long before a run; here, pay the imports before the run.
            client.run(exec, "import great_expectations, imbal_pipeline.definitions")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                # A worker told to stop first tries to hand its work on and reconnect; a
                # throwaway cluster has nothing to keep, so its processes get a few seconds.
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
