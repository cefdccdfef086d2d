"""The one rule that decides whether a value is a class (`data.is_label`), on the values files
written by different tools hold for the same class, and the places that ask it."""

import numpy as np
import pandas as pd
import pytest

from imbal_pipeline.core.data import data
from imbal_pipeline.core.report import monitor_report
from imbal_pipeline.core.settings import Settings

# (value, label, is it that class?)
TRICKY = [
    (1, 1, True),
    (1.0, "1", True),
    ("1", 1.0, True),
    ("1.0", 1, True),
    ("1.0", "1", True),
    (np.int64(1), "1.0", True),
    (np.float64(1.0), 1, True),
    (0, "1", False),
    (0.5, "0.50", True),
    (True, 1, False),  # a boolean is not the number 1
    (True, "True", True),
    (np.bool_(True), "True", True),
    ("yes", "Yes", False),  # text keeps its case
    ("Yes", "Yes", True),
    (np.nan, 1, False),  # a missing value is no class
    (np.nan, "nan", False),
    (None, "None", False),
]


@pytest.mark.parametrize("value, label, expected", TRICKY)
def test_one_value_is_the_class_by_one_rule(value, label, expected):
    assert data.is_label(value, label) is expected


def test_rows_are_the_class_by_the_same_rule_as_one_value():
    values = [v for v, _, _ in TRICKY]
    for label in ("1", "True", "Yes"):
        rows = data.is_label(pd.Series(values, dtype=object), label)
        assert rows.tolist() == [data.is_label(v, label) for v in values], label
    assert data.is_label(pd.Series([1.0, np.nan, 0.0]), 1).tolist() == [True, False, False]


def test_a_float_target_names_its_negative_class_as_it_names_the_positive():
    frame = data.prepare_frame(
        pd.DataFrame({"y": [0.0, 1.0, 0.0, 0.0], "x": [1, 2, 3, 4]}), Settings(target="y")
    )
    assert data.positive_label_of(frame, Settings(target="y")) == "1"
    assert data.negative_labels_of(frame, Settings(target="y")) == ["0"]  # was "0.0"


def test_the_stray_label_message_marks_the_positive_class_written_either_way():
    with pytest.raises(data.DataError, match=r"'1\.0' \(positive\), '0'"):
        data.refuse_stray_labels(pd.Series([1, 0, 7]), ["1.0", "0"], "labels", positive="1")


def test_a_model_without_recorded_negatives_reads_its_1_0_positive_as_1():
    summary = {"positive_label": "1.0", "negative_labels": None, "version": "v"}
    assert monitor_report._negative_labels(summary) == ["0"]
    assert monitor_report._negative_labels({**summary, "positive_label": True}) == ["False"]
