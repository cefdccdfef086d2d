"""The UI's side of CLI runs, through the webserver's GraphQL API (the calls the UI makes).

One `dagster dev` (webserver and daemon) serves a project folder whose imbal_pipeline.yaml asks
for 3 folds; the CLI runs in the same folder. No environment variable but DAGSTER_HOME is set.
"""

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import CLI

from imbal_pipeline.cli.launch import write_workspace
from imbal_pipeline.core.data.synthetic import make_fraud_data

pytestmark = pytest.mark.slow
FAULTS = Path(__file__).parent / "faults"
ARGS = ["--folds", "3", "--trees", "40", "--strategies", "none,class_weight"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UI:
    """A running `dagster dev` and the project folder it serves."""

    def __init__(self, folder: Path, home: Path, port: int):
        self.folder, self.home, self.url = folder, home, f"http://127.0.0.1:{port}/graphql"

    def query(self, text: str, **variables) -> dict:
        reply = requests.post(self.url, json={"query": text, "variables": variables}, timeout=60)
        reply.raise_for_status()
        body = reply.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait(self, run_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.query(RUN, id=run_id)["runOrError"]
            if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return run
            time.sleep(2)
        raise AssertionError(f"run {run_id} did not end within {timeout} s")

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, *args],
            cwd=self.folder,
            env={**os.environ, "DAGSTER_HOME": str(self.home), **env},
            capture_output=True,
            text=True,
            timeout=900,
        )


RUN = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
  runId status parentRunId stepKeysToExecute
  assetMaterializations { assetKey { path } } } } }"""
REEXECUTE = """mutation($p: ReexecutionParams) { launchPipelineReexecution(reexecutionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
ASSETS = """{ assetNodes { assetKey { path } isObservable isPartitioned } }"""
MATERIALIZATION = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 1) { runId tags { key value } metadataEntries {
  label ... on TextMetadataEntry { text } } } } } }"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    folder = tmp_path_factory.mktemp("project")
    home = folder / "home"
    make_fraud_data(3000, 0.04, seed=7).to_csv(folder / "data.csv", index=False)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    init = subprocess.run(
        [*CLI, "init", "--data", "data.csv", "--target", "is_fraud", *ARGS],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster")),
            *("dev", "-w", str(write_workspace(home, folder)), "-p", str(port)),
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    session = UI(folder, home, port)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if session.query(ASSETS)["assetNodes"]:
                break
        except (requests.ConnectionError, requests.HTTPError, AssertionError):
            time.sleep(1)
    else:
        server.kill()
        pytest.fail("dagster dev did not serve the code location within 180 s")
    yield session
    os.killpg(server.pid, 15)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # dagster dev drains its daemon's runs before it exits, which can take a minute; the
        # tests are over, and a teardown is no place to wait for it or to fail a passed test.
        os.killpg(server.pid, 9)
        server.wait(timeout=60)


def test_the_ui_builds_the_projects_graph_with_no_environment_variable(ui):
    keys = {"/".join(a["assetKey"]["path"]) for a in ui.query(ASSETS)["assetNodes"]}
    assert {f"fold_{k}_models" for k in range(3)} <= keys and "fold_3_models" not in keys


def test_the_ui_reexecutes_a_failed_cli_run_from_failure(ui):
    failed = ui.cli("run", IMBAL_TEST_FAULT_FOLD="1", PYTHONPATH=str(FAULTS))
    assert failed.returncode == 1
    # Not an input error: the last line ends with the command that reruns what failed.
    run_id = re.search(r"imbal-pipeline rerun (\S+)$", failed.stderr.strip())[1]
    launched = ui.query(REEXECUTE, p={"parentRunId": run_id, "strategy": "FROM_FAILURE"})
    reply = launched["launchPipelineReexecution"]
    assert reply["__typename"] == "LaunchRunSuccess", reply
    run = ui.wait(reply["run"]["runId"])
    assert run["status"] == "SUCCESS" and run["parentRunId"] == run_id
    assert "fold_1_models" in run["stepKeysToExecute"]
    assert "raw_data" not in run["stepKeysToExecute"]  # loaded from the failed run's outputs


def test_materialize_all_trains_on_the_project_data_and_records_the_file_it_read(ui):
    data = ui.folder / "data.csv"
    make_fraud_data(3000, 0.04, seed=8).to_csv(data, index=False)  # new content, not observed
    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:16]
    # "Materialize all" of the training graph: every asset but the per-batch ones, which the
    # inbox sensor materializes one partition (batch) at a time.
    nodes = ui.query(ASSETS)["assetNodes"]
    keys = [a["assetKey"] for a in nodes if not a["isObservable"] and not a["isPartitioned"]]
    assert len(keys) < len(nodes) - 1  # the per-batch assets are in the code location
    selector = {
        "repositoryLocationName": "imbal_pipeline",
        "repositoryName": "__repository__",
        "pipelineName": "__ASSET_JOB",
        "assetSelection": keys,
    }
    launched = ui.query(LAUNCH, p={"selector": selector, "runConfigData": {}, "mode": "default"})
    reply = launched["launchPipelineExecution"]
    assert reply["__typename"] == "LaunchRunSuccess", reply
    run = ui.wait(reply["run"]["runId"])
    assert run["status"] == "SUCCESS"
    raw = ui.query(MATERIALIZATION, key={"path": ["raw_data"]})["assetOrError"]
    [materialization] = raw["assetMaterializations"]
    tags = {t["key"]: t["value"] for t in materialization["tags"]}
    metadata = {m["label"]: m.get("text") for m in materialization["metadataEntries"]}
    assert materialization["runId"] == run["runId"]
    assert metadata["source"] == str(data)
    assert tags["dagster/input_data_version/raw_file"] == digest


SCORED = """{ assetOrError(assetKey: {path: ["scored_batch"]}) { ... on Asset {
  assetMaterializations(limit: 5) { runId partition tags { key value }
  metadataEntries { label ... on TextMetadataEntry { text } } } } } }"""


def test_a_file_dropped_into_the_inbox_is_scored_by_the_daemon_with_the_deployed_model(ui):
    inbox = ui.folder / "imbal_inbox"
    inbox.mkdir(exist_ok=True)
    make_fraud_data(1000, 0.04, seed=9).drop(columns="is_fraud").to_csv(
        inbox / "friday.csv", index=False
    )
    deadline = time.monotonic() + 240  # the sensor looks every 30 s; then the run
    found = []
    while time.monotonic() < deadline and not found:
        time.sleep(5)
        found = ui.query(SCORED)["assetOrError"].get("assetMaterializations") or []
    assert found, "the inbox sensor did not score the new file within 240 s"
    [scored] = found
    assert scored["partition"].startswith("friday_")
    assert ui.wait(scored["runId"])["status"] == "SUCCESS"
    tags = {t["key"]: t["value"] for t in scored["tags"]}
    metadata = {m["label"]: m.get("text") for m in scored["metadataEntries"]}
    deployed = ui.query(MATERIALIZATION, key={"path": ["deployed_model"]})["assetOrError"]
    [model] = deployed["assetMaterializations"]
    version = {t["key"]: t["value"] for t in model["tags"]}["dagster/data_version"]
    assert tags["dagster/input_data_version/deployed_model"] == version
    assert metadata["model_version"] == version
