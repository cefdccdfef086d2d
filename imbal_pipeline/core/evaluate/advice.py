"""One recommendation: the imbalance tier, the data diagnostics, the learning curve and the
quality gate read together into one piece of advice, with the reason each of them gives.

Each part alone says something different (the diagnostics which strategy to start from, the
curve whether positives pay, the gate whether the model may ship), and read side by side they
sounded like three pieces of advice. `recommend` decides one action from all of them:

- the gate failed: collect more positives, unless the curve is flat (then more positives of
  this kind cannot fix it, the features or labels must change);
- the gate passed: collect more positives when the last doubling helped beyond noise, work on
  the features when it was flat, otherwise keep the model as it is.

A model that passed the gate is exported as a challenger, not put in service: the paragraph
opens with what its promotion decided (promoted, refused as worse, or not promoted and why),
and what the user can do about it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from imbal_pipeline.core.evaluate.diagnostics import RESAMPLERS
from imbal_pipeline.core.evaluate.learning import LastDoubling
from imbal_pipeline.core.monitor.promotion import (
    FIRST,
    MIN_POSITIVES,
    PROMOTE,
    REPLACES_DEMO,
    ROLLED_BACK,
    SAME,
    UNDECIDED,
    WORSE,
    straddles,
)
from imbal_pipeline.core.report_model import Dataset, Promotion, ThresholdChoice
from imbal_pipeline.core.settings import LADDER
from imbal_pipeline.core.train.gates import Gate

ACTIONS = ("collect_positives", "improve_features", "keep")

# What a failed blocking check of the quality gate means, in the words of the recommendation
# (its own message also names a fix, which the recommendation decides instead).
_GATE_MEANS = {
    "beats_no_skill": "the holdout cannot show that the model ranks positives better than chance",
    "not_worse_than_baseline": "the model did worse than the no-handling baseline beyond noise",
}


@dataclass(frozen=True)
class Tier:
    """The training split's imbalance tier and where that tier usually starts."""

    name: str  # balanced, mild, moderate or severe
    ratio: float  # negatives per positive
    starts_from: str

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> Tier:
        """From the report's `dataset`."""
        return cls(dataset.tier, float(dataset.ratio), dataset.recommendation)


@dataclass(frozen=True)
class DataPicture:
    """What the data diagnostics found that bears on the advice."""

    prefers: str | None  # "weights", or None for no preference
    hard_share: float  # positives that are borderline, rare or outliers
    n3: float
    label_conflicts: int

    @classmethod
    def from_diagnostics(cls, diagnostics: dict) -> DataPicture:
        """From the `data_diagnostics` result (report.json's `diagnostics`)."""
        kinds = diagnostics["typology"]
        hard = kinds["borderline"] + kinds["rare"] + kinds["outlier"]
        return cls(
            prefers=diagnostics.get("prefers"),
            hard_share=hard / max(1, sum(kinds.values())),
            n3=float(diagnostics["n3"]),
            label_conflicts=int(diagnostics["label_conflicts"]),
        )


@dataclass(frozen=True)
class Recommendation:
    """The report's one piece of advice: the action, the paragraph, and each part's reason."""

    action: str  # one of ACTIONS
    paragraph: str
    reasons: dict[str, str]  # tier, diagnostics, learning_curve, quality_gate

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def recommend(
    tier: Tier,
    selected: str,
    picture: DataPicture | None,
    doubling: LastDoubling | None,
    gate: list[Gate],
    holdout_positives: int,
    threshold: ThresholdChoice | None = None,
    promotion: Promotion | None = None,
    caveats: tuple[str, ...] = (),
) -> Recommendation:
    """The one piece of advice from the tier, diagnostics, learning curve and quality gate;
    `threshold` names the deployed threshold, `promotion` says what became of a model that
    passed the gate (None: no promotion was decided), `caveats` the upstream warnings that
    bear on any of it (`CAVEATS`)."""
    failed = [g for g in gate if g.blocks]
    verdict = doubling.verdict if doubling else None
    if failed:
        action = "improve_features" if verdict == "flat" else "collect_positives"
    else:
        actions = {"helps": "collect_positives", "flat": "improve_features"}
        action = actions.get(verdict, "keep") if verdict else "keep"
    reasons = {
        "quality_gate": _gate_reason(failed, holdout_positives),
        "learning_curve": _curve_reason(doubling, bool(failed)),
        "diagnostics": _picture_reason(picture, selected),
        "tier": _tier_reason(tier, selected),
    }
    lead = _FAILED_TEXT[action] if failed else _passed(action, selected, threshold, promotion)
    paragraph = (
        f"{lead} Why: "
        + "; ".join(reasons[k] for k in ("quality_gate", "learning_curve", "diagnostics", "tier"))
        + "."
    )
    for caveat in caveats:
        paragraph += f" Mind a warning that bears on this: {caveat}."
    return Recommendation(action, paragraph, reasons)


# Upstream warnings that undo what the advice rests on: a group too large for the folds makes
# the folds, the holdout and the monitoring reference no random samples of the data (mammography:
# the model's probability for its 2,324 identical rows was 80 times their positive rate).
CAVEATS = ("groups_fit_the_folds",)


_FAILED_TEXT = {
    "collect_positives": "Collect more positives before relying on this model: it is not exported.",
    "improve_features": "Work on the features (or the labels), not on more positives of this "
    "kind: the model is not exported.",
}
_PASSED_TEXT = {
    "collect_positives": "Collecting more positives should still pay.",
    "improve_features": "To do better, work on the features, not on more positives of this kind.",
    "keep": "For the next training, keep {selected} and {threshold}.",
}


ITS_TUNED = "its tuned threshold"


def _passed(
    action: str, selected: str, threshold: ThresholdChoice | None, promotion: Promotion | None
) -> str:
    """What became of the model, then what to do next."""
    named = threshold.named(tuned=ITS_TUNED) if threshold is not None else ITS_TUNED
    return f"{service(promotion)} {_PASSED_TEXT[action].format(selected=selected, threshold=named)}"


def service(promotion: Promotion | None) -> str:
    """What became of a model that passed the quality gate: exported as a challenger, then
    promoted, refused or not promoted (and why), with what the user can do about it."""
    if promotion is None:  # outside a run (`method`): nothing exported, nothing compared
        return "The model passed the quality gate; no promotion was decided for it."
    passed = "The model passed the quality gate and was exported as a challenger"
    verdict, champion = promotion.verdict, promotion.champion or "the champion"
    if verdict == FIRST:
        return f"{passed}, then promoted: the first model in service."
    if verdict == PROMOTE:
        return f"{passed}, then promoted: it replaces {champion} in service."
    if verdict == REPLACES_DEMO:
        return (
            f"{passed}, then promoted: it replaces {champion}, the model of the generated demo "
            "data, in service."
        )
    if verdict == SAME:
        return f"{passed}; it is the model in service already."
    if verdict == WORSE:
        why = f"promotion refused it as worse than {champion}"
    elif verdict == ROLLED_BACK:
        why = (
            "not promoted: it was rolled back once, and a run never puts it back in place of "
            f"{champion}"
        )
    elif verdict == UNDECIDED:
        why = _undecided(promotion.judgement or {}, champion)
    else:
        why = f"not promoted: it could not be compared with {champion} (see Promotion)"
    override = f"`imbal-pipeline promote {promotion.challenger}` puts it in service anyway"
    if verdict == UNDECIDED and not why.endswith(champion):  # the interval's figures end it
        return f"{passed}, but {why}; {champion} stays in service; {override}."
    return f"{passed}, but {why}, which stays in service; {override}."


def _undecided(judgement: dict, champion: str) -> str:
    """Why a comparison with `champion` decided nothing: too few shared positives to measure,
    or enough, with a PR-AUC difference whose interval reaches across the margin."""
    low, high = judgement.get("low"), judgement.get("high")
    if low is not None and high is not None:
        return f"not promoted against {champion}: {straddles(low, high, judgement['margin'])}"
    few = "too few shared positives"
    if "positives" in judgement:
        few += f" ({judgement['positives']}; at least {MIN_POSITIVES} needed)"
    return f"not promoted: {few} to show it is not worse than {champion}"


def _gate_reason(failed: list[Gate], holdout_positives: int) -> str:
    on = f"{holdout_positives:,} holdout positive{'' if holdout_positives == 1 else 's'}"
    if not failed:
        return f"the quality gate passed on {on}"
    means = [_GATE_MEANS.get(g.name, f"its check {g.name} failed") for g in failed]
    return f"the quality gate failed on {on} ({'; '.join(means)})"


def _curve_reason(doubling: LastDoubling | None, failed: bool) -> str:
    if doubling is None:
        return "the learning curve could not be measured"
    measured = f"{doubling.gain:+.3f} PR-AUC"
    if doubling.ci_low is not None and doubling.ci_high is not None:
        measured += f" [{doubling.ci_low:+.3f}, {doubling.ci_high:+.3f}]"
    if doubling.verdict == "helps":
        return f"the last doubling of the training positives gained {measured}"
    if doubling.verdict == "flat":
        return f"the last doubling of the training positives gained nothing measurable ({measured})"
    if doubling.verdict == "hurts":
        return f"the last doubling of the training positives lowered PR-AUC ({measured})"
    tail = ", so more positives are needed to judge the model at all" if failed else ""
    return f"the folds cannot tell whether more positives raise PR-AUC ({measured}){tail}"


def _picture_reason(picture: DataPicture | None, selected: str) -> str:
    if picture is None:
        return "no data diagnostics were measured"
    labels = (
        f", and {picture.label_conflicts:,} identical feature rows carry both labels (check them)"
        if picture.label_conflicts
        else ""
    )
    if picture.prefers != "weights":
        return (
            f"the data diagnostics ({picture.hard_share:.0%} of the positives borderline, rare "
            f"or outliers; N3 {picture.n3:.3f}) prefer neither weights nor resampling{labels}"
        )
    found = (
        f"{picture.hard_share:.0%} of the positives are borderline, rare or outliers"
        if picture.hard_share >= 0.5
        else f"the classes are well separated (N3 {picture.n3:.3f})"
    )
    if selected in RESAMPLERS:
        return (
            f"{found}, which favours class weights, yet the folds chose {selected} beyond "
            f"noise: check its recall on the borderline and island positives{labels}"
        )
    fits = (
        "as class_weight does"
        if selected == "class_weight"
        else f"and {selected} resamples nothing"
    )
    return f"{found}, which favours class weights over resampling, {fits}{labels}"


def _tier_reason(tier: Tier, selected: str) -> str:
    chose = (
        f"the folds kept {selected}: no strategy beat every simpler one beyond noise"
        if selected == LADDER[0]
        else f"the folds selected {selected}: it beat every simpler strategy beyond noise"
    )
    return (
        f"the {tier.name} tier (1:{tier.ratio:.0f}) usually starts from {tier.starts_from}, and "
        f"{chose}"
    )
