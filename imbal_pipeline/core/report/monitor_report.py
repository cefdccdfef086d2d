"""The monitoring report: a page per scored batch, and one across all batches.

Layout under the scored folder (`scored_dir`):

    <batch key>/scores.parquet   id (or row), score, decision, model_version
    <batch key>/summary.json     the checks' verdicts and what they saw
    <batch key>/outcome.json     the labelled check, once labels arrived
    <batch key>/report.html, psi.png
    index.html, positive_rate.png   every batch: rate with its interval against the expected band
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from imbal_pipeline.core.data.data import (
    DataError,
    is_label,
    one_label_per_id,
    refuse_stray_labels,
)
from imbal_pipeline.core.monitor.deployed import ROW, BatchError, BatchNotes, Model
from imbal_pipeline.core.monitor.monitoring import Reference
from imbal_pipeline.core.monitor.shadow import shadow_text
from imbal_pipeline.core.report.document import Block, Heading, Image, Para, html_page, rich, table
from imbal_pipeline.core.stats.monitor_stats import PSI_FLOOR, WINDOW_ROWS
from imbal_pipeline.core.train.gates import Gate

PSI_LARGE = 0.25  # the customary "it has shifted" level, drawn on the PSI plot


def gate_record(g: Gate) -> dict:
    """A check's verdict as plain JSON."""
    return {
        "name": g.name,
        "passed": g.passed,
        "severity": g.severity,
        "message": g.message,
        "observed": json.loads(json.dumps(g.observed, default=float)),
    }


def _status(record: dict) -> str:
    if record["passed"]:
        return "passed"
    return "WARN" if record["severity"] == "warn" else "FAILED"


def checks_table(gates: list[Gate]) -> pd.DataFrame:
    """One row per check: status and message (for the asset's metadata)."""
    rows = [gate_record(g) for g in gates]
    return pd.DataFrame(
        {"status": [_status(r) for r in rows], "message": [r["message"] for r in rows]},
        index=[r["name"] for r in rows],
    )


def model_summary(model: Model) -> dict:
    """What a scored batch keeps of the model that scored it."""
    return {
        "version": model.version,
        "threshold": model.threshold,
        "beta": float(model.meta["beta"]),
        "target": model.meta["target"],
        "positive_label": model.positive_label,
        "negative_labels": model.meta.get("negative_labels"),
        "id_column": model.id_column,
        "reference": model.reference.to_json(),
        # For the Brier score of what predict_proba returned once the batch's labels arrive.
        "calibrator": model.calibrator,
    }


def _atomic_write(path: Path, data: bytes) -> None:
    # Readers (a browser, the index of another batch) see the old file or the new, never half.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_batch(
    scored_dir: str | Path,
    key: str,
    scored: pd.DataFrame,
    gates: list[Gate],
    model: Model,
    notes: BatchNotes,
    source: str,
    shadow: tuple[dict, pd.DataFrame | None] | None = None,
) -> Path:
    """Write one batch's scores, verdicts and page; then refresh the page across batches.

    `shadow`: a waiting challenger's summary and scores (`shadow.shadow_scores`), kept beside
    the champion's as shadow_scores.parquet and shown on the page.
    """
    folder = Path(scored_dir) / key
    folder.mkdir(parents=True, exist_ok=True)
    frames = {"scores.parquet": scored}
    if shadow is not None and shadow[1] is not None:
        frames["shadow_scores.parquet"] = shadow[1]
    for name, frame in frames.items():
        tmp = folder / f".{name}.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, folder / name)
    summary = {
        "batch": key,
        "source": source,
        "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": int(len(scored)),
        "flagged": int(scored["decision"].sum()),
        "expected_positives": notes.expected_positives,
        "model_version": model.version,
        "threshold": model.threshold,
        "ignored_columns": notes.ignored_columns,
        "unseen_categories": notes.unseen_categories,
        "checks": [gate_record(g) for g in gates],
        "shadow": None if shadow is None else shadow[0],
    }
    _atomic_write(folder / "summary.json", json.dumps(summary, indent=2).encode())
    _render_batch(folder, model.reference)
    write_index(scored_dir)
    return folder


def write_outcome(scored_dir: str | Path, key: str, gate: Gate) -> None:
    """Record a batch's labelled check beside its scores and refresh both pages."""
    folder = Path(scored_dir) / key
    record = gate_record(gate) | {"labelled_at": datetime.now(UTC).isoformat(timespec="seconds")}
    _atomic_write(folder / "outcome.json", json.dumps(record, indent=2).encode())
    summary = json.loads((folder / "summary.json").read_text())
    _render_batch(folder, None, summary)
    write_index(scored_dir)


def _psi_values(summary: dict) -> dict[str, float]:
    by_name = {c["name"]: c for c in summary["checks"]}
    values = dict(by_name.get("feature_psi", {}).get("observed", {}).get("psi", {}))
    score = by_name.get("score_psi", {}).get("observed", {}).get("psi")
    if isinstance(score, int | float):
        values["(score)"] = score
    return values


def _render_batch(folder: Path, reference: Reference | None, summary: dict | None = None) -> None:
    summary = summary or json.loads((folder / "summary.json").read_text())
    psi_values = _psi_values(summary)
    if psi_values:
        # Imported where drawn: `score` reads this module's tables and would wait ~1 s for
        # matplotlib.
        from imbal_pipeline.core.report import plots

        plots.plot_psi(psi_values, folder / "psi.png", PSI_FLOOR, PSI_LARGE)
    checks = list(summary["checks"])
    outcome = folder / "outcome.json"
    if outcome.is_file():
        checks.append(json.loads(outcome.read_text()))
    rate = summary["flagged"] / max(1, summary["rows"])
    blocks: list[Block] = [
        Para(
            rich(
                f"{summary['rows']:,} rows from {summary['source']} scored by model "
                f"{summary['model_version']} at threshold {summary['threshold']:.4g}; "
                f"{summary['flagged']:,} flagged ({100 * rate:.2f}%)."
            ),
            css="summary",
        ),
        *(
            [Para(rich(shadow_text(summary["shadow"], summary["flagged"], summary["rows"])))]
            if summary.get("shadow")
            else []
        ),
        Heading(2, "Checks"),
        table(
            ["Check", "Status", "What was seen"],
            [[c["name"], _status(c), c["message"]] for c in checks],
        ),
    ]
    if summary["ignored_columns"]:
        blocks.append(Para(rich("Columns ignored: " + ", ".join(summary["ignored_columns"]))))
    if summary["unseen_categories"]:
        seen = ", ".join(f"{k}: {v} rows" for k, v in summary["unseen_categories"].items())
        blocks.append(Para(rich(f"Categories never seen in training (scored as missing): {seen}")))
    if psi_values:
        blocks += [
            Heading(2, "Distribution shift"),
            Image("PSI per feature and of the score", "psi.png"),
        ]
    blocks.append(Para(rich("All batches: ", "../index.html"), css="meta"))
    page = html_page(f"Batch {summary['batch']}", blocks)
    _atomic_write(folder / "report.html", page.encode())


def batch_summaries(scored_dir: str | Path) -> list[dict]:
    """Every scored batch's summary (with its outcome, if labelled), oldest first."""
    out = []
    for path in Path(scored_dir).glob("*/summary.json"):
        summary = json.loads(path.read_text())
        outcome = path.with_name("outcome.json")
        summary["outcome"] = json.loads(outcome.read_text()) if outcome.is_file() else None
        out.append(summary)
    return sorted(out, key=lambda s: (s["scored_at"], s["batch"]))


def recent_batches(scored_dir: str | Path, model_version: str, exclude: str) -> list[dict]:
    """What the prevalence rule needs of the batches `model_version` scored (oldest first),
    but `exclude` (the batch being scored, if scored before)."""
    return [
        {k: s[k] for k in ("batch", "rows", "flagged", "expected_positives")}
        for s in batch_summaries(scored_dir)
        if s["model_version"] == model_version
        and s["batch"] != exclude
        and "expected_positives" in s
    ]


def _recent_cell(summary: dict) -> str:
    check = next((c for c in summary["checks"] if c["name"] == "recent_prevalence"), None)
    if check is None:
        return ""
    seen = check["observed"]
    if not seen.get("judged"):
        return f"too small ({seen['rows']:,} rows)"
    return f"{100 * seen['mean']:.2f}% over {seen['rows']:,} rows ({_status(check)})"


def _latest_recent(summaries: list[dict]) -> str:
    """The prevalence rule's latest verdict, in words."""
    latest = summaries[-1]
    check = next((c for c in latest["checks"] if c["name"] == "recent_prevalence"), None)
    if check is None:
        return "Prevalence across batches: not recorded for these batches."
    return (
        f"Prevalence across batches (the newest batches pooled until they hold "
        f"{WINDOW_ROWS:,} rows): {_status(check)}, {check['message']}"
    )


def _alert_name(check: dict) -> str:
    """A failed check as the index's Alerts column names it: the pooled prevalence rule says
    it judged several batches, so a small batch is not read as the one at fault."""
    pooled = len((check.get("observed") or {}).get("batches") or [])
    if check["name"] == "recent_prevalence" and pooled > 1:
        return f"recent_prevalence (pooled over the last {pooled} batches)"
    return check["name"]


def write_index(scored_dir: str | Path) -> Path:
    """The page across batches: predicted-positive rate over time, alerts, realized metrics."""
    scored_dir = Path(scored_dir)
    summaries = batch_summaries(scored_dir)
    rows, names, rates, intervals, alerts = [], [], [], [], []
    expected: tuple[float, tuple[float, float]] | None = None
    for s in summaries:
        check = next(c for c in s["checks"] if c["name"] == "positive_rate")
        rate_check = check["observed"]
        names.append(s["batch"])
        rates.append(rate_check["rate"])
        intervals.append(rate_check["interval"])
        alerts.append(not check["passed"] and check["severity"] == "error")
        expected = rate_check["expected"], tuple(rate_check["expected_interval"])
        failed = [_alert_name(c) for c in s["checks"] if not c["passed"]]
        realized = (s["outcome"] or {}).get("observed", {}).get("realized") or {}
        rows.append(
            [
                s["batch"],
                s["scored_at"],
                f"{s['rows']:,}",
                f"{100 * rate_check['rate']:.2f}% ({100 * rate_check['interval'][0]:.2f}-"
                f"{100 * rate_check['interval'][1]:.2f})",
                ", ".join(failed) or "none",
                _recent_cell(s),
                f"{realized['pr_auc']:.3f}" if realized.get("pr_auc") is not None else "",
                s["model_version"],
            ]
        )
    blocks: list[Block] = []
    if expected is not None:  # set by every batch: the rate the model expects
        from imbal_pipeline.core.report import plots

        plots.plot_rate_over_batches(
            names,
            np.array(rates),
            np.array(intervals),
            np.array(alerts),
            *expected,
            scored_dir / "positive_rate.png",
        )
        blocks += [
            Para(
                rich(
                    f"{len(summaries)} batches. The model expects a predicted-positive rate of "
                    f"{100 * expected[0]:.2f}% ({100 * expected[1][0]:.2f}-"
                    f"{100 * expected[1][1]:.2f}%, from the out-of-fold scores of every "
                    "training row). A batch significantly below it (Fisher's exact test, and a "
                    "tenth or more) means the model needs retraining; a batch too small to "
                    "judge says so. Each batch's page is <batch>/report.html."
                ),
                css="summary",
            ),
            Para(rich(_latest_recent(summaries)), css="summary"),
            Image("Predicted-positive rate per batch, with its 99% interval", "positive_rate.png"),
        ]
    blocks.append(
        table(
            [
                "Batch",
                "Scored",
                "Rows",
                "Predicted positive (99% interval)",
                "Alerts",
                f"Expected positives, last {WINDOW_ROWS:,}+ rows",
                "PR-AUC (labelled)",
                "Model",
            ],
            rows,
        )
    )
    path = scored_dir / "index.html"
    _atomic_write(path, html_page("Monitoring: all scored batches", blocks).encode())
    return path


# The other class of the conventional binary labels: what a model saved before its negative
# labels were recorded can still be given.
_CONVENTIONAL_NEGATIVE = {"1": "0", "True": "False"}


def _negative_labels(summary: dict) -> list[str]:
    recorded = summary.get("negative_labels")
    if recorded:
        return [str(v) for v in recorded]
    positive = summary["positive_label"]
    conventional = next(
        (neg for pos, neg in _CONVENTIONAL_NEGATIVE.items() if is_label(positive, pos)), None
    )
    if conventional is None:
        raise BatchError(
            f"model {summary.get('version')} does not record its negative class, so its labels "
            "cannot be checked; retrain it with this release"
        )
    return [conventional]


def join_labels(
    scores: pd.DataFrame, labels: pd.DataFrame, summary: dict
) -> tuple[np.ndarray, np.ndarray]:
    """The labels of a batch's rows (by id), as 0/1, beside their scores."""
    id_name = summary["id_column"] or ROW
    target = summary["target"]
    for column in (id_name, target):
        if column not in labels.columns:
            raise BatchError(
                f"the labels file has no {column!r} column; give the batch's "
                f"{'id' if column == id_name else 'target'} column and the target for each row"
            )
    if labels[target].isna().any():
        raise DataError(f"the labels file has rows without a {target!r} value; drop or fill them")
    by_id = one_label_per_id(labels[id_name], labels[target], "the labels file")
    labels = by_id.rename_axis(id_name).rename(target).reset_index()
    ids = scores[id_name].astype(str)
    given = labels[id_name]
    unknown = given[~given.isin(set(ids))]
    if len(unknown):
        examples = ", ".join(repr(v) for v in unknown.iloc[:3])
        raise BatchError(
            f"{len(unknown)} of {len(labels)} label ids are not in the batch (e.g. {examples}); "
            f"the labels file must use the batch's {id_name!r} values"
        )
    by_id = pd.Series(scores["score"].to_numpy(), index=ids)
    positive = str(summary["positive_label"])
    classes = [positive, *_negative_labels(summary)]
    refuse_stray_labels(labels[target], classes, "the labels file", positive=positive)
    y = is_label(labels[target], positive).astype(int)
    return y, by_id.loc[given.to_numpy()].to_numpy(dtype=np.float64)
