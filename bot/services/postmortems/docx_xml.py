"""Word tables and preformatted text built as WordprocessingML in one parse.

python-docx's per-cell and per-run calls cost tens of microseconds each (a row's `cells`
recomputes the grid, a run's `text` clears and re-adds its content); a 6,000-row timeline
spent two thirds of its rendering there. Rows written as one XML string and parsed once by
lxml are the same elements at a fraction of the cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Length
from docx.table import Table

from bot.domain.postmortem import FILL_IN

PLACEHOLDER = FILL_IN.strip("_")  # the Markdown's _italics_ markers are not text
TABLE_STYLE = "Table Grid"
MONOSPACE = "Consolas"
MONOSPACE_HALF_POINTS = 16  # 8 pt: a log line of ~100 characters fits the text width
# XML 1.0 cannot hold these; a stray control character in a Slack message would otherwise
# make lxml refuse the whole document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ITALIC = "<w:rPr><w:i/></w:rPr>"


def clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _run(text: str, props: str = "") -> str:
    # A line break inside the text is Word's <w:br/>, as python-docx's Run.text writes it.
    parts = escape(clean(text)).split("\n")
    inner = "<w:br/>".join(f'<w:t xml:space="preserve">{part}</w:t>' for part in parts)
    return f"<w:r>{props}{inner}</w:r>"


def runs(text: str) -> str:
    """The text as runs, the shared placeholder in italics."""
    out = []
    for i, part in enumerate(text.split(FILL_IN)):
        if i:
            out.append(_run(PLACEHOLDER, _ITALIC))
        if part:
            out.append(_run(part))
    return "".join(out)


def repeat_header(table: Table) -> None:
    """Marks the first row as a header row: Word repeats it on every page the table spans.

    python-docx has no API for it, hence the w:tblHeader element on the row's properties.
    """
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def table(
    doc: DocumentObject,
    columns: Sequence[tuple[str, Length]],
    rows: Sequence[Sequence[str]],
) -> Table:
    """A table with a bold header row repeated on each page, then `rows` of plain text."""
    made: Table = doc.add_table(rows=1, cols=len(columns))  # unannotated in python-docx
    made.style = TABLE_STYLE
    made.alignment = WD_TABLE_ALIGNMENT.CENTER
    made.autofit = False
    for column, (_, width) in zip(made.columns, columns, strict=True):
        column.width = width
    for cell, (title, width) in zip(made.rows[0].cells, columns, strict=True):
        cell.width = width
        cell.paragraphs[0].add_run(title).bold = True
    repeat_header(made)
    if not rows:
        return made
    # Each cell carries its width as well as the grid: Word reads the cells'.
    starts = [
        f'<w:tc><w:tcPr><w:tcW w:w="{width.twips}" w:type="dxa"/></w:tcPr><w:p>'
        for _, width in columns
    ]
    body = "".join(
        "<w:tr>"
        + "".join(
            f"{start}{runs(value)}</w:p></w:tc>" for start, value in zip(starts, row, strict=True)
        )
        + "</w:tr>"
        for row in rows
    )
    parsed = parse_xml(f"<w:tbl {nsdecls('w')}>{body}</w:tbl>")
    made._tbl.extend(list(parsed))
    return made


MONO = (
    f'<w:rPr><w:rFonts w:ascii="{MONOSPACE}" w:hAnsi="{MONOSPACE}" w:cs="{MONOSPACE}"/>'
    f'<w:sz w:val="{MONOSPACE_HALF_POINTS}"/></w:rPr>'
)
BOLD = "<w:rPr><w:b/></w:rPr>"


@dataclass(frozen=True)
class Para:
    """One paragraph: its style by ID (None: Normal), its text, and how the text looks."""

    style_id: str | None
    text: str
    look: Literal["plain", "bold", "mono"] = "plain"


def paragraphs(doc: DocumentObject, items: Iterable[Para]) -> None:
    """Appends the paragraphs at the end of the body in one parse."""
    out = []
    for item in items:
        props = '<w:spacing w:after="0"/>' if item.look == "mono" else ""
        if item.style_id is not None:
            props = f'<w:pStyle w:val="{escape(item.style_id)}"/>' + props
        text = (
            runs(item.text)
            if item.look == "plain"
            else _run(item.text, MONO if item.look == "mono" else BOLD)
        )
        out.append(f"<w:p>{f'<w:pPr>{props}</w:pPr>' if props else ''}{text}</w:p>")
    body = doc.element.body
    parsed = list(parse_xml(f"<w:body {nsdecls('w')}>{''.join(out)}</w:body>"))
    # Before the section properties, like add_paragraph; found once, since python-docx's
    # insert looks for them among all the body's children on every paragraph.
    end = body.sectPr
    if end is None:
        body.extend(parsed)
        return
    for paragraph in parsed:
        end.addprevious(paragraph)
