"""A non-editable install (a wheel, a Docker image) carries its data contracts and runs."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_a_non_editable_install_finds_its_contracts_and_runs_the_graph(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The dependencies are those installed here; the project itself is built from the repository
    # (pip fetches only the build backend) and installed as plain files, not as an editable one.
    [site] = (venv / "lib").glob("python*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = tmp_path / "build"
    subprocess.run(
        [
            *(str(venv / "bin" / "pip"), "install", "-q", "--no-deps"),
            *("--target", str(build), str(REPO)),
        ],
        check=True,
        capture_output=True,
    )
    (site / "imbal_pipeline.pth").write_text(f"{build}\n")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DAGSTER_HOME")},
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    work = tmp_path / "work"  # anywhere but the repository
    work.mkdir()
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import imbal_pipeline, importlib.resources as r; print(imbal_pipeline.__file__); "
            "print(sorted(p.name for p in r.files('imbal_pipeline.data_contracts').iterdir()))",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(build)) and str(REPO) not in where
    assert "'raw_data.json'" in where and "'strategy_comparison.json'" in where
    run = subprocess.run(
        [
            *(str(venv / "bin" / "python"), "-m", "imbal_pipeline.cli", "run"),
            *("--rows", "2000", "--positive-rate", "0.05", "--folds", "2", "--trees", "20"),
            *("--strategies", "none,class_weight", "--out", str(work / "out")),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (work / "out" / "report.json").is_file()
