"""The values that pass between the training stages, one small frozen dataclass per stage.

Each is what one asset stores and the next reads: the store writes its frames as Parquet, its
models as LightGBM text and the rest as JSON, and reads back the same class (`KINDS`), so a
stage never guesses at the shape of its input. Tables and data files stay DataFrames; the
evaluation report stays the JSON document that report.json is.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Profile:
    """The training split's imbalance: which class is positive, the counts, the ratio's tier and
    the strategies it recommends starting from."""

    target: str
    positive_label: str
    rows: int
    positives: int
    negatives: int
    ratio: float  # negatives per positive, rounded to 3 decimals
    ratio_text: str  # "1:<ratio>"
    prevalence: float
    tier: str  # balanced, mild, moderate or severe
    recommendation: str
    tier_strategies: list[str]  # the ladder rungs the tier names


@dataclass(frozen=True)
class FoldSets:
    """One fold's training sets: the rows each strategy fits on, and the untouched validation
    rows, both through the preprocessing fitted on the fold's training rows only."""

    fold: int
    train: pd.DataFrame  # the fold's training rows, preprocessed, before any resampling
    validation: pd.DataFrame  # never resampled
    membership: pd.DataFrame  # (strategy, row id) of every original row a strategy kept
    synthetic: pd.DataFrame  # rows a sampler made, by strategy, with negative row ids
    preprocessor: dict  # `Preprocessor.to_json()`
    audits: dict[str, dict]  # per strategy: sampler steps, parameters, seed, counts, skip
    made_from: dict | None = None  # its recipe (`content.with_recipe`), covered by its version


@dataclass(frozen=True)
class FoldModels:
    """One fold step's boosters, one per strategy it was to fit, and their validation scores."""

    fold: int
    strategies: list[str]  # the rungs this step was to fit, fitted or skipped
    models: dict[str, Any]  # strategy -> booster, for the rungs that were fitted
    oof: pd.DataFrame  # out-of-fold scores: row id, strategy, fold, label, score
    fit_info: dict[str, dict]
    skipped: dict[str, str]  # strategy -> why its sampler could not run in this fold
    audits: dict[str, dict]
    preprocessor: dict  # the fold's, which a bag member reads its rows through
    made_from: dict | None = None  # its recipe (`content.with_recipe`), covered by its version


@dataclass(frozen=True)
class Comparison:
    """Every strategy's cross-validated figures and the one selected."""

    table: dict[str, dict]  # strategy -> means, standard deviations, per-fold values, gaps
    selected: str
    best: str  # the best mean PR-AUC, which `selected` may not be (it must beat every simpler)
    reason: str
    oof: pd.DataFrame  # every fold's out-of-fold scores, pooled
    audits: dict[int, dict] = field(default_factory=dict)  # fold -> strategy -> audit


@dataclass(frozen=True)
class Decision:
    """The threshold tuned on the selected strategy's out-of-fold scores, and how."""

    strategy: str
    value: float
    objective: str
    params: dict  # the objective's parameters: beta, costs or recall target
    rule: str  # how the value was reached, in words
    tuned_median: float
    fold_values: dict[int, float]  # fold -> threshold tuned on that fold's scores
    versus_default: dict | None  # cross-fitted gain over 0.5; None under recall
    at_threshold: dict[str, float]  # the objective's figures on all out-of-fold rows
    tuned_on_rows: int
    tuned_on_positives: int
    curve: pd.DataFrame  # precision, recall, F1, F-beta and cost on a 0..1 grid
    calibrator: dict  # probabilities from the same scores; the threshold stays raw
    # Why the deployed value is a fallback (the tuned one did not beat 0.5 beyond noise);
    # None when the tuned threshold earned its place.
    fallback: str | None = None


@dataclass(frozen=True)
class Bag:
    """A deployable model: a strategy's fold models, their probabilities averaged.

    The threshold, objective and calibrator are attached at export (`with_decision`), not
    stored with the trees, so a threshold-only change leaves the model's version as it was.
    """

    strategy: str
    model: Any  # `model.Bagged`
    preprocessor: dict  # fitted on the whole training split: describes the columns
    audit: dict
    fit_info: dict
    threshold: float | None = None
    objective: str | None = None
    calibrator: dict | None = None

    @property
    def decided_threshold(self) -> float:
        """The threshold attached at export; a model without one makes no decisions."""
        if self.threshold is None:
            raise ValueError(
                f"the {self.strategy!r} model carries no threshold; attach the decision "
                "(materialize decision_threshold and final_model together)"
            )
        return float(self.threshold)

    def with_decision(self, decision: Decision) -> Bag:
        """The model with the threshold, objective and calibrator tuned on its out-of-fold
        scores: what is evaluated, exported and deployed."""
        if decision.strategy != self.strategy:
            raise ValueError(
                f"the threshold was tuned for {decision.strategy!r} but the model is "
                f"{self.strategy!r}; materialize decision_threshold and final_model together"
            )
        return dataclasses.replace(
            self,
            threshold=decision.value,
            objective=decision.objective,
            calibrator=decision.calibrator,
        )


# What the store writes as a value's kind and reads back.
KINDS: dict[str, type] = {
    kind.__name__: kind for kind in (Profile, FoldSets, FoldModels, Comparison, Decision, Bag)
}


def fields_of(value) -> dict[str, Any]:
    """A stage value's fields by name (shallow: frames and models stay as they are)."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def restored(kind: type, fields: dict[str, Any]) -> Any:
    """A stage value from its stored fields. JSON writes every key as text, so the keys of a
    field declared `dict[int, ...]` (folds) are made numbers again."""
    for name, hint in typing.get_type_hints(kind).items():
        by_number = typing.get_origin(hint) is dict and typing.get_args(hint)[:1] == (int,)
        if by_number and isinstance(fields.get(name), dict):
            fields[name] = {int(k): v for k, v in fields[name].items()}
    return kind(**fields)
