"""A document of blocks (headings, paragraphs, tables, lists, images) rendered as Markdown or as
a self-contained HTML page, and how values are written in it.

The evaluation report and the monitoring report are built as blocks, so each format carries the
same content in the same order.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
        return f"{int(x):,}"
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
    level: int
    text: str
    anchor: str = ""


@dataclass
class Para:
    content: Rich
    css: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Rich]]
    highlight: set[int] = field(default_factory=set)
    css: str = ""


@dataclass
class ListBlock:
    items: list[Rich]
    ordered: bool = False


@dataclass
class Image:
    alt: str
    src: str


Block = Heading | Para | Table | ListBlock | Image


def cell(x: Any) -> Rich:
    if isinstance(x, list):
        return x
    if isinstance(x, Span):
        return [x]
    return [Span(str(x))]


def table(headers: list[str], rows: list[list[Any]], **kw: Any) -> Table:
    return Table(headers=headers, rows=[[cell(c) for c in r] for r in rows], **kw)


# ---------------------------------------------------------------------------- markdown


def _md_code(text: str) -> str:
    # A code span must be fenced by more backticks than it contains.
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_text(text: str) -> str:
    # Text from the data (column names, categories) must not become HTML in a Markdown viewer.
    return html.escape(text.replace("\r", " ").replace("\n", " "), quote=False)


def _md_inline(spans: Rich) -> str:
    out = []
    for s in spans:
        if s.style == "code":  # a code span shows its text literally
            out.append(_md_code(s.text.replace("\r", " ").replace("\n", " ")))
            continue
        text = _md_text(s.text)
        if s.style == "b" and text:
            out.append(f"**{text}**")
        elif s.style == "em" and text:
            out.append(f"_{text}_")
        else:
            out.append(text)
    return "".join(out)


def _md_cell(text: str) -> str:
    # An unescaped pipe would split the cell and break the table layout.
    return text.replace("|", r"\|")


def _md_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {_md_text(block.text)}"
    if isinstance(block, Para):
        return _md_inline(block.content)
    if isinstance(block, ListBlock):
        lines = []
        for i, item in enumerate(block.items, start=1):
            marker = f"{i}." if block.ordered else "-"
            lines.append(f"{marker} {_md_inline(item)}")
        return "\n".join(lines)
    if isinstance(block, Table):
        lines = [
            "| " + " | ".join(_md_cell(h) for h in block.headers) + " |",
            "|" + "|".join(["---"] * len(block.headers)) + "|",
        ]
        for i, row in enumerate(block.rows):
            cells = []
            for cell in row:
                if i in block.highlight and all(s.style != "b" for s in cell):
                    cell = [Span(s.text, "b" if s.style == "" else s.style) for s in cell]
                cells.append(_md_cell(_md_inline(cell)))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    if isinstance(block, Image):
        alt = block.alt.replace("]", r"\]")
        src = block.src.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
        return f"![{alt}]({src})"
    raise TypeError(f"unknown block {block!r}")


def markdown(title: str, blocks: list[Block]) -> str:
    """A GitHub-flavoured Markdown page of blocks."""
    parts = [f"# {_md_text(title)}"] + [_md_block(b) for b in blocks]
    return "\n\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- html


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2328; margin: 0; background: #f6f8fa; line-height: 1.5; }
main { max-width: 980px; margin: 2rem auto; padding: 2rem 2.5rem; background: #fff;
       border: 1px solid #d0d7de; border-radius: 8px; }
h1 { font-size: 1.7rem; border-bottom: 2px solid #d0d7de; padding-bottom: .4rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid #eaeef2; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
p.summary { font-size: 1.05rem; background: #f0f6ff; border-left: 4px solid #0969da;
            padding: .8rem 1rem; }
p.meta { color: #57606a; font-size: .85rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .35rem .7rem; text-align: left; }
th { background: #f6f8fa; }
table.metrics td:not(:first-child) { font-variant-numeric: tabular-nums; }
tr.selected td { background: #dafbe1; font-weight: 600; }
code { background: #eff1f3; padding: .1rem .3rem; border-radius: 4px; font-size: .9em; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #d0d7de; border-radius: 4px; }
figcaption { color: #57606a; font-size: .85rem; }
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_inline(spans: Rich) -> str:
    tags = {"b": "strong", "em": "em", "code": "code"}
    out = []
    for s in spans:
        text = _esc(s.text)
        tag = tags.get(s.style)
        out.append(f"<{tag}>{text}</{tag}>" if tag else text)
    return "".join(out)


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' id="{_esc(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{_esc(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        css = f' class="{_esc(block.css)}"' if block.css else ""
        return f"<p{css}>{_html_inline(block.content)}</p>"
    if isinstance(block, ListBlock):
        tag = "ol" if block.ordered else "ul"
        items = "".join(f"<li>{_html_inline(i)}</li>" for i in block.items)
        return f"<{tag}>{items}</{tag}>"
    if isinstance(block, Table):
        css = f' class="{_esc(block.css)}"' if block.css else ""
        head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in block.headers)
        body = []
        for i, row in enumerate(block.rows):
            tr = ' class="selected"' if i in block.highlight else ""
            cells = "".join(f"<td>{_html_inline(c)}</td>" for c in row)
            body.append(f"<tr{tr}>{cells}</tr>")
        return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if isinstance(block, Image):
        return (
            f'<figure><img src="{_esc(block.src)}" alt="{_esc(block.alt)}">'
            f"<figcaption>{_esc(block.alt)}</figcaption></figure>"
        )
    raise TypeError(f"unknown block {block!r}")


def html_page(title: str, blocks: list[Block]) -> str:
    """A self-contained HTML page of blocks (also the monitoring report's)."""
    body = "\n".join(_html_block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_esc(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
