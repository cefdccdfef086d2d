"""A team deployment as a newcomer meets it: PostgreSQL's password or server missing is one
line naming it, and the Dask workers can size every value the project hands them."""

import socket

import pytest

from imbal_pipeline import cli

PG_YAML = """\
storage:
  postgres:
    postgres_db:
      hostname: 127.0.0.1
      port: {port}
      username: dagster
      password: {password}
      db_name: dagster
      scheme: postgresql+psycopg2
telemetry:
  enabled: false
"""

# Every command that opens the instance (`init` and `score` do not).
COMMANDS = [
    ["run"],
    ["versions", "raw_data"],
    ["show", "evaluation_report"],
    ["rerun", "0f0f0f0f-0000-0000-0000-000000000000"],
    ["promote", "3f9c0a1b2c3d4e5f"],
    ["rollback"],
    ["ui"],
]


def _home(tmp_path, monkeypatch, password: str, port: int = 5432):
    """A project folder whose Dagster home's dagster.yaml names PostgreSQL."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(PG_YAML.format(port=port, password=password))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err and "DagsterInvalidConfigError" not in captured.err
    return captured.err


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_a_missing_postgres_password_is_one_line_naming_the_variable(
    argv, tmp_path, monkeypatch, capsys
):
    pytest.importorskip("dagster_postgres")
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)
    home = _home(tmp_path, monkeypatch, "{env: DAGSTER_PG_PASSWORD}")
    assert cli.main(argv) == 2
    line = _one_line(capsys)
    assert "DAGSTER_PG_PASSWORD is not set" in line
    assert str(home / "dagster.yaml") in line and "export DAGSTER_PG_PASSWORD=" in line


def test_a_dagster_yaml_dagster_cannot_read_is_one_line_naming_the_fault(
    tmp_path, monkeypatch, capsys
):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nbogus_key: 1\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["versions", "raw_data"]) == 2
    line = _one_line(capsys)
    assert line.endswith(
        f"{home / 'dagster.yaml'} is not a valid Dagster instance configuration (Received "
        'unexpected config entry "bogus_key" at the root); fix the file\n'
    )


def _closed_port() -> int:
    """A localhost port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_postgres_server_is_one_line_naming_it(
    tmp_path, monkeypatch, capsys, caplog
):
    pytest.importorskip("dagster_postgres")
    port = _closed_port()
    _home(tmp_path, monkeypatch, "secret", port=port)
    assert cli.main(["versions", "raw_data"]) == 2
    line = _one_line(capsys)
    assert "cannot reach the PostgreSQL server" in line and f"port {port}" in line
    assert "start it" in line and "Connection refused" in line
    # Not a dump per connection retry before it.
    assert not [r for r in caplog.records if "Retrying" in r.getMessage()]


def test_dask_sizes_every_event_a_step_returns_without_a_warning(tmp_path, caplog):
    """A step on a Dask worker returns its Dagster events and the worker sizes them: each kind
    (observation, materialization, check, input and output, a failure) is sized silently."""
    pytest.importorskip("dagster_dask")
    import dagster as dg
    from conftest import graph, training_assets
    from distributed.sizeof import safe_sizeof

    # Nothing of ours imported first: Dask registers the sizes itself (the entry point), as a
    # worker must before it receives an upstream step's result.
    defs = graph(tmp_path, generated_rows=600)
    broken = graph(tmp_path / "broken", generated_rows=600, target="no_such_column")
    events = []
    with dg.instance_for_test() as instance:
        for project in (defs, broken):
            result = dg.materialize(
                training_assets(project)[:4],
                instance=instance,
                resources=project.resources,
                raise_on_error=False,
            )
            events += result.all_events
    kinds = {e.event_type_value for e in events}
    assert {"ASSET_OBSERVATION", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"} <= kinds
    assert {"STEP_INPUT", "STEP_OUTPUT", "HANDLED_OUTPUT", "STEP_FAILURE"} <= kinds
    caplog.clear()
    with caplog.at_level("DEBUG", logger="distributed.sizeof"):
        sizes = [safe_sizeof(e) for e in events] + [safe_sizeof(events)]
    assert not caplog.records, caplog.records[0].getMessage()
    assert all(0 < size < 1_000_000 for size in sizes)
