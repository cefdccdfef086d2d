"""`versions deployed_model` and `show --version`: every model the store holds, what it is, the
run that trained it and, apart, the runs that only kept it in service."""

import pytest

from imbal_pipeline.cli import commands as cli
from imbal_pipeline.core.monitor import promotion
from imbal_pipeline.core.project import PROJECT_ENV, save_project
from imbal_pipeline.core.settings import Settings
from imbal_pipeline.store import model_history
from imbal_pipeline.store.champion import DEPLOYED, Champions, enact
from imbal_pipeline.store.storage import AssetStore, content_hash

DEMO = {"data": "generated fraud-like data", "target": "is_fraud"}
THYROID = {"data": "thyroid_sick.csv", "target": "target"}


def _model(n: int, target: str) -> dict:
    return {"meta": {"n": n, "target": target}}


def _run(store, champions, run: str, n: int, source: dict, evidence) -> str:
    """What a run's deployed_model step does: enact its challenger, then the IO manager
    writes the champion after the decision under the run's id."""
    value = _model(n, source["target"])
    version = content_hash(value)
    done = enact(champions, value, evidence(version), run, exported=True, source=source)
    store.write(DEPLOYED, store.load(DEPLOYED, done.champion), done.champion, "passed", run)
    return version


@pytest.fixture
def history(tmp_path):
    """The new user's store: the demo's model first, two thyroid runs whose models were not
    promoted (each kept the demo's model in service), a third never promoted."""
    store = AssetStore(tmp_path / "storage")
    champions = Champions(store)
    demo = _run(store, champions, "run-demo", 1, DEMO, promotion.first)

    def not_promoted(why):
        return lambda v: promotion.kept(v, demo, why, promotion.UNDECIDED)

    thyroid = _run(store, champions, "run-thyroid", 2, THYROID, not_promoted("too few positives"))
    other = _run(store, champions, "run-thyroid-2", 3, THYROID, not_promoted("worse"))
    waiting = _run(store, champions, "run-bank", 4, THYROID, not_promoted("undecided"))
    return store, champions, demo, thyroid, other, waiting


def _by_version(champions) -> dict:
    return {m.version: m for m in model_history.model_versions(champions)}


def test_a_model_is_named_with_the_run_that_trained_it_not_the_runs_that_kept_it(history):
    _, champions, demo, thyroid, _, _ = history
    models = _by_version(champions)
    assert len(models) == 4  # every version the store holds, the ones not promoted too
    kept = models[demo]
    assert kept.status == model_history.IN_SERVICE
    assert kept.trained.run_id == "run-demo" and kept.trained.data == DEMO["data"]
    assert kept.kept_by == ("run-thyroid", "run-thyroid-2", "run-bank")
    line = kept.line()
    assert "trained by run run-demo at " in line and "on generated fraud-like data" in line
    assert ", target is_fraud; kept in service by run run-thyroid, run-thyroid-2, run-bank" in line
    assert "promoted by run run-demo as the first champion" in line
    waiting = models[thyroid]
    assert waiting.status == model_history.NOT_PROMOTED and waiting.kept_by == ()
    assert waiting.line().startswith(f"{thyroid}  challenger not promoted (too few positives; ")
    assert "trained by run run-thyroid at " in waiting.line()
    assert " on thyroid_sick.csv, target target" in waiting.line()


def test_a_run_that_trained_the_same_model_again_is_named_apart(history):
    store, champions, demo, thyroid, _, _ = history
    _run(store, champions, "run-demo-2", 1, DEMO, promotion.same)  # the demo's model again
    _run(store, champions, "run-thyroid-3", 2, THYROID, lambda v: promotion.kept(v, demo, "no"))
    models = _by_version(champions)
    assert models[demo].again_by == ("run-demo-2",) and "run-demo-2" not in models[demo].kept_by
    assert models[demo].kept_by == ("run-thyroid", "run-thyroid-2", "run-bank", "run-thyroid-3")
    line = models[demo].line()
    assert "target is_fraud, again by run run-demo-2; kept in service by run " in line
    assert models[thyroid].trained.run_id == "run-thyroid"
    assert models[thyroid].again_by == ("run-thyroid-3",)
    assert models[thyroid].detail.startswith("no; ")  # the newest comparison's reason


def test_promotions_by_hand_and_rollbacks_say_so_with_the_reason_and_the_date(history):
    _, champions, demo, thyroid, other, _ = history
    champions.promote(thyroid, "", "imbal-pipeline promote (alice@vm)")
    champions.promote(other, "catches more", "imbal-pipeline promote (alice@vm)")
    back = champions.rollback("flags too much", "imbal-pipeline rollback (bob@vm)")
    models = _by_version(champions)
    assert models[demo].status == model_history.REPLACED
    assert models[demo].detail.startswith(f"by {thyroid}, promoted by hand, ")
    assert models[other].status == model_history.ROLLED_BACK
    assert models[other].detail.startswith("rolled back by hand (flags too much), 20")
    now = models[thyroid]
    assert now.status == model_history.IN_SERVICE
    assert now.detail == (
        f"back in service by a rollback by hand (flags too much), {back['time']}, "
        "imbal-pipeline rollback (bob@vm)"
    )
    assert "run none" not in now.line() and "code ?" not in now.line()


def test_a_model_stored_before_its_source_was_recorded_names_its_target(tmp_path):
    store = AssetStore(tmp_path / "storage")
    champions = Champions(store)
    value = _model(1, "churned")
    version = content_hash(value)
    store.write(DEPLOYED, value, version, "passed", "run-old")  # no challenger record
    [model] = model_history.model_versions(champions)
    assert (model.status, model.trained.run_id, model.trained.target) == (
        model_history.UNRECORDED,
        "run-old",
        "churned",
    )


@pytest.fixture
def cli_project(history, tmp_path, monkeypatch):
    store = history[0]
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "imbal_pipeline.yaml"))
    save_project(Settings(store=str(store.base)), tmp_path / "imbal_pipeline.yaml")
    return history


def test_versions_lists_every_model_and_show_finds_one_a_run_did_not_promote(cli_project, capsys):
    _, champions, demo, thyroid, other, waiting = cli_project
    assert cli.main(["versions", "deployed_model"]) == 0
    out = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in out[:4]]
    assert listed == [waiting, other, thyroid, demo]  # the newest trained first
    assert out[3].endswith("  [champion]") and "kept in service by run run-thyroid" in out[3]
    assert out[4].startswith(f"champion: {demo} since ")
    assert out[5].startswith(f"waiting: {waiting} from run run-bank")
    assert cli.main(["versions", "deployed_model", "--limit", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(waiting)
    assert cli.main(["show", "deployed_model", "--version", thyroid]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"deployed_model version {thyroid}: challenger not promoted (")
    assert "trained by run run-thyroid at " in first and "another instance" not in first


def test_a_promotion_by_hand_without_a_reason_says_none(cli_project, capsys):
    _, _, demo, thyroid, _, _ = cli_project
    assert cli.main(["promote", thyroid]) == 0
    capsys.readouterr()
    assert cli.main(["versions", "deployed_model"]) == 0
    out = capsys.readouterr().out
    [line] = [ln for ln in out.splitlines() if ln.startswith(thyroid)]
    assert f"{thyroid}  in service (promoted by hand, 20" in line and line.endswith("[champion]")
    assert "run none" not in out and "promoted by hand: " not in out
    assert f"champion: {thyroid} since " in out and "(promote by imbal-pipeline promote (" in out


def test_a_model_recorded_before_its_data_was_names_the_data_its_run_read(cli_project, capsys):
    import dagster as dg

    from imbal_pipeline.cli.runs import ensure_home
    from imbal_pipeline.defs.instance import DATA_TAG, TARGET_TAG

    store, champions, *_ = cli_project
    ensure_home()  # the instance the CLI opens
    value = _model(9, "y")
    version = content_hash(value)
    run_id = "0a1b2c3d-0000-4000-8000-000000000000"
    champions.add_challenger(version, run_id, "passed", {}, value=value)  # no `source`
    with dg.DagsterInstance.get() as instance:
        tags = {DATA_TAG: "/data/old.csv", TARGET_TAG: "y"}
        instance.add_run(dg.DagsterRun(job_name="training", run_id=run_id, tags=tags))
    assert cli.main(["versions", "deployed_model"]) == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(version)]
    assert f"trained by run {run_id} at " in line and " on /data/old.csv, target y" in line


def test_a_model_that_replaced_the_demo_model_says_it_came_without_a_comparison(tmp_path):
    store = AssetStore(tmp_path / "storage")
    champions = Champions(store)
    demo = _run(store, champions, "run-demo", 1, DEMO, promotion.first)
    mine = _run(
        store,
        champions,
        "run-thyroid",
        2,
        THYROID,
        lambda v: promotion.evidence(promotion.REPLACES_DEMO, v, demo, "replacing the demo"),
    )
    models = _by_version(champions)
    assert models[mine].status == model_history.IN_SERVICE
    assert models[mine].detail.startswith(
        "promoted by run run-thyroid in place of the demo model, without a comparison, "
    )
    assert "on its comparison" not in models[demo].detail


def test_a_demo_replacement_that_lost_a_race_is_said_not_promoted_for_the_race():
    # Its run decided to replace the demo model, but the champion changed before it acted.
    challenger = {"gate": "passed", "verdict": promotion.REPLACES_DEMO, "line": "model x promoted"}
    assert model_history._why_not(challenger) == (
        model_history.NOT_PROMOTED,
        "the champion changed after its run compared them",
    )
