"""Champion against challenger: is a retrained model not worse than the one in service?

Both models score the same rows, rows neither of them trained on (`promotion_rows`), and are
compared in two ways:

- Ranking: the challenger's PR-AUC minus the champion's, with a paired bootstrap interval
  (`paired.pr_auc_difference`, the one the report's comparison with the baseline prints: each
  replicate resamples the rows once and scores both models on them, so what the rows share
  cancels; read as a bias-corrected percentile interval expanded for the positives' count).
  Its one-sided bounds (a two-sided `LEVEL` interval) decide against the non-inferiority
  margin `promotion_margin`.
- Decisions, each model at its own threshold: exact one-sided McNemar tests on the positives
  one model catches and the other misses, and on the negatives one flags and the other does
  not. The flag rates are reported beside them.

The verdict:

- `worse` (the champion stays) when the upper bound of the PR-AUC difference lies below
  -margin, or the challenger misses significantly more of the same positives (p < `ALPHA`)
  without raising significantly fewer false alarms. A trade of catches for fewer false alarms
  is the threshold objective's choice, and more false alarms alone are shown, not refused: two
  retrainings of equal quality tune thresholds apart, and with thousands of negatives a test
  on them would refuse 7-15 % of such challengers (BENCHMARKS.md, "Promotion at few positives");
- `promote` when the lower bound is at least -margin (and the decisions are not worse);
- `undecided` otherwise, or with fewer than `MIN_POSITIVES` shared positives: too few to tell,
  and the champion stays (the stated default; `imbal-pipeline promote VERSION` overrides).

`benchmarks/statistics_promotion.py` measures how often each verdict is wrong at the sizes
users have (BENCHMARKS.md, "Promotion at few positives").
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binom
from sklearn.metrics import average_precision_score

from imbal_pipeline.core.monitor.promotion_rows import rows_text, schema_change, shared_rows
from imbal_pipeline.core.stats import paired
from imbal_pipeline.core.stats.intervals import BOOTSTRAP_REPLICATES

PROMOTE, WORSE, UNDECIDED, FIRST = "promote", "worse", "undecided", "first"
# Verdicts made without a comparison: a model trained on the generated demo data gives way to
# one trained on a user's file; a model rolled back is not put back by a run.
REPLACES_DEMO, ROLLED_BACK = "replaces demo", "rolled back"
# The verdicts that put the challenger in service.
PROMOTING = (FIRST, PROMOTE, REPLACES_DEMO)
# What a model predicts: two that differ in either are not compared.
PREDICTED = ("target", "positive_label")
# Two-sided level of the PR-AUC interval: each of its ends is a one-sided 95% bound.
LEVEL = 0.90
# One-sided level of each decisions test (McNemar, on the positives and on the negatives).
ALPHA = 0.05
# Below this many shared positives the verdict is `undecided` whatever the figures: the paired
# bootstrap then says too little (BENCHMARKS.md, "Promotion at few positives").
MIN_POSITIVES = 10
REPLICATES = BOOTSTRAP_REPLICATES


@dataclass(frozen=True)
class Decisions:
    """Each model's decisions at its own threshold, on the same rows.

    Exact one-sided McNemar tests on the rows one model flags and the other does not: among the
    positives (caught by one alone) and among the negatives (false alarms of one alone).
    """

    champion_flagged: int
    challenger_flagged: int
    champion_caught: int  # positives flagged
    challenger_caught: int
    only_champion: int  # positives the champion flags and the challenger misses
    only_challenger: int
    false_only_champion: int  # negatives the champion flags and the challenger does not
    false_only_challenger: int

    @property
    def p_misses_more(self) -> float:
        """The challenger misses more of the same positives."""
        return mcnemar(self.only_champion, self.only_challenger)

    @property
    def p_catches_more(self) -> float:
        return mcnemar(self.only_challenger, self.only_champion)

    @property
    def p_more_false(self) -> float:
        """The challenger raises more false alarms on the same negatives."""
        return mcnemar(self.false_only_challenger, self.false_only_champion)

    @property
    def p_fewer_false(self) -> float:
        return mcnemar(self.false_only_champion, self.false_only_challenger)

    @property
    def worse(self) -> str | None:
        """Why the challenger's decisions are worse, or None: it misses significantly more of
        the same positives without raising significantly fewer false alarms (a trade of catches
        for false alarms is the threshold objective's to make)."""
        if self.p_misses_more >= ALPHA or self.p_fewer_false < ALPHA:
            return None
        return (
            f"it misses more of the same positives ({self.only_champion} caught by the champion "
            f"alone, {self.only_challenger} by it alone; McNemar p = {self.p_misses_more:.2g}) "
            "without fewer false alarms"
        )


@dataclass(frozen=True)
class Judgement:
    """The comparison on the shared rows and its verdict."""

    verdict: str
    rows: int
    positives: int
    margin: float
    champion_pr_auc: float | None
    challenger_pr_auc: float | None
    diff: float | None  # challenger minus champion
    low: float | None  # one-sided 95% bounds of the difference
    high: float | None
    decisions: Decisions | None
    reason: str  # the verdict in words, with its figures

    def to_json(self) -> dict:
        out = asdict(self)
        if self.decisions is not None:
            d = self.decisions
            tests = ("p_misses_more", "p_catches_more", "p_more_false", "p_fewer_false")
            out["decisions"] = asdict(d) | {name: getattr(d, name) for name in tests}
        return out


def mcnemar(this_way: int, other_way: int) -> float:
    """P(at least `this_way` of the discordant rows go this way) when each is as likely to go
    either way: the exact one-sided McNemar p-value."""
    n = this_way + other_way
    if n == 0:
        return 1.0
    return float(binom.sf(this_way - 1, n, 0.5))


def decisions(y: np.ndarray, a: np.ndarray, t_a: float, b: np.ndarray, t_b: float) -> Decisions:
    """The champion's (`a` at `t_a`) and the challenger's (`b` at `t_b`) decisions compared."""
    y = np.asarray(y).astype(bool)
    flag_a, flag_b = np.asarray(a) >= t_a, np.asarray(b) >= t_b
    return Decisions(
        champion_flagged=int(flag_a.sum()),
        challenger_flagged=int(flag_b.sum()),
        champion_caught=int(np.sum(y & flag_a)),
        challenger_caught=int(np.sum(y & flag_b)),
        only_champion=int(np.sum(y & flag_a & ~flag_b)),
        only_challenger=int(np.sum(y & flag_b & ~flag_a)),
        false_only_champion=int(np.sum(~y & flag_a & ~flag_b)),
        false_only_challenger=int(np.sum(~y & flag_b & ~flag_a)),
    )


def judge(
    y: np.ndarray,
    champion: np.ndarray,
    champion_threshold: float,
    challenger: np.ndarray,
    challenger_threshold: float,
    margin: float,
    *,
    seed: int = 0,
    n_boot: int = REPLICATES,
    least: int = MIN_POSITIVES,
) -> Judgement:
    """The verdict on the same rows: `y` (0/1) and each model's scores and threshold; with
    fewer than `least` positives, undecided."""
    y = np.asarray(y).astype(int)
    rows, positives = len(y), int(y.sum())
    if positives < max(1, least) or positives == rows:
        blank = dict.fromkeys(("champion_pr_auc", "challenger_pr_auc", "diff", "low", "high"))
        unmeasured = Judgement(
            UNDECIDED, rows, positives, margin, decisions=None, reason="", **blank
        )
        return at_margin(unmeasured, margin)
    a, b = np.asarray(champion, dtype=float), np.asarray(challenger, dtype=float)
    # The challenger is the "model" and the champion the "baseline": the difference is b - a.
    y_bool = y.astype(bool)
    diff = paired.pr_auc_difference(y_bool, b, a, n_boot, np.random.default_rng(seed), LEVEL)
    measured = Judgement(
        UNDECIDED,
        rows,
        positives,
        margin,
        champion_pr_auc=float(average_precision_score(y, a)),
        challenger_pr_auc=float(average_precision_score(y, b)),
        diff=diff["diff"],
        low=diff["ci_low"],
        high=diff["ci_high"],
        decisions=decisions(y, a, champion_threshold, b, challenger_threshold),
        reason="",
    )
    return at_margin(measured, margin)


def at_margin(j: Judgement, margin: float) -> Judgement:
    """The same figures judged against `margin`: the verdict and its reason."""
    bound = f"-{margin:.3g} margin"
    d = j.decisions
    if j.diff is None or j.low is None or j.high is None or d is None:  # unmeasured
        verdict = UNDECIDED
        reason = (
            f"too few shared positives to decide ({j.positives}; at least {MIN_POSITIVES} needed)"
        )
    elif j.high < -margin:
        verdict, reason = WORSE, f"its PR-AUC is lower beyond the {bound}"
    elif d.worse is not None:
        verdict, reason = WORSE, d.worse
    elif j.low >= -margin:
        verdict, reason = PROMOTE, _within_margin(j.diff, j.low, j.high, margin)
    else:  # enough positives, but the interval reaches across -margin
        verdict = UNDECIDED
        reason = straddles(j.low, j.high, margin)
    return dataclasses.replace(j, verdict=verdict, margin=margin, reason=reason)


def straddles(low: float, high: float, margin: float) -> str:
    """Why a challenger measured on enough positives is undecided: its PR-AUC difference's
    interval holds -margin, so it is shown neither within the margin nor worse beyond it."""
    return (
        f"its PR-AUC difference's one-sided 95% bounds {low:+.3f} to {high:+.3f} reach across "
        f"the -{margin:.3g} margin: it is shown neither within the margin nor below it"
    )


def _within_margin(diff: float, low: float, high: float, margin: float) -> str:
    """Why a challenger is promoted, saying plainly when it scored worse: the margin lets a
    challenger in that is worse by less than it, even beyond noise."""
    if round(diff, 3) >= 0:  # "worse by 0.000" would say what the printed figures do not
        return f"its PR-AUC is not lower beyond the -{margin:.3g} margin"
    bounds = f"one-sided 95% bounds {low:+.3f} to {high:+.3f}"
    noise = (
        f"beyond noise ({bounds}, both below 0), but"
        if high < 0
        else f"within noise ({bounds}), and"
    )
    return f"its PR-AUC is worse by {-diff:.3f}, {noise} within the {margin:.3g} margin allowed"


def figures_text(j: Judgement) -> str:
    """The comparison's figures in one phrase (only the counts when too few to measure)."""
    d = j.decisions
    if j.diff is None or d is None:
        return f"{j.positives} positives in {j.rows:,} shared rows"
    return (
        f"PR-AUC {j.challenger_pr_auc:.3f} vs {j.champion_pr_auc:.3f} (difference "
        f"{j.diff:+.3f}, one-sided 95% bounds {j.low:+.3f} to {j.high:+.3f}); "
        f"caught {d.challenger_caught} vs {d.champion_caught} of {j.positives} positives, "
        f"flagged {100 * d.challenger_flagged / j.rows:.2f}% vs "
        f"{100 * d.champion_flagged / j.rows:.2f}% of {j.rows:,} shared rows"
    )


# --- the comparison of two deployed models, and what it says -------------------------------

SAME, UNREADABLE = "same", "unreadable"


def evidence(verdict: str, challenger: str, champion: str | None, line: str, **more) -> dict:
    """The comparison as a run's report, the deployed model's metadata and the champion
    records keep it."""
    return {
        "verdict": verdict,
        "challenger": challenger,
        "champion": champion,
        "line": line,
        "judgement": None,
        "sources": [],
        "schema": {"added": [], "removed": []},
        **more,
    }


def first(challenger: str) -> dict:
    """No model is in service: the challenger is promoted, as every model was before."""
    return evidence(
        FIRST,
        challenger,
        None,
        f"model {challenger} promoted: the first champion (none in service)",
    )


def same(challenger: str) -> dict:
    return evidence(SAME, challenger, challenger, f"model {challenger} is the champion already")


def kept(challenger: str, champion: str | None, why: str, verdict: str = UNREADABLE) -> dict:
    """The champion stays without a comparison (it cannot be read, or the models predict
    different things)."""
    line = (
        f"model {challenger} not promoted, {champion or 'the champion'} stays in service: {why}; "
        f"`imbal-pipeline promote {challenger}` overrides"
    )
    return evidence(verdict, challenger, champion, line)


def rolled_back(challenger: str, champion: str, rollback: dict) -> dict:
    """The challenger was taken out of service by a rollback: a run does not undo that (a
    rerun of the run that made it would otherwise put it straight back)."""
    why = f" ({rollback['reason']})" if rollback.get("reason") else ""
    line = (
        f"model {challenger} not promoted, {champion} stays in service: {challenger} was rolled "
        f"back on {rollback['time']}{why}, and a run never puts a rolled-back "
        f"model back; `imbal-pipeline promote {challenger}` puts it back"
    )
    return evidence(ROLLED_BACK, challenger, champion, line)


def replaces_demo(champion, challenger, source: str) -> dict | None:
    """The challenger replaces, without a comparison, a champion trained on the generated demo
    data when it was trained on a user's file (`source`); None otherwise. Never between two
    models of users' files, nor for a model that does not record its data (an older one)."""
    demo, own = champion.meta.get("generated_data"), challenger.meta.get("generated_data")
    if demo is not True or own is not False:
        return None
    a, b = champion.version, challenger.version
    line = (
        f"model {b} promoted, replacing {a} without a comparison: {a} was trained on the "
        f"generated demo data ({_predicts(champion)}), and a model trained on your own file "
        f"({source}) takes its place (never between two models of your own data); "
        f"`imbal-pipeline rollback` puts {a} back"
    )
    return evidence(REPLACES_DEMO, b, a, line)


def _predicts(model) -> str:
    return f"target {model.meta.get('target')!r} = {model.meta.get('positive_label')}"


def other_dataset(champion, challenger) -> dict | None:
    """When the two were trained on different datasets, the evidence that says so: they predict
    different targets or positive classes, or share no feature. Not comparable, and one store
    serves one model; the line says how they differ and both ways out. None otherwise."""
    a, b = champion.version, challenger.version
    if any(str(champion.meta.get(f)) != str(challenger.meta.get(f)) for f in PREDICTED):
        differs = f"predicts another thing ({_predicts(champion)})"
    else:
        theirs, ours = _features(champion.feature_schema), _features(challenger.feature_schema)
        if theirs & ours:
            return None  # a feature in common: the same dataset, its schema changed
        differs = f"was trained on other columns (none of this model's {len(ours)} features)"
    line = (
        f"model {b} ({_predicts(challenger)}) not put in service: the model in service, {a}, "
        f"{differs}, and a store serves one model at a time; `imbal-pipeline promote {b}` puts "
        f"{b} in its place, or run each dataset in a folder of its own (its own project, store "
        "and model in service)"
    )
    return evidence(UNREADABLE, b, a, line)


def _features(schema: dict) -> set[str]:
    return {*schema["numeric"], *schema["categorical"]}


def compare(
    champion, challenger, champion_rows, challenger_rows, sources, margin: float, *, seed: int = 0
) -> dict:
    """The champion (`deployed.Model`) and the challenger compared on the rows of `sources`
    neither trained on (`promotion_rows.shared_rows`), with the verdict in one line."""
    a, b = champion.version, challenger.version
    other = other_dataset(champion, challenger)
    if other is not None:
        return other
    y, sa, sb, used = shared_rows(champion, challenger, champion_rows, challenger_rows, sources)
    j = judge(y, sa, champion.threshold, sb, challenger.threshold, margin, seed=seed)
    rows = rows_text(used)
    if j.verdict == PROMOTE:
        line = f"model {b} promoted, replacing {a}: {j.reason}; {figures_text(j)}; on {rows}"
    else:
        line = (
            f"model {b} not promoted, {a} stays in service: {j.reason}; {figures_text(j)}; on "
            f"{rows}; `imbal-pipeline promote {b}` overrides"
        )
    return evidence(
        j.verdict,
        b,
        a,
        line,
        judgement=j.to_json(),
        sources=[u.to_json() for u in used],
        schema=schema_change(champion.feature_schema, challenger.feature_schema),
    )
