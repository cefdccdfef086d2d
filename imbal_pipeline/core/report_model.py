"""report.json as types: one dataclass per section, written to and read from the same JSON.

The evaluation builds a `Report`; the quality gate, the release, the advice and the command
line's summary read its fields. The renderers keep reading report.json's dicts, because they
must render reports that older versions wrote; `Report.from_json` reads those too: a key an
older report lacks reads as None, and a key this version does not know is kept (`extra`) and
written back, after the known ones.

Each section lists its fields in the order report.json lists its keys, so `to_json` writes the
file the untyped dict wrote, byte for byte (tests/test_golden.py holds that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from imbal_pipeline.core.sections import JSON, Section, flat, optional

if TYPE_CHECKING:  # the report's module reads no stage value at run time (no pandas here)
    from imbal_pipeline.core.values import Decision

# --- the holdout's figures -------------------------------------------------------------------


@dataclass(kw_only=True)
class Dataset(Section):
    """What was trained on: the target, its classes and the imbalance tier (`dataset`)."""

    target: str
    positive_label: str
    negative_labels: list[str] | None = optional()  # absent from reports before it was kept
    rows: int  # training rows
    features: int
    positives: int
    negatives: int
    ratio: float  # negatives per positive
    tier: str
    recommendation: str  # where the tier usually starts
    holdout_rows: int
    holdout_positives: int
    source: str
    # The labelled inbox batches a retraining added (file, labels file, rows, positives).
    labelled_batches: list[dict] | None = optional()


@dataclass(kw_only=True)
class ThresholdChoice(Section):
    """The decision threshold and how it was reached, so a reader can redo it (`threshold`)."""

    value: float
    objective: str
    params: JSON
    tuned_on_rows: int
    rule: str
    fold_values: dict[Any, float]  # fold -> threshold: int keys in memory, text in the file
    versus_default: JSON | None
    fallback: str | None  # why 0.5 was kept, when the tuned value did not beat it

    @classmethod
    def of(cls, decision: Decision, value: float) -> Self:
        """The section of a tuned decision deployed at `value`: its fields of the same names."""
        named = [name for name in cls.names() if name != "value"]
        return cls(value=value, **{name: getattr(decision, name) for name in named})

    def named(self, *, short: bool = False, tuned: str = "the tuned threshold") -> str:
        """The threshold as a sentence names it: `tuned` when it earned its place; a fallback
        is never called tuned: "the threshold (0.5, the fallback: why)", or `short`, "the
        chosen threshold (0.5, the fallback)"."""
        if not self.fallback:
            return tuned
        if short:
            return f"the chosen threshold ({self.value:.3g}, the fallback)"
        return f"the threshold ({self.value:.3g}, the fallback: {self.fallback})"


@dataclass(kw_only=True)
class Metrics(Section):
    """Every report figure at one threshold (`holdout`, `holdout_at_0_5`, the baseline's)."""

    threshold: float
    pr_auc: float | None  # None when the rows hold one class only
    roc_auc: float | None
    f1: float
    fbeta: float
    beta: float
    f2: float
    mcc: float
    balanced_accuracy: float | None
    precision: float
    recall: float
    specificity: float | None = optional()
    flag_rate: float | None = optional()
    accuracy: float
    confusion_matrix: list[list[int]]
    # The baseline's own threshold only: why it is a fallback (absent when it was tuned), so
    # that it is never called tuned.
    fallback: str | None = optional()


@dataclass(kw_only=True)
class Interval(Section):
    """Where one holdout figure may lie."""

    ci_low: float
    ci_high: float
    few_positives: bool | None = optional()  # below the positives the intervals hold at


@dataclass(kw_only=True)
class Difference(Section):
    """One paired difference (selected minus baseline) and its interval."""

    diff: float
    ci_low: float
    ci_high: float
    few_positives: bool | None = optional()


@dataclass(kw_only=True)
class WithFigures(Section):
    """A section whose figures sit beside its own keys in report.json, each under its name,
    all of one type (`figure`)."""

    figure: ClassVar[type[Section]]
    figures: dict[str, Any] = field(default_factory=dict)  # figure name -> `figure`

    @classmethod
    def from_json(cls, found: Mapping[str, Any] | None) -> Self:
        rest = dict(found or {})
        head = {k: rest.pop(k, None) for k in cls.names() if k != "figures"}
        figures = {k: cls.figure.from_json(v) for k, v in rest.items() if isinstance(v, Mapping)}
        extra = {k: v for k, v in rest.items() if k not in figures}
        return cls(**head, figures=figures, extra=extra)

    def to_json(self) -> JSON:
        head = super().to_json()
        del head["figures"]
        figures = {name: figure.to_json() for name, figure in self.figures.items()}
        return {**head, **figures}


@dataclass(kw_only=True)
class HoldoutIntervals(WithFigures):
    """Each holdout figure's interval, by the method whose coverage held best (`holdout_ci`);
    below `few_positives_below` holdout positives most over-cover."""

    figure: ClassVar[type[Section]] = Interval

    level: float | None = optional()
    few_positives_below: int | None = optional()
    methods: dict[str, str] | None = optional()

    def get(self, name: str) -> Interval | None:
        return self.figures.get(name)


@dataclass(kw_only=True)
class Ranking(Section):
    """The permutation test of the holdout PR-AUC against labels placed at random."""

    pr_auc: float
    no_skill_mean: float
    p_value: float
    permutations: int
    monte_carlo_se: float


@dataclass(kw_only=True)
class Decisions(Section):
    """The exact test of the threshold's flags against flagging as many rows at random."""

    flagged: int
    true_positives: int
    expected_at_random: float
    p_value: float


@dataclass(kw_only=True)
class Skill(Section):
    """The quality gate's evidence: both exact tests and the level they are read at (`skill`)."""

    nested: ClassVar[Mapping[str, type[Section]]] = {"ranking": Ranking, "decisions": Decisions}

    alpha: float
    ranking: Ranking | None  # None when the holdout holds one class only
    decisions: Decisions
    holdout_positives: int
    few_positives_below: int
    few_positives: bool


@dataclass(kw_only=True)
class OperatingPoint(Section):
    """What the threshold objective asked for and what the holdout reached (`operating_point`)."""

    objective: str
    asked: JSON
    reached: JSON
    met: bool
    clearly_missed: bool


def target_verdict(point: Mapping, positives: int | None = None) -> str:
    """A target's verdict in the words its interval allows (`operating_point` as JSON).

    Four cases, not two: reached and confirmed (the interval's lower end at or above the
    target), reached on the point only, missed on the point only (the target inside the
    interval), clearly missed (the interval's top below it). `met` and `clearly_missed` stay
    the decision; the words only say how firmly the holdout of `positives` shows it.
    """
    reached, asked = point.get("reached") or {}, point.get("asked") or {}
    low, target = reached.get("ci_low"), asked.get("recall")
    at = f"at {positives} holdout positives" if positives is not None else "at its size"
    if point.get("clearly_missed"):
        return "clearly missed: even the interval's top is below the target"
    if low is None or target is None:  # no interval: only the point can be read
        return "reached" if point.get("met") else "missed"
    if point.get("met") and low >= target:
        return "reached, and confirmed: the interval's lower end is at or above the target"
    if point.get("met"):
        return (
            f"reached on the point estimate but not confirmed: the interval reaches down to "
            f"{low:.3f}, so the holdout cannot confirm it {at}"
        )
    return (
        f"missed on the point estimate, but the target lies within the interval: the holdout "
        f"cannot tell {at} whether the threshold reaches it"
    )


@dataclass(kw_only=True)
class VsBaseline(WithFigures):
    """The selected model at its threshold minus the baseline at 0.5, paired (`vs_baseline`):
    one `Difference` per figure."""

    figure: ClassVar[type[Section]] = Difference

    baseline: str
    same_model: bool
    level: float | None = optional()


# --- what the report adds around the figures ----------------------------------------------


@dataclass(kw_only=True)
class Evidence(Section):
    """The report-only assets' findings: the leak panel, the learning curve, the grouping and
    the data diagnostics (written at report.json's top level)."""

    leak_panel: JSON
    learning_curve: JSON
    grouping: JSON
    diagnostics: JSON
    diagnostics_contradiction: str | None


@dataclass(kw_only=True)
class CheckRow(Section):
    """One check's verdict as the report lists it (`checks`)."""

    asset: str
    check: str
    passed: bool
    severity: str
    message: str
    observed: JSON


@dataclass(kw_only=True)
class Verdict(Section):
    """Every check's verdict, upstream and the quality gate's, and the gate's outcome (written
    at report.json's top level)."""

    checks: list[CheckRow]
    quality_gate: str | None  # "passed" or "failed"; None before the gate judged

    @classmethod
    def from_json(cls, found: Mapping[str, Any] | None) -> Self:
        found = found or {}
        rows = [CheckRow.from_json(row) for row in found.get("checks") or []]
        return cls(checks=rows, quality_gate=found.get("quality_gate"))

    def to_json(self) -> JSON:
        return {"checks": [row.to_json() for row in self.checks], "quality_gate": self.quality_gate}

    @property
    def passed(self) -> bool:
        return self.quality_gate == "passed"


@dataclass(kw_only=True)
class Promotion(Section):
    """The challenger against the champion in service, and what it says (`promotion`)."""

    verdict: str
    challenger: str
    champion: str | None
    line: str  # the one sentence a person reads
    judgement: JSON | None
    sources: list
    schema: JSON


@dataclass(kw_only=True)
class Release(Section):
    """The exported model's version and its promotion; both None when the gate failed
    (written at report.json's top level)."""

    nested: ClassVar[Mapping[str, type[Section]]] = {"promotion": Promotion}

    model_version: str | None
    promotion: Promotion | None


# --- the whole report ------------------------------------------------------------------------


@dataclass(kw_only=True)
class Report(Section):
    """report.json: the evaluation's sections, then what the later stages add."""

    nested: ClassVar[Mapping[str, type[Section]]] = {
        "dataset": Dataset,
        "threshold": ThresholdChoice,
        "holdout": Metrics,
        "holdout_ci": HoldoutIntervals,
        "skill": Skill,
        "operating_point": OperatingPoint,
        "holdout_at_0_5": Metrics,
        "baseline_holdout": Metrics,
        "baseline_holdout_tuned": Metrics,
        "vs_baseline": VsBaseline,
        "evidence": Evidence,
        "verdict": Verdict,
        "release": Release,
    }

    dataset: Dataset
    fitting_rows: JSON  # the negatives sampled before fitting, when any were
    selected_strategy: str
    selection_reason: str
    threshold: ThresholdChoice
    cv: dict[str, JSON]  # per strategy: everything the selection rule used
    holdout: Metrics  # the selected model at its tuned threshold
    holdout_ci: HoldoutIntervals
    skill: Skill | None = optional()  # absent from reports before the exact tests
    operating_point: OperatingPoint
    calibration: JSON
    holdout_at_0_5: Metrics
    baseline_holdout: Metrics  # `none` at 0.5
    baseline_holdout_tuned: Metrics  # `none` at its own tuned threshold
    vs_baseline: VsBaseline
    subgroups: dict[str, JSON]
    audits: dict[str, JSON]
    fold_audits: dict[Any, Any]  # fold -> its audit: int keys in memory, text in the file
    plots: dict[str, str]  # plot name -> file name beside report.json
    notes: list[str]
    monitoring_reference: JSON  # see `monitoring.Reference`
    settings: JSON
    generated_at: str | None = optional()  # the clock; left out where it would differ
    run_id: str | None
    evidence: Evidence | None = flat()
    verdict: Verdict | None = flat()
    recommendation: JSON | None = optional()  # `advice.Recommendation`'s JSON
    trained_rows: JSON | None = optional()  # only a model that passed the gate has them
    release: Release | None = flat()

    @property
    def passed(self) -> bool:
        """The quality gate passed (False before it was judged)."""
        return self.verdict is not None and self.verdict.passed
