"""Know the data before fixing it: overlap, minority typology, islands, conflicts and advice."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from imbal_pipeline.core import checks
from imbal_pipeline.core.gate import Gate, fail, ok
from imbal_pipeline.core.settings import LABEL, ROW_ID
from imbal_pipeline.core.train import preprocess

MAX_ROWS = 10_000  # neighbour measures need pairwise distances: a stratified subsample
TYPE_NEIGHBOURS = 5  # Napierala & Stefanowski's typology uses 5 nearest neighbours
RESAMPLERS = ("undersample", "smote", "borderline_smote", "smoteenn", "balanced_bagging")


def _subsample(y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Indices of a stratified subsample (all rows when small enough)."""
    if len(y) <= max_rows:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    take_pos = min(len(positives), max(1, round(max_rows * len(positives) / len(y))))
    take_neg = max_rows - take_pos  # the total never exceeds max_rows
    picked = [
        rng.choice(positives, size=take_pos, replace=False),
        rng.choice(negatives, size=min(take_neg, len(negatives)), replace=False),
    ]
    return np.sort(np.concatenate(picked))


def _standardize(X: np.ndarray) -> np.ndarray:
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def fisher_ratio(X: np.ndarray, y: np.ndarray) -> float:
    """Maximum Fisher's discriminant ratio over features: (mu1 - mu0)^2 / (var1 + var0)."""
    a, b = X[y == 1], X[y == 0]
    num = (a.mean(axis=0) - b.mean(axis=0)) ** 2
    den = a.var(axis=0) + b.var(axis=0)
    ratios = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return float(ratios.max()) if ratios.size else 0.0


def typology(X: np.ndarray, y: np.ndarray) -> tuple[dict[str, int], np.ndarray, float]:
    """Minority types from 5 neighbours, per-row types, and N3 (leave-one-out 1-NN error)."""
    k = min(TYPE_NEIGHBOURS, len(y) - 1)
    nn = NearestNeighbors(n_neighbors=k).fit(X)
    # Without X, each row's own index is left out even when exact duplicates tie with it.
    _, neighbours = nn.kneighbors()
    n3 = float(np.mean(y[neighbours[:, 0]] != y))
    minority = np.flatnonzero(y == 1)
    majority_count = (y[neighbours[minority]] == 0).sum(axis=1)
    # 0-1 majority neighbours: safe; 2-3: borderline; 4: rare; 5: outlier.
    kinds = np.select(
        [majority_count <= 1, majority_count <= 3, majority_count == 4],
        ["safe", "borderline", "rare"],
        default="outlier",
    )
    counts = {
        name: int((kinds == name).sum()) for name in ("safe", "borderline", "rare", "outlier")
    }
    return counts, kinds, n3


def minority_islands(X_min: np.ndarray, max_share: float = 0.1) -> list[dict]:
    """Small groups of minority rows far from the rest of the minority.

    Minority rows are linked when closer than three times their median nearest-minority
    distance; the largest linked group is the main mass. A smaller group (at least 2 rows, at
    most `max_share` of the minority) is an island when its gap to the main mass exceeds both
    two links and twice the main mass's median radius, so that the ragged edge of one blob is
    not mistaken for islands.
    """
    n = len(X_min)
    if n < 6:
        return []
    nn = NearestNeighbors(n_neighbors=2).fit(X_min)
    dist, _ = nn.kneighbors(X_min)
    link = 3.0 * float(np.median(dist[:, 1]))
    if link <= 0:
        return []
    graph = nn.radius_neighbors_graph(X_min, radius=link, mode="connectivity")
    n_groups, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    main = int(np.argmax(sizes))
    main_points = X_min[labels == main]
    radius = float(np.median(np.linalg.norm(main_points - np.median(main_points, axis=0), axis=1)))
    far = max(2.0 * link, 2.0 * radius)
    main_nn = NearestNeighbors(n_neighbors=1).fit(main_points)
    islands = []
    for group in range(n_groups):
        size = int(sizes[group])
        if group == main or size < 2 or size > max(2, max_share * n):
            continue
        gap = float(main_nn.kneighbors(X_min[labels == group])[0].min())
        if gap > far:
            islands.append({"rows": size, "gap_in_main_radii": round(gap / max(radius, 1e-12), 2)})
    return sorted(islands, key=lambda d: -d["rows"])


def duplicates_and_conflicts(frame: pd.DataFrame, features: list) -> tuple[int, int]:
    """Rows repeating an earlier feature row, and feature rows that carry both labels."""
    keys = pd.util.hash_pandas_object(frame[features], index=False)
    duplicates = int(keys.duplicated().sum())
    labels_per_key = pd.Series(frame[LABEL].to_numpy()).groupby(keys.to_numpy()).nunique()
    conflicts = int((labels_per_key > 1).sum())
    return duplicates, conflicts


def advise(result: dict, tier: str) -> tuple[list[str], str | None]:
    """Plain-word advice and what it prefers: 'weights', 'resampling' or None."""
    typ = result["typology"]
    total = max(1, sum(typ.values()))
    safe = typ["safe"] / total
    hard = (typ["borderline"] + typ["rare"] + typ["outlier"]) / total
    lines, prefers = [], None
    if hard >= 0.5 and result["n3"] < 0.05:
        # Few positives in small clusters have negatives among their five neighbours however
        # well one feature separates them: a low 1-NN error says they do not overlap.
        lines.append(
            f"{hard:.0%} of the positives are borderline, rare or outliers by their five nearest "
            f"neighbours, yet the 1-NN error (N3) is only {result['n3']:.3f}: the positives are "
            "few and scattered among negatives rather than overlapping them, and SMOTE would "
            "interpolate across the negatives between them: class weights with a tuned "
            "threshold are the safer start."
        )
        prefers = "weights"
    elif hard >= 0.5:
        lines.append(
            f"{hard:.0%} of the positives are borderline, rare or outliers: the classes overlap, "
            "so oversampling is risky (SMOTE interpolates new positives into the overlap): "
            "class weights with a tuned threshold are the safer start."
        )
        prefers = "weights"
    elif safe >= 0.7 and result["n3"] < 0.05:
        lines.append(
            f"{safe:.0%} of the positives are safe and the 1-NN error (N3) is only "
            f"{result['n3']:.3f}: the classes are well separated, so simple weighting with a "
            "tuned threshold will do; resampling is unlikely to add much."
        )
        prefers = "weights"
    else:
        lines.append(
            f"Mixed picture ({safe:.0%} safe positives, N3 {result['n3']:.3f}): compare class "
            "weights with resampling on the folds; resampling must beat weights beyond noise."
        )
    if typ["outlier"] / total >= 0.3:
        lines.append(
            f"{typ['outlier'] / total:.0%} of the positives sit among negatives only: "
            "check them for label noise before trusting any strategy."
        )
    if result["islands"]:
        sizes = ", ".join(str(i["rows"]) for i in result["islands"][:5])
        lines.append(
            f"{len(result['islands'])} minority island(s) (rows: {sizes}) lie apart from the "
            "main positive mass: SMOTE may draw synthetic rows across the majority between "
            "them; check recall on these small groups."
        )
    if result["label_conflicts"]:
        lines.append(
            f"{result['label_conflicts']} identical feature rows carry both labels: no model "
            "can separate them; check the labels or add features."
        )
    if tier == "severe":
        # The tier table's start (split._TIERS), not a preference: the paired selection decides.
        lines.append(
            "At a severe ratio (1:100 or more), the practice starts with SMOTE variants and "
            "ensembles (balanced_bagging), measured against class weighting, or with collecting "
            "more positives: the learning curve says whether that would pay."
        )
    return lines, prefers


def projection_title(result: dict) -> str:
    """Title of the PCA picture, in the UI and in the report folder."""
    return f"PCA of {result['subsample_rows']:,} training rows"


def diagnose(
    train: pd.DataFrame,
    schema: dict,
    tier: str,
    seed: int,
    max_rows: int = MAX_ROWS,
    threads: int = 1,
) -> tuple[dict, dict]:
    """Diagnostics of the training split; returns (JSON-ready result, arrays for the picture)."""
    # Neighbour searches and the SVD would take every core; steps x threads <= cores.
    with threadpool_limits(limits=threads):
        return _diagnose(train, schema, tier, seed, max_rows)


def _diagnose(
    train: pd.DataFrame, schema: dict, tier: str, seed: int, max_rows: int
) -> tuple[dict, dict]:
    y_all = train[LABEL].to_numpy().astype(int)
    features = schema["numeric"] + schema["categorical"]
    duplicates, conflicts = duplicates_and_conflicts(train, features)
    pre = preprocess.fit_preprocessor(train, schema, train[ROW_ID].to_numpy())
    picked = _subsample(y_all, max_rows, seed)
    X = _standardize(pre.transform(train.iloc[picked]))
    y = y_all[picked]
    counts, kinds, n3 = typology(X, y)
    islands = minority_islands(X[y == 1])
    result = {
        "typology": counts,
        "typology_share": {
            k: round(v / max(1, sum(counts.values())), 4) for k, v in counts.items()
        },
        "n3": round(n3, 4),
        "fisher_ratio": round(fisher_ratio(X, y), 4),
        "subsample_rows": int(len(picked)),
        "subsample_positives": int(y.sum()),
        "training_rows": int(len(y_all)),
        "training_positives": int(y_all.sum()),
        "duplicates": duplicates,
        "label_conflicts": conflicts,
        "islands": islands,
    }
    result["advice"], result["prefers"] = advise(result, tier)
    # A 2-D PCA picture of the subsample; the minority is drawn on top in the plot. Values are
    # clipped at 5 SD for the picture only, or one heavy tail would squash everything else.
    clipped = np.clip(X, -5, 5)
    centred = clipped - clipped.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T if vt.shape[0] >= 2 else np.column_stack([centred[:, 0], 0 * y])
    variance = singular**2 / max(1e-12, float((singular**2).sum()))
    result["pca_explained"] = [round(float(v), 4) for v in variance[:2]]
    result["plot"] = "diagnostics_pca.png"  # drawn from the points when the report is published
    return result, {"points": points, "y": y, "kinds": kinds}


def contradiction(diagnostics: dict, selected: str) -> str | None:
    """A sentence when the comparison's winner goes against the advice."""
    if diagnostics.get("prefers") == "weights" and selected in RESAMPLERS:
        return (
            f"The comparison selected {selected}, against the diagnostics' advice to start "
            "with class weights: it beat them beyond noise on the folds, but check the holdout "
            "and the island/borderline positives before trusting it."
        )
    return None


@checks.gate("diagnostics_consistent")
def consistent(result: dict) -> Gate:
    """The typology covers every positive measured, on at most MAX_ROWS rows; N3 is a share."""
    total = sum(result["typology"].values())
    if total != result["subsample_positives"] or result["subsample_rows"] > MAX_ROWS:
        return fail(
            "diagnostics_consistent",
            f"typology counts {total} do not match the {result['subsample_positives']}"
            " positives measured; report this as a bug",
        )
    if not 0.0 <= result["n3"] <= 1.0:
        return fail("diagnostics_consistent", f"N3 {result['n3']} outside [0, 1]")
    return ok(
        "diagnostics_consistent",
        f"typology covers all {total} positives of {result['subsample_rows']} rows",
        **result["typology"],
    )
