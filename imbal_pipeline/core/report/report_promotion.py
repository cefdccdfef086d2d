"""The report's promotion section: the run's model against the champion in service."""

from __future__ import annotations

from collections.abc import Mapping

from imbal_pipeline.core.monitor.promotion import MIN_POSITIVES
from imbal_pipeline.core.report import document as doc


def comparison_rows(evidence: Mapping) -> list[list[str]]:
    """Champion, challenger and their difference: PR-AUC, positives caught, rows flagged."""
    j = doc.submap(evidence, "judgement")
    d = doc.submap(j, "decisions")
    if not d:
        return []
    rows = doc.get(j, "rows")
    bounds = f"{doc.get(j, 'low'):+.3f} to {doc.get(j, 'high'):+.3f}"

    def rate(flagged: int) -> str:
        return f"{flagged:,} ({100 * flagged / rows:.2f}%)"

    return [
        [
            "PR-AUC",
            doc.num(doc.get(j, "champion_pr_auc")),
            doc.num(doc.get(j, "challenger_pr_auc")),
            f"{doc.get(j, 'diff'):+.3f} (one-sided 95% bounds {bounds}; margin "
            f"-{doc.get(j, 'margin'):.3g})",
        ],
        [
            f"positives caught (of {doc.get(j, 'positives')})",
            str(d["champion_caught"]),
            str(d["challenger_caught"]),
            f"{d['only_champion']} by the champion alone, {d['only_challenger']} by this model "
            f"alone (McNemar p = {d['p_misses_more']:.2g} that it misses more)",
        ],
        [
            "false alarms",
            f"{d['champion_flagged'] - d['champion_caught']:,}",
            f"{d['challenger_flagged'] - d['challenger_caught']:,}",
            f"{d['false_only_champion']:,} by the champion alone, {d['false_only_challenger']:,} "
            f"by this model alone (McNemar p = {d['p_more_false']:.2g} that it raises more)",
        ],
        [
            f"rows flagged (of {rows:,})",
            rate(d["champion_flagged"]),
            rate(d["challenger_flagged"]),
            f"{d['challenger_flagged'] - d['champion_flagged']:+,}",
        ],
    ]


def promotion_section(report: Mapping) -> list[doc.Block]:
    evidence = doc.submap(report, "promotion")
    if not evidence:
        return []
    blocks: list[doc.Block] = [
        doc.Heading(2, "Promotion", "promotion"),
        doc.Para(doc.rich(str(doc.get(evidence, "line"))), css="summary"),
        # The report is written before the deployed_model step acts on the verdict, and the
        # model in service can change after it (another run, a rollback): say where it is told.
        doc.aside(
            "This run's comparison, as decided when the report was written; the deployed_model "
            "step carries it out unless another run changed the model in service meanwhile. "
            "What serves now: `imbal-pipeline versions deployed_model`."
        ),
    ]
    compared = comparison_rows(evidence)
    if compared:
        head = ["", f"champion {evidence['champion']}", f"this model {evidence['challenger']}"]
        blocks.append(doc.table([*head, "difference"], compared))
    sources = doc.get(evidence, "sources") or []
    if sources:
        headers = [
            "Rows",
            "offered",
            "left out: the champion trained on them",
            "left out: this model trained on them",
            "left out: already compared in a source above",
            "compared (positives)",
            "not comparable because",
        ]
        blocks.append(
            doc.table(
                headers,
                [
                    [
                        s["name"],
                        f"{s['rows']:,}",
                        f"{s['champion_trained']:,}",
                        f"{s['challenger_trained']:,}",
                        _compared_before(s),
                        f"{s['compared']:,} ({s['compared_positives']})",
                        s["not_comparable"] or "",
                    ]
                    for s in sources
                ],
            )
        )
        blocks.append(
            doc.aside(
                "A row either model trained on (the same features and label) is left out, and so "
                "is one an earlier source already compared: each row is compared once; "
                f"with fewer than {MIN_POSITIVES} positives left the comparison cannot decide. "
                "With more it is undecided when the PR-AUC difference's bounds reach across "
                "the margin. Undecided, the model in service stays."
            )
        )
    return blocks


def _compared_before(source: dict) -> str:
    """Rows a source left out as compared in an earlier one, and where ("200 in holdout");
    evidence written before this count existed has none."""
    where = source.get("compared_before") or {}
    return ", ".join(f"{rows:,} in {name}" for name, rows in where.items()) or "0"
