"""A run's recipe: what it is made of changes it, where it runs does not."""

import dataclasses
import shutil

from imbal_pipeline.cli.unchanged import PACKAGE, code_digest, run_recipe
from imbal_pipeline.core.settings import Settings


def _settings(tmp_path, **values) -> Settings:
    data = tmp_path / "data.csv"
    if not data.exists():
        data.write_text("x,y\n1,0\n2,1\n")
    return Settings(data_path=str(data), target="y", output_dir=str(tmp_path / "out"), **values)


def test_the_recipe_changes_with_the_datas_bytes_and_with_a_setting(tmp_path):
    s = _settings(tmp_path)
    first = run_recipe(s, code="c")
    assert run_recipe(s, code="c") == first
    assert run_recipe(dataclasses.replace(s, objective="cost"), code="c") != first
    assert run_recipe(dataclasses.replace(s, n_estimators=301), code="c") != first
    assert run_recipe(s, code="other code") != first
    (tmp_path / "data.csv").write_text("x,y\n1,0\n3,1\n")  # same name, one value changed
    assert run_recipe(s, code="c") != first


def test_the_recipe_changes_with_the_contract_files_bytes(tmp_path):
    contract = tmp_path / "contract.json"
    contract.write_text('{"expectations": []}')
    s = _settings(tmp_path, contract_path=str(contract))
    first = run_recipe(s, code="c")
    contract.write_text('{"expectations": [ ]}')
    assert run_recipe(s, code="c") != first


def test_where_steps_run_is_not_part_of_the_recipe_but_where_results_go_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default inbox and scores folders are relative to it
    s = _settings(tmp_path)
    first = run_recipe(s, code="c")
    elsewhere = dataclasses.replace(s, executor="dask", dask_address="tcp://127.0.0.1:8786")
    assert run_recipe(elsewhere, code="c") == first
    assert run_recipe(dataclasses.replace(s, output_dir=str(tmp_path / "b")), code="c") != first
    # A relative path is the folder it names, from the folder it is relative to.
    assert run_recipe(dataclasses.replace(s, output_dir="out"), code="c") == first


def test_the_code_digest_reads_every_source_file(tmp_path):
    copy = tmp_path / "imbal_pipeline"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first = code_digest(copy)
    assert code_digest(copy) == first and len(first) == 64
    deep = copy / "core" / "train" / "threshold.py"
    deep.write_text(deep.read_text() + "\n# a comment is a change too\n")
    second = code_digest(copy)
    assert second != first
    template = copy / "core" / "report" / "templates" / "page.html.j2"
    template.write_text(template.read_text().replace("<main>", "<main class='x'>"))
    assert code_digest(copy) != second  # the report's templates are code too
