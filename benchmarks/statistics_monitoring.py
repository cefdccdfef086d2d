"""Monitoring at batch sizes users have: false alarms without drift, and what each check catches.

Run from the project root with the project's virtualenv:

    .venv/bin/python benchmarks/statistics_monitoring.py            # 1,000 batches per cell
    .venv/bin/python benchmarks/statistics_monitoring.py --quick    # a few seconds

No model is fitted: rows are drawn from known distributions, and every verdict is made by the
pipeline's own statistics (`imbal_pipeline.core.stats.monitor_stats`), as the checks make them.

- **Population.** A rare class at 2 %. Three important numeric features carry the signal
  (x | y ~ N(y d / sqrt 3, 1) each); the other features are noise: 80 % numeric N(0, 1),
  20 % categorical with 5 to 40 levels (Zipf shares), one of them with a long tail of 3,000
  levels (never all seen in training). A third of the features have 5 % missing values.
- **Model.** A fold bag of K = 5 members. Member k scores a row sigmoid(-3 + u + e_k) with
  u | y ~ N(d y, 1) and member noise e_k ~ N(0, 0.5^2); the bag averages the five. With 0.5
  a member's ROC-AUC trails the bag's by about 0.01, as the deployed members' did on
  `make_fraud_data` (8,000 training rows: 0.926-0.933 against the bag's 0.939, flag rate
  1.28 % for the bag against 1.41 % out of fold); the reference table also runs 1.0. The
  threshold maximises F2 on the members' scores; the calibrator is the members' exact
  posterior. Weak: d = 1.3 (bag ROC-AUC about 0.81); strong: d = 3.0 (about 0.98).
- **Features and scores are drawn apart**: each check's rate is exact; the features'
  distributions follow the scenario (a shifted feature, the classes' new mixture).
- **Reference, as `build_reference` makes it.** Features from N training rows; the flag rate,
  the expected positives and the score bins from the N out-of-fold scores (one member each),
  corrected by the paired bag-minus-members difference on N / 4 holdout rows.
- **Batches.** Feature counts are drawn as multinomials over the reference's own bins from the
  known distribution; scores row by row. Drifts: one important feature shifted by 1 SD;
  prevalence doubled or halved (the classes' distributions unchanged).
- **Sequences.** Ten 500-row batches from the reference population fill the window, then ten
  drifted ones arrive; the window rule is judged after each (caught: any alarm among those ten).
"""

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imbal_pipeline.core.monitor import monitor_checks as mc  # noqa: E402
from imbal_pipeline.core.monitor.monitoring import bin_shares, quantile_edges  # noqa: E402
from imbal_pipeline.core.stats import monitor_stats as ms  # noqa: E402

PREVALENCE = 0.02
MEMBERS, OFFSET = 5, -3.0
MEMBER_NOISE = 0.5  # measured: see the module's docstring
IMPORTANT = 3
MISSING = 0.05
MAX_CATEGORIES = 50  # as monitoring.MAX_CATEGORIES
MODELS = {"weak": 1.3, "strong": 3.0}
SIZES = (100, 500, 5000)
WINDOW_BATCH, WINDOW_BATCHES = 500, 10


@dataclass(frozen=True)
class Model:
    """A fold bag's scores: separation d of the classes, member noise, its F2 threshold."""

    name: str
    separation: float
    noise: float = MEMBER_NOISE
    threshold: float = 0.5

    def tuned(self, rng) -> "Model":
        member, y = Population(self).scores(rng, (400_000,), 1)
        member = member[:, 0]
        order = np.argsort(-member)
        tp = np.cumsum(y[order])
        precision, recall = tp / np.arange(1, len(y) + 1), tp / max(1, y.sum())
        f2 = 5 * precision * recall / np.maximum(4 * precision + recall, 1e-12)
        return replace(self, threshold=float(member[order][np.argmax(f2)]))

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """The members' exact posterior P(y = 1 | score) at the reference's prevalence."""
        logit = np.log(scores / (1 - scores)) - OFFSET
        spread = 1 + self.noise**2
        d = self.separation
        prior = np.log(PREVALENCE / (1 - PREVALENCE))
        return 1 / (1 + np.exp(-(prior + d * logit / spread - d * d / (2 * spread))))


@dataclass(frozen=True)
class Population:
    model: Model
    prevalence: float = PREVALENCE
    shift: float = 0.0  # of the first important feature, in SDs

    def scores(self, rng, shape, members: int):
        """Member scores (..., members) and labels of rows."""
        y = rng.random(shape) < self.prevalence
        u = self.model.separation * y + rng.normal(size=shape) + self.shift / np.sqrt(IMPORTANT)
        noise = self.model.noise * rng.normal(size=(*shape, members))
        return 1 / (1 + np.exp(-(OFFSET + u[..., None] + noise))), y


@dataclass
class Feature:
    kind: str
    missing: float
    important: bool = False
    levels: np.ndarray | None = None  # categorical: population shares


def make_features(count: int, rng) -> list[Feature]:
    n_cat = max(1, count // 5)
    out = []
    for j in range(count - n_cat):
        out.append(Feature("numeric", MISSING if j % 3 == 2 else 0.0, important=j < IMPORTANT))
    for j in range(n_cat):
        size = 3000 if j == 0 else int(rng.integers(5, 41))
        shares = 1 / np.arange(1, size + 1) ** 1.1
        out.append(
            Feature("categorical", MISSING if j % 3 == 1 else 0.0, levels=shares / shares.sum())
        )
    return out


def numeric_cdf(feature: Feature, pop: Population, edges: np.ndarray, first: bool) -> np.ndarray:
    """The population's share in each reference bin of a numeric feature."""
    shift = pop.shift if first else 0.0
    mean = pop.model.separation / np.sqrt(IMPORTANT) if feature.important else 0.0
    at = np.concatenate([[-np.inf], edges, [np.inf]]) - shift
    cdf = (1 - pop.prevalence) * stats.norm.cdf(at) + pop.prevalence * stats.norm.cdf(at - mean)
    return np.diff(cdf)


@dataclass
class FeatureRef:
    shares: np.ndarray
    rows: int  # non-missing training rows
    missing_count: int
    ordered: bool
    edges: np.ndarray | None = None
    named: np.ndarray | None = None  # categorical: bin of each level (-1: unseen, last: other)
    unseen_rate: float = 0.0


def feature_reference(feature: Feature, pop: Population, rows: int, rng) -> FeatureRef:
    kept = int(rng.binomial(rows, 1 - feature.missing))
    if feature.kind == "numeric":
        mean = pop.model.separation / np.sqrt(IMPORTANT) if feature.important else 0.0
        values = rng.normal(size=kept) + mean * (rng.random(kept) < pop.prevalence)
        edges = np.asarray(quantile_edges(values))
        return FeatureRef(bin_shares(values, list(edges)), kept, rows - kept, True, edges=edges)
    counts = rng.multinomial(kept, feature.levels)
    seen = np.flatnonzero(counts)
    top = seen[np.argsort(-counts[seen], kind="stable")][:MAX_CATEGORIES]
    named = np.full(counts.size, -1)
    named[seen] = len(top)
    named[top] = np.arange(len(top))
    shares = np.append(counts[top], counts[seen].sum() - counts[top].sum()) / max(1, kept)
    singletons = int(np.sum(counts == 1))
    return FeatureRef(
        shares, kept, rows - kept, False, named=named, unseen_rate=ms.unseen_rate(singletons, kept)
    )


@dataclass
class World:
    """One training draw: the references every batch of this world is checked against."""

    features: list[FeatureRef]
    flag: ms.Expectation
    positives: ms.Expectation
    score_edges: np.ndarray
    score_shares: np.ndarray
    score_rows: float


def make_world(model: Model, feats, rows: int, rng, paired: bool = True) -> World:
    """The reference as `build_reference` takes it; `paired=False`: out-of-fold scores alone."""
    pop = Population(model)
    refs = [feature_reference(f, pop, rows, rng) for f in feats]
    oof = pop.scores(rng, (rows,), 1)[0][:, 0]
    members = pop.scores(rng, (rows // 4 if paired else 0,), MEMBERS)[0]
    bag = members.mean(axis=1)
    edges = np.asarray(quantile_edges(oof))

    def columns(scores, average):
        bins = np.searchsorted(edges, scores, side="left")
        onehot = (bins[..., None] == np.arange(len(edges) + 1)).astype(float)
        cols = np.concatenate([(scores >= model.threshold)[..., None], onehot], axis=-1)
        return cols.mean(axis=1) if average else cols

    oof_moments = ms.Moments.of(columns(oof, False))
    found = ms.paired_estimate(oof_moments, columns(bag, False), columns(members, True))
    flag, bins = found[0], found[1:]
    # The expected positives are the members' own: their calibrated probabilities, averaged.
    positives = ms.members_estimate(model.calibrate(oof), model.calibrate(members).mean(axis=1))
    shares = np.clip([b.value for b in bins], 0, None)
    rows_eff = min(b.effective_rows for b in bins if b.value > 0)
    return World(refs, flag, positives, edges, shares / shares.sum(), rows_eff)


def batch_features(world: World, feats, pop: Population, n: int, count: int, rng):
    """Per feature: p-value and PSI (count, features); missing and unseen p-values and rises."""
    p = np.full((count, len(feats)), np.nan)
    shift = np.full((count, len(feats)), np.nan)
    quality_p = np.full((count, 2 * len(feats)), np.nan)
    rise = np.zeros((count, len(feats)))
    unseen_share = np.zeros((count, len(feats)))
    for j, (f, ref) in enumerate(zip(feats, world.features, strict=True)):
        kept = rng.binomial(n, 1 - f.missing, size=count)
        if f.kind == "numeric":
            counts = rng.multinomial(kept, numeric_cdf(f, pop, ref.edges, first=j == 0))
        else:
            levels = rng.multinomial(kept, f.levels)
            counts = np.zeros((count, len(ref.shares)))
            seen = ref.named >= 0
            np.add.at(counts.T, ref.named[seen], levels[:, seen].T)
            unseen = levels[:, ~seen].sum(axis=1)
            counts[:, -1] += unseen  # unseen categories fall in "other" too, as in the check
            unseen_share[:, j] = unseen / n
            quality_p[:, len(feats) + j] = ms.unseen_test(unseen, n, ref.unseen_rate)
        total = ref.rows + ref.missing_count
        expected_rows = n * ref.rows / total
        p[:, j], shift[:, j], _ = ms.binned_test(
            ref.shares, ref.rows, counts, expected_rows, ref.ordered
        )
        quality_p[:, j] = ms.rate_test(n - kept, n, ref.missing_count, total)
        rise[:, j] = (n - kept) / n - ref.missing_count / total
    return p, shift, quality_p, rise, unseen_share


def batch_scores(world: World, pop: Population, n: int, count: int, rng):
    members, _ = pop.scores(rng, (count, n), MEMBERS)
    bag = members.mean(axis=-1)
    flagged = (bag >= pop.model.threshold).sum(axis=1)
    positives = pop.model.calibrate(members).mean(axis=-1).sum(axis=1)
    bins = np.searchsorted(world.score_edges, bag, side="left")
    counts = np.stack([(bins == b).sum(axis=1) for b in range(len(world.score_edges) + 1)], -1)
    return flagged, positives, counts


def verdicts(world, feats, pop, n, count, rng) -> dict[str, np.ndarray]:
    """Each check's alarm (its failing verdict) per batch, and whether it judged the batch."""
    flagged, positives, score_counts = batch_scores(world, pop, n, count, rng)
    judged, significant, _ = ms.rate_verdicts(flagged, n, world.flag)
    rate_alarm = significant & ms.moved(flagged / n / world.flag.value)
    sp, spsi, _ = ms.binned_test(world.score_shares, world.score_rows, score_counts, n, True)
    found = {
        "positive_rate": rate_alarm,
        "positive_rate judged": judged,
        "score_psi": (sp <= ms.ALPHA) & (spsi >= ms.PSI_FLOOR),
        "score_psi judged": ~np.isnan(sp),
    }
    if feats:
        p, shift, quality_p, rise, unseen = batch_features(world, feats, pop, n, count, rng)
        big = np.concatenate([rise >= mc.MISSING_WARN, unseen >= mc.UNSEEN_WARN], axis=1)
        found |= {
            "feature_psi": ms.drift_verdicts(p, shift)[1].any(axis=1),
            "feature_psi judged": (~np.isnan(p)).any(axis=1),
            "missing_and_unseen": (ms.holm(quality_p) & big).any(axis=1),
        }
    # The prevalence rule on this batch alone (the window before enough batches arrived).
    judged_mean, mean_sig, _ = ms.mean_verdicts(positives, n, world.positives)
    found["recent_prevalence"] = mean_sig & ms.moved(positives / n / world.positives.value)
    found["recent_prevalence judged"] = judged_mean
    return {k: np.broadcast_to(v, (count,)) for k, v in found.items()}


def window_alarms(world, before: Population, after: Population, count: int, rng):
    """Per sequence: did the window rule alarm on any drifted batch; and alarms per evaluation."""
    sums = [
        batch_scores(world, pop, WINDOW_BATCH, count, rng)[1]
        for pop in [before] * WINDOW_BATCHES + [after] * WINDOW_BATCHES
    ]
    per_window = ms.WINDOW_ROWS // WINDOW_BATCH
    alarms = []
    for i in range(WINDOW_BATCHES, 2 * WINDOW_BATCHES):
        # The window: this batch and the ones before it, until it holds WINDOW_ROWS rows.
        window = sums[max(0, i + 1 - per_window) : i + 1]
        total, n = np.sum(window, axis=0), WINDOW_BATCH * len(window)
        _, significant, _ = ms.mean_verdicts(total, n, world.positives)
        alarms.append(significant & ms.moved(total / n / world.positives.value))
    alarms = np.array(alarms)
    return alarms.any(axis=0), alarms.mean(axis=0)


def scenarios(model: Model) -> dict[str, Population]:
    return {
        "none": Population(model),
        "1-SD shift": Population(model, shift=1.0),
        "prevalence x2": Population(model, prevalence=2 * PREVALENCE),
        "prevalence x0.5": Population(model, prevalence=PREVALENCE / 2),
    }


def tally(found: dict, into: dict, *key) -> None:
    for check, alarms in found.items():
        into.setdefault((*key, check), []).append(np.asarray(alarms, dtype=float))


def rates(tallies: dict) -> dict:
    return {k: float(np.mean(np.concatenate(v))) for k, v in tallies.items()}


def batch_cells(models, args, rng) -> dict:
    """No drift and the 1-SD shift: every check on single batches of each size."""
    tallies: dict = {}
    for model in models:
        for count in FEATURE_COUNTS:
            feats = make_features(count, rng)
            started = time.perf_counter()
            for _ in range(args.worlds):
                world = make_world(model, feats, args.rows, rng)
                for name in ("none", "1-SD shift"):
                    pop = scenarios(model)[name]
                    for n in SIZES:
                        found = verdicts(world, feats, pop, n, args.batches, rng)
                        tally(found, tallies, model.name, count, name, n)
            print(
                f"{model.name}, {count} features: {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    return rates(tallies)


def window_cells(models, args, rng) -> dict:
    """The window rule over sequences, at two reference sizes."""
    tallies: dict = {}
    for model in models:
        for rows in (args.rows, args.large_rows):
            for _ in range(args.worlds):
                world = make_world(model, [], rows, rng)
                for name, pop in scenarios(model).items():
                    if name == "1-SD shift":
                        continue
                    caught, per_eval = window_alarms(
                        world, scenarios(model)["none"], pop, args.batches, rng
                    )
                    tally(
                        {"caught": caught, "per evaluation": per_eval},
                        tallies,
                        model.name,
                        rows,
                        name,
                    )
    return rates(tallies)


def reference_cells(models, args, rng) -> dict:
    """No-drift false alarms at 5,000 rows: the paired reference against out-of-fold alone,
    with the members' noise measured (0.5) and doubled."""
    tallies: dict = {}
    for model in models:
        for noise in (MEMBER_NOISE, 2 * MEMBER_NOISE):
            noisy = replace(model, noise=noise).tuned(rng)
            for paired in (True, False):
                for _ in range(args.worlds):
                    world = make_world(noisy, [], args.rows, rng, paired=paired)
                    found = verdicts(world, [], Population(noisy), 5000, args.batches, rng)
                    tally(found, tallies, model.name, noise, paired)
    return rates(tallies)


def run(args) -> None:
    rng = np.random.default_rng(args.seed)
    models = [Model(name, d).tuned(rng) for name, d in MODELS.items()]
    batches = args.worlds * args.batches
    print(
        f"{args.worlds} training draws x {args.batches} batches = {batches:,} batches (or "
        f"sequences) per cell; {args.rows:,} training rows ({args.rows // 4:,} holdout rows) "
        f"unless said; alpha {ms.ALPHA} per check and batch\n"
    )
    print_batches(batch_cells(models, args, rng))
    print_windows(window_cells(models, args, rng), args)
    print_references(reference_cells(models, args, rng))


CHECKS = ("positive_rate", "score_psi", "feature_psi", "missing_and_unseen", "recent_prevalence")
FEATURE_COUNTS = (10, 85)


def _cell(rate: dict, key: tuple, check: str) -> str:
    text = f"{100 * rate[(*key, check)]:.1f}%"
    judged = rate.get((*key, f"{check} judged"))
    if judged is not None and judged < 1:
        text += f" ({100 * judged:.0f}% judged)"
    return text


def print_batches(rate: dict) -> None:
    for scenario, checks in (("none", CHECKS), ("1-SD shift", CHECKS[:3])):
        title = (
            "No drift: batches alarmed"
            if scenario == "none"
            else ("The most important feature shifted by 1 SD: batches caught")
        )
        print(f"{title}\n\n| model | features | rows | " + " | ".join(checks) + " |")
        print("|---|---:|---:|" + "---:|" * len(checks))
        for model in MODELS:
            for count in FEATURE_COUNTS:
                for n in SIZES:
                    cells = [_cell(rate, (model, count, scenario, n), c) for c in checks]
                    print(f"| {model} | {count} | {n:,} | " + " | ".join(cells) + " |")
        print()


def print_windows(rate: dict, args) -> None:
    print(
        f"Prevalence: the window rule (last {ms.WINDOW_ROWS:,} rows), {WINDOW_BATCHES} "
        f"{WINDOW_BATCH}-row batches after the change; caught: any alarm among them\n"
    )
    print(
        "| model | training rows | scenario | sequences caught | alarms per evaluation "
        "| best possible at 5,000 rows |"
    )
    print("|---|---:|---|---:|---:|---:|")
    for model, separation in MODELS.items():
        for rows in (args.rows, args.large_rows):
            for scenario, factor in (("none", 1), ("prevalence x2", 2), ("prevalence x0.5", 0.5)):
                key = (model, rows, scenario)
                best = f"{100 * best_possible(separation, factor):.0f}%" if factor != 1 else ""
                print(
                    f"| {model} | {rows:,} | {scenario} | {100 * rate[(*key, 'caught')]:.1f}% | "
                    f"{100 * rate[(*key, 'per evaluation')]:.2f}% | {best} |"
                )
    print(
        "\nBest possible: the power of the most powerful test of the prevalence on 5,000 "
        "unlabelled rows at the same level, had it the bag's exact score distributions and an "
        "infinite reference (Fisher information of the two-class mixture)."
    )
    print()


def best_possible(separation: float, factor: float, rows: int = 5000) -> float:
    """Power of the locally most powerful test of a prevalence change from scores alone."""
    d = separation / np.sqrt(1 + MEMBER_NOISE**2 / MEMBERS)  # the bag's separation
    x = np.linspace(-10, 10 + d, 40_001)
    f0, f1 = stats.norm.pdf(x), stats.norm.pdf(x - d)
    mixed = (1 - PREVALENCE) * f0 + PREVALENCE * f1
    information = np.sum((f1 - f0) ** 2 / mixed) * (x[1] - x[0])
    z = abs(factor - 1) * PREVALENCE * np.sqrt(rows * information)
    return float(stats.norm.sf(stats.norm.isf(ms.ALPHA / 2) - z))


def print_references(rate: dict) -> None:
    print("The reference: no-drift alarms on 5,000-row batches, paired against out-of-fold alone\n")
    print("| model | member noise | reference | positive_rate | score_psi |")
    print("|---|---:|---|---:|---:|")
    for model in MODELS:
        for noise in (MEMBER_NOISE, 2 * MEMBER_NOISE):
            for paired in (True, False):
                key = (model, noise, paired)
                what = "paired (shipped)" if paired else "out-of-fold alone"
                cells = [_cell(rate, key, c) for c in CHECKS[:2]]
                print(f"| {model} | {noise} | {what} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 x 10 batches per cell")
    parser.add_argument("--worlds", type=int, default=100, help="training draws per cell")
    parser.add_argument("--batches", type=int, default=10, help="batches per training draw")
    parser.add_argument("--rows", type=int, default=12_000, help="training rows (reference)")
    parser.add_argument("--large-rows", type=int, default=30_000, help="a larger reference")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.worlds, args.batches = 5, 10
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
