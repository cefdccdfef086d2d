"""Groups and duplicates: rows that belong together never straddle the holdout or a fold."""

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core import inputs
from imbal_pipeline.core.data import data, split
from imbal_pipeline.core.settings import FOLD, GROUP, LABEL, ROW_ID, SPLIT, Settings, SettingsError
from imbal_pipeline.core.train import gates


def _patients(n_patients=400, seed=0) -> pd.DataFrame:
    """Patients with 1 to 6 visits each; a patient's visits share a label and look alike."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(1, 7, n_patients)
    patient = np.repeat(np.arange(n_patients), visits)
    sick = np.repeat(rng.random(n_patients) < 0.08, visits)
    frame = pd.DataFrame(
        {
            "patient": [f"p{p}" for p in patient],
            "x": rng.normal(sick * 1.5, 1.0),
            "y": rng.normal(0, 1, len(patient)),
            "target": sick.astype(int),
        }
    )
    return data.prepare_frame(frame, Settings(target="target"))


def _parted(frame: pd.DataFrame, groups, column) -> int:
    """How many groups have rows in more than one value of `column`."""
    return int((pd.Series(frame[column].to_numpy()).groupby(groups).nunique() > 1).sum())


@pytest.mark.parametrize("seed", range(5))
def test_whole_groups_go_to_parts_of_the_asked_size_and_class_balance(seed):
    frame = _patients(seed=seed)
    groups = frame["patient"].to_numpy()
    parts = split.assign_groups(frame[LABEL], groups, np.full(5, 0.2), seed)
    assert _parted(frame.assign(part=parts), groups, "part") == 0
    counts = pd.crosstab(parts, frame[LABEL])
    # Within a group's size (at most 6 rows) of the equal share, class by class.
    for cls in (0, 1):
        assert (counts[cls] - frame[LABEL].eq(cls).sum() / 5).abs().max() <= 6


def test_group_holdout_and_folds_never_split_a_group_and_drop_it_from_the_features():
    frame = _patients()
    settings = Settings(target="target", group="patient", subgroups=("y",))
    marked, how, _ = inputs.split_raw(frame, settings)
    assert "rows sharing column 'patient' kept together" in how
    assert _parted(marked, marked["patient"], SPLIT) == 0
    assert abs((marked[SPLIT] == split.HOLDOUT).mean() - 0.2) < 0.02
    train = split.training_part(marked)
    folds = split.make_folds(train, 5, 0)
    assert _parted(folds, train["patient"], FOLD) == 0
    assert gates.folds_partition(folds, train, 5).passed
    assert gates.groups_kept_together(marked, explicit=False).passed
    assert "patient" not in sum(data.feature_schema(marked, settings).values(), [])
    # A plain split of the same rows would have parted most multi-visit patients.
    summary = split.grouping_summary(marked, settings)
    assert summary["rows_a_plain_split_would_part"] > 100
    assert split.describe_grouping(summary).startswith("Rows sharing column 'patient' were kept")


def test_the_gates_catch_a_group_split_across_holdout_or_folds():
    frame = _patients()
    marked, _, _ = inputs.split_raw(frame, Settings(target="target", group="patient"))
    sizes = marked[GROUP].map(marked[GROUP].value_counts())
    member = marked.index[marked[GROUP] == marked.loc[sizes > 1, GROUP].iloc[0]]
    broken = marked.copy()
    other = {split.TRAIN: split.HOLDOUT, split.HOLDOUT: split.TRAIN}
    broken.loc[member[0], SPLIT] = other[broken.loc[member[0], SPLIT]]
    gate = gates.groups_kept_together(broken, explicit=False)
    assert gate.blocks and "groups split across the holdout" in gate.message
    assert gates.groups_kept_together(broken, explicit=True).severity == gates.WARN
    train = split.training_part(marked)
    folds = split.make_folds(train, 5, 0)
    sizes = train[GROUP].map(train[GROUP].value_counts())
    member = train.index[train[GROUP] == train.loc[sizes > 1, GROUP].iloc[0]]
    folds.loc[member[0], FOLD] = (folds.loc[member[1], FOLD] + 1) % 5
    gate = gates.folds_partition(folds, train, 5)
    assert gate.blocks and "1 groups of rows are split between folds" in gate.message


def test_identical_feature_rows_are_kept_together_by_default_and_can_be_let_go():
    rng = np.random.default_rng(1)
    base = pd.DataFrame(
        {
            "x": rng.normal(size=600),
            "region": rng.choice(["n", "s"], 600),
            "target": (rng.random(600) < 0.1).astype(int),
        }
    )
    # Every fourth row is exported again: 150 exact repeats.
    frame = data.prepare_frame(
        pd.concat([base, base.iloc[::4]], ignore_index=True), Settings(target="target")
    )
    together, _, _ = inputs.split_raw(frame, Settings(target="target"))
    assert _parted(together, together[GROUP], SPLIT) == 0
    features = ["x", "region"]
    assert gates.straddling_duplicates(together, features).passed
    summary = split.grouping_summary(together, Settings(target="target"))
    assert summary["by"] == "identical feature values" and summary["shared_groups"] == 150
    apart, how, _ = inputs.split_raw(frame, Settings(target="target", duplicates_together=False))
    assert GROUP not in apart.columns and "kept together" not in how
    assert not gates.straddling_duplicates(apart, features).passed


def test_without_shared_groups_the_split_is_scikit_learns_as_before():
    frame = _patients().drop_duplicates("patient")
    groups, by = split.row_groups(frame, Settings(target="target", group="patient"))
    assert by and len(np.unique(groups)) == len(frame)
    grouped = split.split_holdout(frame, 0.2, 3, groups)
    plain = split.split_holdout(frame, 0.2, 3)
    assert (grouped[SPLIT] == plain[SPLIT]).all()


def test_a_missing_group_value_leaves_its_row_alone():
    frame = _patients().head(40)
    frame.loc[:5, "patient"] = None
    groups, _ = split.row_groups(frame, Settings(target="target", group="patient"))
    assert len(np.unique(groups[:6])) == 6


def test_group_mistakes_are_named_with_their_fix():
    with pytest.raises(data.DataError, match="group column 'ward' not in the data; fix --group"):
        data.prepare_frame(
            pd.DataFrame({"x": [1, 2], "target": [0, 1]}), Settings(target="target", group="ward")
        )
    with pytest.raises(SettingsError, match="--group 'target' is the target or the id"):
        Settings(target="target", group="target")
    with pytest.raises(SettingsError, match="--drop names 'ward'"):
        Settings(group="ward", drop=("ward",))
    assert ROW_ID  # the reserved names include the group column
    with pytest.raises(SettingsError, match="reserved"):
        Settings(group=GROUP)


def test_a_group_too_large_for_the_folds_is_named_with_the_fix():
    # One common value repeated for a third of the rows (as mammography's 2,432 identical rows).
    frame = _patients()
    common = frame.sample(frac=0.3, random_state=0).index
    frame.loc[common, ["patient", "x", "y"]] = ("p-common", 0.25, -0.5)
    frame.loc[common, "target"] = 0
    settings = Settings(target="target", subgroups=("y",))
    marked, _, _ = inputs.split_raw(frame, settings)
    gate = gates.groups_fit_the_folds(marked, settings)
    assert gate.severity == gates.WARN and not gate.passed
    assert f"{len(common):,} rows with identical feature values (30% of the rows)" in gate.message
    assert gate.message.endswith("run with --no-duplicates-together")
    # Spread freely, no group is left; the visits of one patient are far below the bound.
    apart = Settings(target="target", subgroups=("y",), duplicates_together=False)
    assert gates.groups_fit_the_folds(inputs.split_raw(frame, apart)[0], apart).passed
    by_patient = Settings(target="target", group="patient", subgroups=("y",))
    marked = inputs.split_raw(_patients(), by_patient)[0]
    assert gates.groups_fit_the_folds(marked, by_patient).passed
    names = [g.name for g in inputs.split_gates(marked, by_patient, {})]
    assert "groups_fit_the_folds" in names
    # Grouped by a column, the fix names the column.
    marked = inputs.split_raw(frame, by_patient)[0]
    gate = gates.groups_fit_the_folds(marked, by_patient)
    assert not gate.passed and "rows sharing column 'patient' (30% of the rows)" in gate.message
    assert gate.message.endswith(
        "check that 'patient' names what makes rows copies, or drop --group"
    )
