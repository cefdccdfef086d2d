"""Evaluation plots for the rare-positive classifier, rendered headless to PNG files."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np

# Must run before pyplot is imported: pipeline workers have no display, and an
# interactive backend would either fail or try to open windows.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

_DPI = 120


def _safe_label(label: object) -> str:
    # Labels come from strategy/metric names; a pair of "$" would switch matplotlib
    # into mathtext and can raise at draw time, so render them literally.
    return str(label).replace("$", r"\$")


@contextmanager
def _figure(figsize: tuple[float, float]) -> Iterator[tuple[Figure, Axes]]:
    fig, ax = plt.subplots(figsize=figsize)
    try:
        yield fig, ax
    finally:
        # pyplot keeps every figure alive until closed; long-running workers would leak,
        # including when drawing fails half-way.
        plt.close(fig)


def _save(fig: Figure, path: Path | str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=_DPI, format="png")
    return out


def _finite(value: object) -> bool:
    return isinstance(value, int | float | np.floating) and math.isfinite(value)


def plot_pr_curve(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    prevalence: float,
    path: Path | str,
    points: dict[str, tuple[float, float]] | None = None,
) -> Path:
    """Draw precision-recall curves with the no-skill line at ``prevalence``; write PNG to ``path``.

    ``curves`` maps a label to ``(recall, precision)`` arrays; ``points`` maps a label to a
    single ``(recall, precision)`` operating point to mark. Returns the written path.
    """
    with _figure((6.4, 4.8)) as (fig, ax):
        for label, (recall, precision) in curves.items():
            r = np.asarray(recall, dtype=float)
            p = np.asarray(precision, dtype=float)
            if r.shape != p.shape:
                raise ValueError(
                    f"curve {label!r}: recall and precision lengths differ ({r.shape} vs {p.shape})"
                )
            # Step interpolation is the honest PR rendering; straight lines between
            # points overstate the achievable precision (and hence the visual PR-AUC).
            ax.plot(r, p, drawstyle="steps-post", linewidth=1.8, label=_safe_label(label))

        if _finite(prevalence):
            ax.axhline(
                float(prevalence),
                linestyle="--",
                color="grey",
                linewidth=1.2,
                label=f"no skill (prevalence = {float(prevalence):.3f})",
            )

        markers = ["o", "s", "D", "^", "v", "P", "X"]
        for i, (label, (rec, prec)) in enumerate((points or {}).items()):
            if not (_finite(rec) and _finite(prec)):
                continue
            ax.scatter(
                [rec],
                [prec],
                marker=markers[i % len(markers)],
                s=70,
                zorder=5,
                edgecolors="black",
                label=f"{_safe_label(label)} (R={rec:.3f}, P={prec:.3f})",
            )

        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.05)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("Precision-recall curve")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize="small")
        return _save(fig, path)


def plot_threshold_curve(
    thresholds: np.ndarray,
    metrics: dict[str, np.ndarray],
    chosen: float,
    objective: str,
    path: Path | str,
) -> Path:
    """Plot each metric against the decision threshold, marking ``chosen``; write PNG to ``path``.

    Metrics whose name contains "cost" go on a secondary y-axis. Returns the written path.
    """
    t = np.asarray(thresholds, dtype=float)
    with _figure((6.4, 4.8)) as (fig, ax):
        cost_ax = None
        for name, values in metrics.items():
            v = np.asarray(values, dtype=float)
            if v.shape != t.shape:
                raise ValueError(
                    f"metric {name!r} has shape {v.shape}, thresholds have shape {t.shape}"
                )
            # Costs are in arbitrary units (often >> 1); sharing the 0-1 axis with
            # precision/recall would flatten those curves into the floor.
            if "cost" in str(name).lower():
                if cost_ax is None:
                    cost_ax = ax.twinx()
                    cost_ax.set_ylabel("cost")
                cost_ax.plot(t, v, linestyle="-.", color="tab:red", label=_safe_label(name))
            else:
                ax.plot(t, v, linewidth=1.8, label=_safe_label(name))

        if _finite(chosen):
            ax.axvline(
                float(chosen),
                color="black",
                linestyle=":",
                linewidth=1.5,
                label=f"chosen threshold = {float(chosen):.3f}",
            )

        finite_t = t[np.isfinite(t)]
        # Probability thresholds live in [0, 1]; raw-score thresholds keep autoscaling.
        if finite_t.size and finite_t.min() >= 0.0 and finite_t.max() <= 1.0:
            ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("decision threshold")
        ax.set_ylabel("metric value")
        # The curve is drawn from the out-of-fold scores the threshold was chosen on: its
        # figures differ from the holdout table's, and the title has to say why.
        ax.set_title(
            f"Metrics vs threshold, out-of-fold scores (objective: {_safe_label(objective)})"
        )
        ax.grid(True, alpha=0.3)

        handles, labels = ax.get_legend_handles_labels()
        if cost_ax is not None:
            h2, l2 = cost_ax.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        if handles:
            ax.legend(handles, labels, loc="best", fontsize="small")
        return _save(fig, path)


def plot_confusion_matrix(cm: list[list[int]], title: str, path: Path | str) -> Path:
    """Draw a 2x2 confusion matrix ``[[tn, fp], [fn, tp]]`` with counts; write PNG to ``path``."""
    arr = np.asarray(cm, dtype=float)
    if arr.shape != (2, 2):
        raise ValueError(f"expected a 2x2 confusion matrix [[tn, fp], [fn, tp]], got {arr.shape}")

    # Shade by share of each actual class, not raw counts: raw counts make the TN cell
    # saturate and leave the rare-positive row (the part that matters) uniformly pale.
    row_totals = np.nansum(arr, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(row_totals > 0, arr / row_totals, 0.0)

    with _figure((5.0, 4.3)) as (fig, ax):
        ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0.0, vmax=1.0)
        names = [["TN", "FP"], ["FN", "TP"]]
        for i in range(2):
            for j in range(2):
                value = arr[i, j]
                text = f"{int(value):,}" if math.isfinite(value) else "n/a"
                if math.isfinite(share[i, j]) and row_totals[i, 0] > 0:
                    text += f"\n({share[i, j]:.1%} of row)"
                # Dark cells need light text to stay readable.
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(
                    j,
                    i,
                    f"{names[i][j]}\n{text}",
                    ha="center",
                    va="center",
                    color=color,
                    fontsize=11,
                )
        ax.set_xticks([0, 1], labels=["0", "1"])
        ax.set_yticks([0, 1], labels=["0", "1"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title(_safe_label(title))
        return _save(fig, path)


def plot_projection(
    points: np.ndarray, y: np.ndarray, path: Path | str, title: str = "PCA of the training split"
) -> Path:
    """2-D projection coloured by class, the minority drawn on top so it is never hidden."""
    points = np.asarray(points, dtype=float)
    y = np.asarray(y)
    with _figure((6.0, 5.0)) as (fig, ax):
        neg, pos = y == 0, y == 1
        ax.scatter(
            points[neg, 0],
            points[neg, 1],
            s=4,
            c="#9aa5b1",
            alpha=0.35,
            label=f"negative ({int(neg.sum()):,})",
            rasterized=True,
        )
        ax.scatter(
            points[pos, 0],
            points[pos, 1],
            s=12,
            c="#d62728",
            alpha=0.9,
            label=f"positive ({int(pos.sum()):,})",
            zorder=3,
        )
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_title(_safe_label(title))
        ax.legend(loc="best", fontsize=8)
        return _save(fig, path)


def plot_rate_over_batches(
    names: list[str],
    rates: np.ndarray,
    intervals: np.ndarray,
    alerts: np.ndarray,
    expected: float,
    expected_interval: tuple[float, float],
    path: Path | str,
) -> Path:
    """Each batch's predicted-positive rate with its interval, over the expected band.

    `alerts` marks the batches whose rate check failed; they are drawn in red.
    """
    from matplotlib.ticker import PercentFormatter

    rates = np.asarray(rates, dtype=float)
    intervals = np.asarray(intervals, dtype=float).reshape(-1, 2)
    x = np.arange(len(rates))
    with _figure((max(6.0, 0.5 * len(rates) + 3), 4.0)) as (fig, ax):
        ax.axhspan(*expected_interval, color="#0969da", alpha=0.12, label="expected (interval)")
        ax.axhline(expected, color="#0969da", lw=1, label=f"expected {100 * expected:.2f}%")
        colours = np.where(np.asarray(alerts, dtype=bool), "#d62728", "#1f2328")
        ax.errorbar(
            x,
            rates,
            yerr=[rates - intervals[:, 0], intervals[:, 1] - rates],
            fmt="none",
            ecolor="#57606a",
            capsize=3,
        )
        ax.scatter(x, rates, c=colours, zorder=3, label="batch rate (red: the rate check failed)")
        ax.set_xticks(x, labels=[_safe_label(n) for n in names], rotation=45, ha="right")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel("predicted-positive rate")
        ax.set_ylim(bottom=0)
        ax.set_title("Predicted-positive rate per batch")
        ax.legend(loc="best", fontsize=8)
        return _save(fig, path)


def plot_psi(values: dict[str, float], path: Path | str, warn: float, fail: float) -> Path:
    """PSI per feature (and the score), largest first, with the alarm floor (`warn`: a
    significant shift alarms from there) and a large shift (`fail`)."""
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:30]
    names = [_safe_label(k) for k, _ in items][::-1]
    psis = np.array([v for _, v in items][::-1], dtype=float)
    colours = np.where(psis >= fail, "#d62728", np.where(psis >= warn, "#bf8700", "#2da44e"))
    with _figure((6.5, max(2.5, 0.3 * len(items) + 1.2))) as (fig, ax):
        ax.barh(names, psis, color=colours)
        ax.axvline(warn, color="#bf8700", ls="--", lw=1, label=f"alarm floor {warn}")
        ax.axvline(fail, color="#d62728", ls="--", lw=1, label=f"large {fail}")
        ax.set_xlabel("PSI against the training reference")
        ax.set_title("Distribution shift per feature")
        ax.legend(loc="lower right", fontsize=8)
        return _save(fig, path)


def plot_reliability(curves: dict[str, list[dict]], path: Path | str) -> Path:
    """Observed positive rate against mean predicted probability per bin, one line per curve."""
    with _figure((5.5, 5.0)) as (fig, ax):
        ax.plot([0, 1], [0, 1], ls="--", color="#9aa5b1", lw=1, label="perfectly calibrated")
        for label, bins in curves.items():
            if bins:
                ax.plot(
                    [b["predicted"] for b in bins],
                    [b["observed"] for b in bins],
                    marker="o",
                    label=_safe_label(label),
                )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean predicted probability (bin)")
        ax.set_ylabel("observed positive rate (bin)")
        ax.set_title("Reliability on the holdout")
        ax.legend(loc="upper left", fontsize=8)
        return _save(fig, path)


def plot_learning_curve(curve: dict, path: Path | str) -> Path:
    """Cross-validated PR-AUC against training positives (log scale), the last doubling marked."""
    points = [p for p in curve["points"] if p["pr_auc_mean"] is not None]
    with _figure((6.0, 4.2)) as (fig, ax):
        x = [p["positives"] for p in points]
        y = [p["pr_auc_mean"] for p in points]
        err = [p["pr_auc_std"] or 0.0 for p in points]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label="CV PR-AUC (mean ± SD)")
        doubling = curve.get("last_doubling")
        if doubling and len(x) >= 2:
            # The step the report's claim is about, measured between its two points; nothing
            # is drawn beyond the positives the folds had.
            low, high = doubling["ci_low"], doubling["ci_high"]
            interval = f" [{low:+.3f}, {high:+.3f}]" if low is not None else ""
            ax.plot(
                x[-2:],
                y[-2:],
                lw=3,
                color="#cf222e",
                label=f"last doubling: {doubling['gain']:+.3f}{interval}",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training positives per fold (log scale)")
        ax.set_ylabel("PR-AUC (out of fold)")
        ax.set_title(_safe_label(f"Learning curve over positives ({curve['strategy']})"))
        ax.legend(loc="lower right", fontsize=8)
        return _save(fig, path)
