"""The trained model as every consumer applies it: raw rows in, scores and decisions out.

A `Model` is LightGBM's text model plus one JSON document (`model.json`): the preprocessing
fitted on the training split, the category codes, the tuned threshold, the positive label and
the monitoring reference. The CLI's `score`, the `scored_batch` asset and a user's own service
all go through it; nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imbal_pipeline.core.data import disguises
from imbal_pipeline.core.data.data import DataError, ReadOptions, close_name
from imbal_pipeline.core.data.inbox import ROW
from imbal_pipeline.core.monitor.monitoring import Reference
from imbal_pipeline.core.train import calibration, fast_scoring
from imbal_pipeline.core.train import model as model_core
from imbal_pipeline.core.train.content import content_hash
from imbal_pipeline.core.train.preprocess import Preprocessor, category_text, known_categories
from imbal_pipeline.core.values import Bag

FORMAT = "imbal_pipeline model v2: LightGBM text model + this JSON; no pickle"
PROBABILITY_NOTE = (
    "Raw scores rank rows, but class weights, resampling and a sample of negatives shift them "
    "away from probabilities: decide with the model's threshold on the raw scores (`predict`), and "
    "read probabilities from `predict_proba`, which applies the calibration only where it beat "
    "the raw scores on out-of-fold Brier (report.json `calibration`)."
)


class BatchError(DataError):
    """A batch the model cannot score; the message names the column and the fix."""


def predicts(meta: dict) -> str:
    """What a stored model predicts, in words: its target, and whether it is the demo's."""
    what = f"target {meta.get('target')!r}"
    if meta.get("generated_data"):
        what += ", trained on the generated demo data"
    return what


class MissingColumnsError(BatchError):
    """A batch without some of the model's feature columns: often a batch for another model."""


class ModelFileError(ValueError):
    """A model folder that is missing, incomplete or damaged."""


# The folder beside model.txt (or in the store) where the compiled trees are cached.
COMPILED = "compiled"

# What an export adds to the model's JSON half: the version it claims and model.txt's digest.
EXPORT_FIELDS = ("version", "model_sha256")


def model_version(booster: model_core.Fitted, meta: dict) -> str:
    """A model's version: the content hash of its trees and its JSON half (without what an
    export adds), the same as the stored `deployed_model`'s data version."""
    plain = {k: v for k, v in meta.items() if k not in EXPORT_FIELDS}
    return content_hash({"model": booster, "meta": plain})


@dataclass(frozen=True)
class BatchNotes:
    """What scoring noticed about a batch without refusing it."""

    ignored_columns: list[str]
    unseen_categories: dict[str, int]  # column -> rows with a category never seen in training
    # The members' calibrated probabilities, averaged per row and summed: the positives the
    # model expects in the batch, which the prevalence rule across batches adds up.
    expected_positives: float = 0.0


def model_meta(
    final: Bag,
    *,
    reference: Reference,
    positive_label: str,
    negative_labels: list[str] | None,
    target: str,
    id_column: str | None,
    read_options: ReadOptions,
    beta: float,
    run_id: str | None,
    trained_rows: dict | None = None,
    generated_data: bool = False,
) -> dict:
    """The JSON half of a model: everything needed to apply and watch it.

    Its version is not part of it: the version is the content hash of the model and this.
    `trained_rows` records the keys of its training rows (`promotion_rows.TrainedRows`), so a
    later model is never compared with it on a row it trained on. `generated_data`: trained on
    the embedded demo data, which a model of a user's file replaces in service
    (`promotion.replaces_demo`) and which messages name.
    """
    return {
        "format": FORMAT,
        "run_id": run_id,
        "strategy": final.strategy,
        "threshold": final.decided_threshold,
        "objective": final.objective,
        "beta": float(beta),
        "target": target,
        "generated_data": generated_data,
        "positive_label": positive_label,
        # Labels given later are matched against both classes; anything else is refused.
        "negative_labels": negative_labels,
        "id_column": id_column,
        "read_options": {
            "sep": read_options.sep,
            "encoding": read_options.encoding,
            "decimal": read_options.decimal,
            "thousands": read_options.thousands,
        },
        "preprocessor": final.preprocessor,
        "calibrator": final.calibrator,
        "reference": reference.to_json(),
        "audit": final.audit,
        "trained_rows": trained_rows,
        "note": PROBABILITY_NOTE,
    }


class Model:
    """A loaded model: `predict_proba` and `predict` on raw rows, as the training data had them.

    Parameters
    ----------
    booster : lightgbm.Booster or Bagged
        The fitted trees (a bagged model averages its members' probabilities).
    meta : dict
        The JSON half (see `model_meta`).
    n_jobs : int, default 1
        LightGBM threads when scoring.

    Attributes
    ----------
    threshold : float
        The tuned decision threshold (chosen on out-of-fold predictions).
    version : str
        The final model's data version, as Dagster and `imbal-pipeline versions` show it.
    feature_schema : dict
        ``{"numeric": [...], "categorical": {column: [known categories]}}``.
    reference : Reference
        What the model is expected to see and produce, for monitoring.
    calibrator : dict or None
        The map from raw scores to probabilities that `predict_proba` applies.
    """

    def __init__(
        self,
        booster: model_core.Fitted,
        meta: dict,
        *,
        n_jobs: int = 1,
        compiled_cache: Path | None = None,
    ):
        self.booster = booster
        self.meta = meta
        # One thread by default: a scoring step beside others must not oversubscribe the cores.
        self.n_jobs = n_jobs
        # Where the compiled trees are kept (`fast_scoring`); None: LightGBM scores.
        self.compiled_cache = compiled_cache
        self.scorer = "scored with LightGBM"  # what scored the last batch, and why
        self.preprocessor = Preprocessor.from_json(meta["preprocessor"])
        try:
            self.reference = Reference.from_json(meta["reference"])
        except ValueError as exc:
            raise ModelFileError(f"model {meta.get('version')}: {exc}") from None
        self.threshold = float(meta["threshold"])
        self.version = str(meta["version"])
        self.positive_label = meta["positive_label"]
        self.id_column = meta.get("id_column")
        self.calibrator = meta.get("calibrator")
        # The champion, loaded as the model in service (`load_model()`): messages say so.
        self.in_service = False

    def __repr__(self) -> str:
        return (
            f"Model(version={self.version!r}, strategy={self.meta['strategy']!r}, "
            f"threshold={self.threshold:.4g}, positive_label={self.positive_label!r})"
        )

    @property
    def described(self) -> str:
        """Which model this is and what it predicts, for a message."""
        what = predicts(self.meta)
        if self.in_service:
            return f"the model in service ({self.version}, {what})"
        return f"model {self.version} ({what})"

    @property
    def feature_schema(self) -> dict:
        pre = self.preprocessor
        return {"numeric": list(pre.numeric), "categorical": dict(pre.categories)}

    @property
    def features(self) -> list[str]:
        return [*self.preprocessor.numeric, *self.preprocessor.categorical]

    @property
    def read_options(self) -> ReadOptions:
        return ReadOptions(**self.meta["read_options"])

    def check(self, frame: pd.DataFrame) -> BatchNotes:
        """Refuse a batch the model cannot score; say what it ignores or has never seen."""
        if len(frame) == 0:
            raise BatchError("the batch has no rows; nothing to score")
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            # A column renamed upstream is the usual cause: name the batch's likeliest match.
            extra = [str(c) for c in frame.columns if c not in self.features]
            close = close_name(missing[0], extra)
            hint = f" (the batch has {close!r}: renamed?)" if close is not None else ""
            raise MissingColumnsError(
                f"the batch lacks feature column {missing[0]!r}{more}{hint} that "
                f"{self.described} was trained on; add it (empty values are allowed)"
            )
        for column in self.preprocessor.numeric:
            problem = numeric_feature_problem(column, frame[column])
            if problem:
                raise BatchError(problem)
        unseen = {}
        for column, known in self.preprocessor.categories.items():
            text = category_text(frame[column], missing=None)
            count = int((text.notna() & ~text.isin(known_categories(known))).sum())
            if count:
                unseen[column] = count
        ignored = [c for c in frame.columns if c not in self.features]
        return BatchNotes(ignored_columns=ignored, unseen_categories=unseen)

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class scores, one per row."""
        self.check(frame)
        return self._predict(frame)

    def _predict(self, frame: pd.DataFrame) -> np.ndarray:
        self._prepare(len(frame))
        scores = model_core.score_rows(self.booster, self.meta["preprocessor"], frame, self.n_jobs)
        self._refused()
        return scores

    def _members(self, frame: pd.DataFrame) -> np.ndarray:
        self._prepare(len(frame))
        pre = self.meta["preprocessor"]
        members = model_core.member_scores(self.booster, pre, frame, self.n_jobs)
        self._refused()
        return members

    def _prepare(self, rows: int) -> None:
        if self.compiled_cache is not None:
            cache, threads = self.compiled_cache, self.n_jobs
            self.scorer = fast_scoring.prepare(
                self.booster, cache, rows, threads, text_of=model_core.model_text
            )

    def _refused(self) -> None:
        if fast_scoring.refused(self.booster):
            self.scorer = fast_scoring.REFUSED

    def expected_positives(self, members: np.ndarray) -> float:
        """The members' calibrated probabilities, averaged per row, summed over the rows."""
        calibrated = [calibration.apply(self.calibrator, m) for m in np.atleast_2d(members)]
        return float(np.mean(calibrated, axis=0).sum())

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities as scikit-learn lays them out: column 1 the positive class.

        Calibrated on the out-of-fold scores (see `calibrator`) where the map beat the raw scores
        on out-of-fold Brier beyond noise; otherwise (and for a model without a calibrator) the
        raw scores.
        """
        p = calibration.apply(self.calibrator, self.scores(frame))
        return np.column_stack([1.0 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """1 where the raw score reaches the tuned threshold, else 0."""
        return (self.scores(frame) >= self.threshold).astype(np.int8)

    def save(self, folder: str | Path) -> None:
        """Write model.txt and model.json; the JSON carries the text model's digest and the
        version, which is the content hash of both (`model_version`)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        text = model_core.model_text(self.booster)
        (folder / "model.txt").write_text(text)
        meta = {
            **self.meta,
            "version": model_version(self.booster, self.meta),
            "model_sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=2, allow_nan=False))

    @classmethod
    def load(cls, folder: str | Path, *, n_jobs: int = 1) -> Model:
        """Read a model folder, refusing one whose files are not the version it claims.

        model.txt's digest is checked before LightGBM parses the text (LightGBM aborts the
        whole process on a truncated model); then the content hash of the trees and every
        value in model.json must be the version model.json names, so an edited threshold, or
        a replaced model.txt with its digest fixed, is never served under that version.
        """
        folder = Path(folder)
        paths = folder / "model.json", folder / "model.txt"
        absent = [p.name for p in paths if not p.is_file()]
        if absent:
            raise ModelFileError(
                f"{folder} has no {absent[0]}; give the --out folder of a run whose quality "
                "gate passed"
            )
        try:
            meta = json.loads(paths[0].read_text())
        except ValueError as exc:
            raise ModelFileError(f"{paths[0]} is not valid JSON; export the model again") from exc
        if meta.get("format") != FORMAT:
            raise ModelFileError(
                f"{paths[0]} is not a {FORMAT.split(':')[0]} file (format "
                f"{meta.get('format')!r}); retrain with this version of imbal_pipeline"
            )
        text = paths[1].read_text()
        if hashlib.sha256(text.encode()).hexdigest() != meta.get("model_sha256"):
            raise ModelFileError(
                f"{paths[1]} does not match the digest in model.json (damaged or replaced); "
                "export the model again"
            )
        booster = model_core.from_text(text)
        actual = model_version(booster, meta)
        if actual != meta.get("version"):
            raise ModelFileError(
                f"{paths[0]} does not match the model version it claims ({meta.get('version')}; "
                f"its values and model.txt hash to {actual}): edited or replaced since it was "
                "exported; export the model again"
            )
        return cls(booster, meta, n_jobs=n_jobs, compiled_cache=folder / COMPILED)


def numeric_feature_problem(column: str, values: pd.Series) -> str | None:
    """Why a batch column cannot be scored as the numeric feature `column`, or None: values a
    cast would misread (`disguises.misread_as_numbers`), or text that is no number."""
    where = f"batch column {column!r}"
    misread = disguises.misread_as_numbers(values, "the model was trained on")
    if misread:
        return f"{where} {misread}"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return None
    lost = values.notna() & pd.to_numeric(values, errors="coerce").isna()
    if not lost.any():
        return None
    shown = sorted({str(v) for v in values[lost]})
    kind = disguises.kind_of(shown[0])
    if kind is not None:
        return (
            f"{where} holds {disguises.DESCRIPTIONS[kind]} (e.g. {shown[0]!r}) where the model "
            f"was trained on plain numbers; {disguises.batch_fix(kind)}"
        )
    examples = ", ".join(repr(v) for v in shown[:3])
    return (
        f"{where} has {int(lost.sum())} values that are not numbers (e.g. {examples}) where the "
        "model was trained on numbers; clean the column or leave those values empty"
    )


def score_batch(model: Model, frame: pd.DataFrame) -> tuple[pd.DataFrame, BatchNotes]:
    """Score a batch: its id (or row number), raw score, probability, decision and the model's
    version; the notes say what scoring noticed and the positives the model expects in it."""
    notes = model.check(frame)
    # The members are scored once: their mean is the score, and monitoring reads them too.
    members = model._members(frame)
    scores = members.mean(axis=0)
    notes = dataclasses.replace(notes, expected_positives=model.expected_positives(members))
    if model.id_column and model.id_column in frame.columns:
        ids = frame[model.id_column].to_numpy()
        name = model.id_column
    else:
        ids, name = np.arange(len(frame), dtype=np.int64), ROW
    # Both faces of the score: the raw one the threshold decides on, and the probability
    # `predict_proba` returns (the raw score itself where no calibration was applied).
    out = pd.DataFrame(
        {
            name: ids,
            "score": scores,
            "probability": calibration.apply(model.calibrator, scores),
            "decision": (scores >= model.threshold).astype(np.int8),
        }
    )
    out["model_version"] = pd.Series([model.version] * len(out), dtype="category")
    return out, notes
