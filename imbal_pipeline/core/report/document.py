"""A document of blocks (headings, paragraphs, tables, lists, images) rendered as Markdown or as
a self-contained HTML page, and how values are written in it.

The evaluation report and the monitoring report are built as blocks, so each format carries the
same content in the same order.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jinja2
from markupsafe import Markup

NA = "n/a"


# --------------------------------------------------------------------------- formatting


def is_missing(x: Any) -> bool:
    if x is None:
        return True
    if isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral):
        return math.isnan(float(x))
    if isinstance(x, str | bytes | Mapping | Sequence):
        return False
    try:
        # NaN-like markers (e.g. pandas.NA) are not equal to themselves.
        return bool(x != x)
    except (TypeError, ValueError):
        # pandas.NA refuses bool(); anything that ambiguous is a missing marker.
        return True


def num(x: Any) -> str:
    """Format a metric-like number to 3 decimals; None/NaN become 'n/a'."""
    if is_missing(x):
        return NA
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, numbers.Real):
        v = float(x)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.3f}"
    return str(x)


def threshold_text(x: Any) -> str:
    """A threshold as a reader can check it: three decimals, or three significant digits below
    0.001, where three decimals would read 0.000 (a cost objective can choose 0.000135)."""
    if not is_missing(x) and isinstance(x, numbers.Real) and 0 < abs(float(x)) < 0.001:
        return f"{float(x):.3g}"
    return num(x)


def count(x: Any) -> str:
    """Format a count with thousands separators; non-integral values fall back to num."""
    if is_missing(x):
        return NA
    if isinstance(x, bool):
        return str(int(x))
    if isinstance(x, numbers.Integral):
        return f"{int(x):,}"
    if isinstance(x, numbers.Real) and math.isfinite(float(x)) and float(x).is_integer():
        return f"{int(float(x)):,}"
    return num(x)


def param(x: Any) -> str:
    if isinstance(x, Mapping):
        return ", ".join(f"{k}={param(v)}" for k, v in x.items()) or "{}"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(param(v) for v in x) + "]"
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return count(x)
    return num(x)


def ratio(num: Any, den: Any) -> float | None:
    try:
        n, d = float(num), float(den)
    except (TypeError, ValueError):
        return None
    if math.isnan(n) or math.isnan(d) or d == 0:
        return None
    return n / d


def get(d: Any, key: str, default: Any = None) -> Any:
    return d.get(key, default) if isinstance(d, Mapping) else default


def submap(d: Any, key: str) -> Mapping:
    """The sub-mapping at ``key``, or an empty one when missing, None or malformed."""
    value = get(d, key)
    return value if isinstance(value, Mapping) else {}


def cm_cells(cm: Any) -> tuple[Any, Any, Any, Any] | None:
    try:
        (tn, fp), (fn, tp) = cm
    except (TypeError, ValueError):
        return None
    return tn, fp, fn, tp


# Why a figure is 0/0, by the count it divides by: report.json holds 0 for it (its schema).
UNDEFINED = {
    "precision": "precision is undefined where no row is flagged",
    "recall": "recall and F1 are undefined where there are no positives",
    "f1": "recall and F1 are undefined where there are no positives",
}


def undefined(metrics: Any, key: str) -> str | None:
    """Why figure `key` of a metrics mapping is 0/0 (`UNDEFINED`), read off its confusion
    matrix; None when it is defined or the matrix is missing."""
    cells = cm_cells(get(metrics, "confusion_matrix"))
    if cells is None or key not in UNDEFINED or any(is_missing(c) for c in cells):
        return None
    _, fp, fn, tp = cells
    counted = tp + fp if key == "precision" else tp + fn
    return UNDEFINED[key] if counted == 0 else None


def figure(metrics: Any, key: str) -> str:
    """`num` of figure `key`, or n/a where it is 0/0 (`undefined`) though the file holds 0."""
    return NA if undefined(metrics, key) else num(get(metrics, key))


def undefined_note(reasons: Iterable[str | None]) -> str:
    """The aside, said once under a table, for the n/a its 0/0 figures show; empty if none."""
    found = sorted({r for r in reasons if r})
    if not found:
        return ""
    return f"n/a: {'; '.join(found)} (report.json holds 0 for these figures)."


def interval(interval: Any) -> str:
    """An interval as "a-b" ("a to b" when an end is negative), or empty when there is none."""
    low, high = get(interval or {}, "ci_low"), get(interval or {}, "ci_high")
    if is_missing(low) or is_missing(high):
        return ""
    return span(num(low), num(high))


def span(low: str, high: str) -> str:
    """Two written ends of a range: "0.3-0.8", but "-0.004 to 0.815", never "-0.004-0.815"."""
    return f"{low} to {high}" if "-" in low + high else f"{low}-{high}"


def mean_std(m: Mapping, key: str) -> str:
    mean, std = get(m, f"{key}_mean"), get(m, f"{key}_std")
    if is_missing(mean):
        return NA
    if is_missing(std):
        return num(mean)
    return f"{num(mean)} ± {num(std)}"


# ------------------------------------------------------------------------------ blocks


@dataclass
class Span:
    text: str
    style: str = ""  # "", "b", "em", "code"


Rich = list[Span]


def rich(*parts: str | Span) -> Rich:
    return [p if isinstance(p, Span) else Span(str(p)) for p in parts]


def bold(text: Any) -> Span:
    return Span(str(text), "b")


def em(text: Any) -> Span:
    return Span(str(text), "em")


def code(text: Any) -> Span:
    return Span(str(text), "code")


@dataclass
class Heading:
    kind: ClassVar[str] = "heading"  # what the templates render it as
    level: int
    text: str
    anchor: str = ""


@dataclass
class Para:
    kind: ClassVar[str] = "para"  # what the templates render it as
    content: Rich
    css: str = ""


@dataclass
class Table:
    kind: ClassVar[str] = "table"  # what the templates render it as
    headers: list[str]
    rows: list[list[Rich]]
    highlight: set[int] = field(default_factory=set)
    css: str = ""


@dataclass
class ListBlock:
    kind: ClassVar[str] = "list"  # what the templates render it as
    items: list[Rich]
    ordered: bool = False


@dataclass
class Image:
    kind: ClassVar[str] = "image"  # what the templates render it as
    alt: str
    src: str


Block = Heading | Para | Table | ListBlock | Image


def cell(x: Any) -> Rich:
    if isinstance(x, list):
        return x
    if isinstance(x, Span):
        return [x]
    return [Span(str(x))]


def aside(text: str) -> Para:
    """A paragraph in italics saying how the figures above it were made."""
    return Para([em(text)])


def table(headers: list[str], rows: list[list[Any]], **kw: Any) -> Table:
    return Table(headers=headers, rows=[[cell(c) for c in r] for r in rows], **kw)


# ---------------------------------------------------------------------------- markdown


def _md_code(text: str) -> str:
    # One line (a line break would end the span and let the rest become HTML or split a table
    # row), fenced by more backticks than it contains.
    text = text.replace("\r", " ").replace("\n", " ")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_text(text: str) -> str:
    # Text from the data (column names, categories) must not become HTML in a Markdown viewer.
    return html.escape(text.replace("\r", " ").replace("\n", " "), quote=False)


def _md_cell(text: str) -> str:
    # An unescaped pipe would split the cell and break the table layout.
    return text.replace("|", r"\|")


# Autoescape for HTML with `html.escape`'s entities (`&quot;`, `&#x27;`): every value a
# template outputs is escaped unless it is already markup (a macro's result).
def _escaped(value: Any) -> Any:
    return value if isinstance(value, Markup) else Markup(html.escape(str(value), quote=True))


_ENVIRONMENTS = {
    "html": jinja2.Environment(
        loader=jinja2.PackageLoader("imbal_pipeline.core.report", "templates"),
        autoescape=True,
        finalize=_escaped,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    ),
    "md": jinja2.Environment(
        loader=jinja2.PackageLoader("imbal_pipeline.core.report", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    ),
}
_ENVIRONMENTS["md"].filters.update(md_text=_md_text, md_code=_md_code, md_cell=_md_cell)


def _render(fmt: str, title: str, blocks: list[Block]) -> str:
    template = _ENVIRONMENTS[fmt].get_template(f"page.{fmt}.j2")
    return template.render(title=title, blocks=blocks)


def markdown(title: str, blocks: list[Block]) -> str:
    """A GitHub-flavoured Markdown page of blocks (templates/page.md.j2)."""
    return _render("md", title, blocks)


def html_page(title: str, blocks: list[Block]) -> str:
    """A self-contained HTML page of blocks (templates/page.html.j2), also the monitoring
    report's."""
    return _render("html", title, blocks)
