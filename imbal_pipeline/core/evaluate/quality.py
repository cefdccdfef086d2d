"""The report's quality gates: the holdout's verdict, and checks on what the report only shows."""

from __future__ import annotations

import numpy as np

from imbal_pipeline.core import checks
from imbal_pipeline.core.report_model import (
    Difference,
    OperatingPoint,
    Report,
    Skill,
    ThresholdChoice,
    target_verdict,
)
from imbal_pipeline.core.stats.fold_noise import corrected_se
from imbal_pipeline.core.stats.metrics import LABELS
from imbal_pipeline.core.stats.skill import weak_model_fails
from imbal_pipeline.core.train.gates import WARN, Gate, fail, ok
from imbal_pipeline.core.train.threshold import OBJECTIVES

# --- the holdout's verdict -------------------------------------------------------------------


def quality_gate(report: Report) -> list[Gate]:
    """The holdout's verdict, each part read with the holdout's own uncertainty.

    Blocking: the ranking and the decisions must each beat chance by an exact one-sided test
    (false pass <= `skill.ALPHA` each), and the model must not be worse than the no-handling
    baseline at 0.5 beyond noise (paired bootstrap). Warnings: the holdout PR-AUC lies outside
    what cross-validation predicted; the operating point missed what the objective asked.
    """
    return [
        beats_no_skill(report),
        decisions_beat_chance(report),
        not_worse_than_baseline(report),
        cv_holdout_gap(report),
        operating_point(report.operating_point, report.threshold, report.dataset.holdout_positives),
    ]


def _ci(figure: Difference) -> str:
    return f"95% CI {figure.ci_low:.3f} to {figure.ci_high:.3f}"


def _p(p: float, alpha: float) -> str:
    return f"p = {p:.4f}, {'below' if p <= alpha else 'not below'} {alpha}"


def _skill(report: Report) -> Skill:
    """The gate's evidence: every report the gate judges was built with it."""
    if report.skill is None:
        raise ValueError("the report has no skill section, so the quality gate cannot judge it")
    return report.skill


def too_few_positives(report: Report) -> str | None:
    """What to do when the holdout holds too few positives for the gate to tell a weak model
    from chance (`skill.FEW_POSITIVES`, from the gate's measured power); None otherwise."""
    found = _skill(report)
    if not found.few_positives:
        return None
    held, needed = found.holdout_positives, found.few_positives_below
    total = held + (report.dataset.positives or 0)
    share = (
        f" (about {needed / total:.2f} would hold {needed} of your {total:,} positives)"
        if total > needed / 0.5  # a holdout of more than half the rows starves the folds
        else ""
    )
    size, low, high = weak_model_fails(held)
    at = f"at {size} holdout positives" + (" (more than yours)" if size > held else "")
    return (
        f"too few positives for a verdict: the holdout holds {held}, and {at} a model whose "
        f"PR-AUC is 3x the positive rate failed this gate in {low:.0f}-{high:.0f} % of "
        f"simulated holdouts (BENCHMARKS.md); use a larger --holdout-fraction{share} or collect "
        "more positives"
    )


@checks.gate("beats_no_skill")
def beats_no_skill(report: Report) -> Gate:
    """The holdout PR-AUC beats what the same scores reach with the labels placed at random:
    a one-sided permutation test at `skill.ALPHA` (`skill.ranking_test`)."""
    data, found = report.dataset, _skill(report)
    no_skill = data.holdout_positives / data.holdout_rows
    ranking, alpha = found.ranking, found.alpha
    if ranking is None:
        return fail(
            "beats_no_skill",
            "the holdout has one class only, so PR-AUC is undefined; give a holdout with both "
            "classes",
            no_skill=no_skill,
        )
    observed = {"no_skill": no_skill, "alpha": alpha, **ranking.to_json()}
    said = (
        f"holdout PR-AUC {ranking.pr_auc:.3f} against the positive rate {no_skill:.3f} "
        f"(labels placed at random average {ranking.no_skill_mean:.3f} on these scores): "
        f"{_p(ranking.p_value, alpha)} over {ranking.permutations:,} label permutations"
    )
    if ranking.p_value <= alpha:
        return ok("beats_no_skill", said, **observed)
    fix = too_few_positives(report) or (
        "check the features and labels, or give more positives (more data or a larger "
        "--holdout-fraction)"
    )
    return fail(
        "beats_no_skill",
        f"{said}: the holdout cannot show that the model ranks positives better than chance; {fix}",
        **observed,
    )


@checks.gate("decisions_beat_chance")
def decisions_beat_chance(report: Report) -> Gate:
    """The deployed threshold flags holdout rows, and catches more positives among them than
    flagging as many rows at random would: a one-sided exact (hypergeometric) test at
    `skill.ALPHA` (`skill.decisions_test`)."""
    found, threshold = _skill(report), report.threshold
    decisions, alpha = found.decisions, found.alpha
    rows, positives = report.dataset.holdout_rows, report.dataset.holdout_positives
    observed = {"alpha": alpha, **decisions.to_json()}
    at = f"the threshold {threshold.value:.3g}"
    if threshold.fallback:
        at += " (a fallback: the tuned one did not beat 0.5 beyond noise)"
    few = too_few_positives(report)
    if decisions.flagged == 0:
        # A fallback kept for the folds' sake flags no more rows on a larger holdout.
        fix = (
            "a larger holdout would not change that; give more positives to tune on (more "
            "data), or check the threshold objective and the features"
            if threshold.fallback
            else few or "check the threshold objective and the features, or give more positives"
        )
        return fail(
            "decisions_beat_chance",
            f"{at} flags none of the {rows:,} holdout rows, so the model decides nothing; {fix}",
            **observed,
        )
    said = (
        f"{at} flags {decisions.flagged:,} of {rows:,} holdout rows and catches "
        f"{decisions.true_positives} of {positives} positives, where as many rows flagged at "
        f"random catch {decisions.expected_at_random:.2f}: exact test "
        f"{_p(decisions.p_value, alpha)}"
    )
    if decisions.p_value <= alpha:
        return ok("decisions_beat_chance", said, **observed)
    return fail(
        "decisions_beat_chance",
        f"{said}: the decisions are no better than chance; "
        + (few or "check the threshold objective and the features, or give more positives"),
        **observed,
    )


@checks.gate("not_worse_than_baseline")
def not_worse_than_baseline(report: Report) -> Gate:
    """Paired bootstrap on the holdout: PR-AUC and the objective's figure vs `none` at 0.5."""
    same_model, figures = report.vs_baseline.same_model, report.vs_baseline.figures
    compared = [] if same_model else ["pr_auc"]
    figure = OBJECTIVES[report.threshold.objective].versus_baseline
    compared += [figure] if figure else []
    found = {name: figures[name] for name in compared if name in figures}
    parts = [f"{LABELS[name]} {d.diff:+.3f} ({_ci(d)})" for name, d in found.items()]
    worse = [LABELS[name] for name, d in found.items() if d.ci_high < 0]
    threshold = report.threshold
    at = threshold.named(short=True, tuned="its tuned threshold")
    held, at_half = report.holdout, report.holdout_at_0_5
    if same_model and held and at_half and held.threshold == at_half.threshold:
        # The same model at the same threshold: every difference is 0 by construction.
        parts = []
        head = (
            f"the selected model is the baseline (`none`) at {at}, 0.5 itself, so its "
            "decisions are the baseline's"
        )
    elif same_model:
        head = (
            "the selected model is the baseline (`none`), so their rankings are the same; at "
            f"{at} vs 0.5"
        )
    else:
        head = f"selected model at {at} minus the baseline (`none`) at 0.5"
    said = f"{head}: {', '.join(parts) if parts else 'nothing to compare'}"
    observed = {name: d.to_json() for name, d in found.items()}
    if not worse:
        shown = f"; {_no_evidence(found)}" if parts else ""
        return ok("not_worse_than_baseline", said + shown, **observed)
    # With the baseline selected only the threshold differs, so a strategy cannot be the fix.
    fix = (
        "the threshold chosen on out-of-fold scores did not hold on the holdout: give more "
        "positives (more data or a larger --holdout-fraction), or check the holdout for drift"
        if same_model
        else "rerun with --strategies none,class_weight, or check the holdout for drift"
    )
    return fail(
        "not_worse_than_baseline",
        f"{said}; worse than the baseline on {', '.join(worse)} beyond noise: {fix}",
        **observed,
    )


def _no_evidence(found: dict[str, Difference]) -> str:
    """What a pass shows: no evidence of worse (each interval reaches 0), not "as good"."""
    lower = [f"{LABELS[name]} {d.diff:+.3f}" for name, d in found.items() if d.diff < 0]
    if not lower:
        return "no figure is lower than the baseline's"
    return (
        f"lower on the point estimate ({', '.join(lower)}), but each interval includes 0: "
        "no evidence it is worse beyond noise, which does not show it is as good"
    )


@checks.gate("cv_holdout_gap")
def cv_holdout_gap(report: Report) -> Gate:
    """Does the holdout PR-AUC lie where cross-validation predicted, given both uncertainties?

    The CV mean's standard error is the fold SD over sqrt(K), widened for overlapping training
    portions (Nadeau & Bengio); the holdout's is read off its bootstrap interval. A gap beyond
    1.96 combined standard errors is a warning, worded by its sign: holdout below CV, the CV
    estimate may be optimistic (or the holdout unlucky); above, pessimistic (or it lucky).
    """
    cv = report.cv[report.selected_strategy]
    holdout, interval = report.holdout.pr_auc, report.holdout_ci.get("pr_auc")
    k, std = cv["folds"], cv["pr_auc_std"]
    if holdout is None or interval is None or not k or k < 2 or std is None:
        return ok("cv_holdout_gap", "no CV or holdout PR-AUC to compare")
    se_cv = corrected_se(std, k)
    se_holdout = (interval.ci_high - interval.ci_low) / (2 * 1.96)
    gap = cv["pr_auc_mean"] - holdout
    z = gap / max(np.hypot(se_cv, se_holdout), 1e-12)
    observed = {"gap": gap, "se_cv": se_cv, "se_holdout": se_holdout, "z": float(z)}
    said = (
        f"CV PR-AUC {cv['pr_auc_mean']:.3f} (SE {se_cv:.3f}) vs holdout {holdout:.3f} "
        f"(SE {se_holdout:.3f}): gap {gap:+.3f}, {abs(z):.1f} combined standard errors"
    )
    n = report.dataset.holdout_positives
    if abs(z) <= 1.96:  # not a finding that they agree: at few positives the noise is wide
        said += f"; the gap is within the noise of the CV folds and of {n} holdout positives"
        return ok("cv_holdout_gap", said, **observed)
    # The sign says which estimate to doubt; a random split of one file is one distribution.
    other = (
        ", or the --test-data file comes from another distribution"
        if (report.settings or {}).get("test_data_path")
        else ""
    )
    why = (
        f"the CV estimate may be optimistic (or the holdout unlucky at {n} positives){other}"
        if gap > 0
        else f"the CV estimate may be pessimistic (or the holdout lucky at {n} positives){other}"
    )
    return fail(
        "cv_holdout_gap",
        f"{said} (> 1.96): {why}; compare their feature distributions, and check duplicates "
        "and groups",
        severity=WARN,
        **observed,
    )


@checks.gate("operating_point")
def operating_point(
    found: OperatingPoint, threshold: ThresholdChoice | None = None, positives: int | None = None
) -> Gate:
    """Whether the holdout reached what the threshold objective asked for (a warning if not),
    at `threshold` (named a fallback when it is one), read against the interval of a holdout
    of `positives`."""
    reached, asked, point = found.reached, found.asked, found.to_json()
    if found.objective == "recall":
        target, recall = asked["recall"], reached["recall"]
        ci = (
            f" (95% CI {reached['ci_low']:.3f}-{reached['ci_high']:.3f})"
            if "ci_low" in reached
            else ""
        )
        said = f"holdout recall {recall:.3f}{ci} against the recall target {target}"
        said += f": {target_verdict(point, positives)}"
        if found.met:
            return ok("operating_point", said, **point)
        # Only a target beyond the interval's top shows the threshold does not hold.
        fix = (
            "the threshold was tuned on out-of-fold predictions and does not hold on the "
            "holdout: give more positives, or lower --recall-target"
            if found.clearly_missed
            else "give more positives (more data or a larger --holdout-fraction) to tell, or "
            "lower --recall-target"
        )
        return fail("operating_point", f"{said}; {fix}", severity=WARN, **point)
    if found.objective == "cost":
        said = (
            f"holdout cost {reached['cost_per_1000']:.1f} per 1,000 rows; flagging nothing "
            f"costs {reached['flag_nothing_per_1000']:.1f}, flagging everything "
            f"{reached['flag_everything_per_1000']:.1f}"
        )
        if found.met:
            return ok("operating_point", said, **point)
        return fail(
            "operating_point",
            f"{said}: the model costs more than a constant decision; check --fp-cost and "
            "--fn-cost, or the features",
            severity=WARN,
            **point,
        )
    name = found.objective
    value = reached[name]
    ci = (
        f" (95% CI {reached['ci_low']:.3f}-{reached['ci_high']:.3f})" if "ci_low" in reached else ""
    )
    at = threshold.named(short=True) if threshold else "the tuned threshold"
    # F1 and F-beta are maximized, not aimed at: there is nothing to reach, so nothing passed.
    return ok(
        "operating_point",
        f"holdout {name} {value:.3f}{ci} at {at}; the {name} objective sets no target, so this "
        "figure is reported, not judged",
        **point,
    )


# --- what the report only shows ------------------------------------------------------------
# A fault in these never blocks the model: they warn, and the report still shows what they hold.


@checks.gate("counterfactual_sane")
def counterfactual_sane(claim: dict) -> Gate:
    """The leak panel measured something real, or says why it could not."""
    if claim.get("skipped"):
        return ok("counterfactual_sane", f"skipped: {claim['skipped']}", skipped=claim["skipped"])
    observed = {k: claim[k] for k in ("pr_auc", "f1_at_0_5", "test_rows", "synthetic_test_rows")}
    if 0.0 <= claim["pr_auc"] <= 1.0 and claim["synthetic_test_rows"] > 0:
        return ok(
            "counterfactual_sane",
            f"SMOTE before the split claims PR-AUC {claim['pr_auc']:.3f} on a test part holding "
            f"{claim['synthetic_test_rows']:,} synthetic rows",
            **observed,
        )
    return fail(
        "counterfactual_sane",
        "the counterfactual's test part holds no synthetic rows or its PR-AUC is out of range; "
        "report this as a bug",
        severity=WARN,
        **observed,
    )


@checks.gate("curve_fits_complete")
def curve_fits_complete(part: dict) -> Gate:
    """Every fit dealt to a step of the learning curve is in it, scored in range or skipped."""
    dealt = sorted(tuple(fit) for fit in part["dealt"])
    done = sorted((f["fold"], f["fraction"]) for f in [*part["points"], *part["skipped"]])
    out_of_range = [
        p for p in part["points"] if not (0.0 <= p["pr_auc"] <= 1.0 and p["positives"] >= 1)
    ]
    observed = {
        "dealt": len(dealt),
        "scored": len(part["points"]),
        "skipped": len(part["skipped"]),
        "out_of_range": len(out_of_range),
    }
    if done == dealt and not out_of_range:
        return ok(
            "curve_fits_complete",
            f"{len(part['points'])} of the {len(dealt)} fits dealt to this step scored, "
            f"{len(part['skipped'])} skipped with a reason",
            **observed,
        )
    return fail(
        "curve_fits_complete",
        f"the step holds {len(done)} fits for the {len(dealt)} dealt to it, "
        f"{len(out_of_range)} out of range; report this as a bug",
        severity=WARN,
        **observed,
    )


@checks.gate("learning_curve_consistent")
def learning_curve_consistent(curve: dict, n_folds: int) -> Gate:
    """Every planned fit was made in every fold, on more positives the larger the share."""
    if curve["skipped"]:
        return ok("learning_curve_consistent", curve["sentence"], skipped=curve["skipped"])
    positives = [p["positives"] for p in curve["points"]]
    values = [v for p in curve["points"] for v in p["pr_auc_folds"]]
    expected = n_folds * curve["fits_per_fold"]
    observed = {"positives": positives, "fits": curve["fits"]}
    if (
        curve["fits"] == expected
        and all(a < b for a, b in zip(positives[:-1], positives[1:], strict=True))
        and all(0.0 <= v <= 1.0 for v in values)
    ):
        return ok("learning_curve_consistent", curve["sentence"], **observed)
    return fail(
        "learning_curve_consistent",
        f"the learning curve has {curve['fits']} fits (expected {expected}) or shares that do "
        "not grow; report this as a bug",
        severity=WARN,
        **observed,
    )
