"""The post-mortem draft as a Word document, from the same model as the Markdown.

Same sections in the same order as ``render_markdown``, but as a document people edit at
the review: real heading styles (so Word's navigation pane and table of contents work),
the timeline and the action items as tables, and the metrics chart under Impact.

The "to be filled in" placeholders are Markdown italics in the shared text; here they
become italic runs, so a reviewer can spot (and overwrite) them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from copy import deepcopy
from datetime import UTC, datetime

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches, Length
from docx.table import Table, _Row
from docx.text.paragraph import Paragraph

from bot.domain.postmortem import (
    FILL_IN,
    PROMPTS_IMPROVE,
    PROMPTS_WENT_WELL,
    PostMortem,
    minutes,
    who,
)

PLACEHOLDER = FILL_IN.strip("_")  # the Markdown's _italics_ markers are not text
CHART_WIDTH = Inches(6)  # the default template's text width: 8.5 in less two 1.25 in margins
TIMELINE_COLUMNS = (("Time (UTC)", Inches(1.3)), ("Event", Inches(3.5)), ("Who", Inches(1.2)))
ACTION_COLUMNS = (("Item", Inches(3.5)), ("Owner", Inches(1.3)), ("Due", Inches(1.2)))
TABLE_STYLE = "Table Grid"
# XML 1.0 cannot hold these; a stray control character in a Slack message would otherwise
# make lxml refuse the whole document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _write(paragraph: Paragraph, text: str) -> None:
    """Adds text to the paragraph, the shared placeholder in italics."""
    for i, part in enumerate(text.split(FILL_IN)):
        if i:
            paragraph.add_run(PLACEHOLDER).italic = True
        if part:
            paragraph.add_run(_clean(part))


def _bullet(doc: DocumentObject, text: str, style_id: str) -> Paragraph:
    paragraph = doc.add_paragraph()
    # By style ID, looked up once per document: python-docx resolves a style given by name
    # (or object) with two scans of the styles part per paragraph, which dominated the
    # time of a long draft.
    paragraph._p.style = style_id
    _write(paragraph, text)
    return paragraph


def _labelled(paragraph: Paragraph, label: str, value: str) -> None:
    paragraph.add_run(f"{label}: ").bold = True
    _write(paragraph, value)


def _repeat_header(table: Table) -> None:
    """Marks the first row as a header row: Word repeats it on every page the table spans.

    python-docx has no API for it, hence the w:tblHeader element on the row's properties.
    """
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def _table(
    doc: DocumentObject,
    columns: Sequence[tuple[str, Length]],
    rows: Sequence[Sequence[str]],
) -> Table:
    table: Table = doc.add_table(rows=1, cols=len(columns))  # unannotated in python-docx
    table.style = TABLE_STYLE
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    # Widths on the grid columns first: python-docx copies them into every row added later,
    # which Word needs (it reads cell widths) and which is far cheaper than per-cell writes.
    for column, (_, width) in zip(table.columns, columns, strict=True):
        column.width = width
    for cell, (title, width) in zip(table.rows[0].cells, columns, strict=True):
        cell.width = width
        cell.paragraphs[0].add_run(title).bold = True
    _repeat_header(table)
    if not rows:
        return table
    # One row the python-docx way (it copies the grid's widths into the cells, which Word
    # reads), then copies of that still-empty row: an lxml deep copy is much cheaper than
    # python-docx writing each cell's width, which matters for a timeline of thousands.
    first: _Row = table.add_row()  # type: ignore[no-untyped-call]  # unannotated upstream
    blank = deepcopy(first._tr)
    for i, values in enumerate(rows):
        row = first
        if i:
            tr = deepcopy(blank)
            table._tbl.append(tr)
            row = _Row(tr, table)
        for cell, value in zip(row.cells, values, strict=True):
            _write(cell.paragraphs[0], value)
    return table


def _utc(moment: datetime) -> datetime:
    # The column says UTC; the store keeps UTC already, this only guards other callers.
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment


def render_docx(
    pm: PostMortem, names: Mapping[str, str] | None = None, chart_png: bytes | None = None
) -> bytes:
    """The draft as .docx bytes; `names` maps Slack user IDs to display names."""
    names = names or {}
    doc = Document()
    bullet_style = doc.styles["List Bullet"].style_id

    def bullet(text: str) -> None:
        _bullet(doc, text, bullet_style)

    props = doc.core_properties
    # Word's document properties hold at most 255 characters each.
    props.title = _clean(f"Post-Mortem: {pm.title}")[:255]
    props.subject = "Incident post-mortem"
    props.author = props.last_modified_by = "incident-bot"
    # Otherwise the document claims the template's dates (2013).
    props.created = props.modified = datetime.now(UTC)

    doc.add_heading(_clean(f"Post-Mortem: {pm.title}"), level=0)
    meta = [
        ("Date", f"{pm.date:%Y-%m-%d}"),
        ("Duration", f"{pm.duration}{' (still open)' if pm.open else ''}"),
        ("Severity", pm.severity),
        ("Incident Commander", who(pm.commander, names)),
    ]
    for label, value in meta:
        paragraph = doc.add_paragraph()
        paragraph.paragraph_format.space_after = 0
        _labelled(paragraph, label, value)

    doc.add_heading("Summary", level=1)
    _write(doc.add_paragraph(), pm.summary or FILL_IN)

    doc.add_heading("Impact", level=1)
    bullet(f"Services affected: {', '.join(pm.services) or 'none named'}")
    bullet(f"Duration: {pm.duration}")
    bullet(f"Alerts: {', '.join(pm.alerts) or 'none linked'}")
    bullet(f"Users affected: {FILL_IN}")
    bullet(f"Revenue impact: {FILL_IN}")
    bullet(f"Data loss: {FILL_IN}")
    if chart_png is not None:
        doc.add_picture(io.BytesIO(chart_png), width=CHART_WIDTH)
        doc.add_paragraph(
            "Error rate and p95 latency of the affected services; the shaded band is the "
            "incident, from declaration (or first alert) to resolution.",
            style="Caption",
        )

    doc.add_heading("Response times", level=2)
    bullet(f"Time to acknowledge: {minutes(pm.times.to_acknowledge)}")
    bullet(f"Time to mitigate: {minutes(pm.times.to_mitigate)}")
    bullet(f"Time to resolve: {minutes(pm.times.to_resolve)}")

    doc.add_heading("Timeline", level=1)
    doc.add_paragraph("All times UTC.")
    _table(
        doc,
        TIMELINE_COLUMNS,
        [(f"{_utc(e.at):%Y-%m-%d %H:%M}", e.text, who(e.actor, names)) for e in pm.timeline],
    )

    doc.add_heading("Root Cause", level=1)
    if pm.root_cause:
        for cause in pm.root_cause:
            bullet(cause)
    else:
        _write(doc.add_paragraph(), FILL_IN)

    doc.add_heading("Resolution", level=1)
    if pm.resolution:
        for entry in pm.resolution:
            bullet(f"{_utc(entry.at):%H:%M} {entry.text}")
    else:
        _write(doc.add_paragraph(), "No production change was made through the bot. " + FILL_IN)

    doc.add_heading("Action Items", level=1)
    items = [(f.text, who(f.owner, names), FILL_IN) for f in pm.follow_ups]
    _table(doc, ACTION_COLUMNS, items or [(FILL_IN, FILL_IN, FILL_IN)])

    doc.add_heading("Lessons Learned", level=1)
    doc.add_heading("What went well?", level=2)
    for prompt in PROMPTS_WENT_WELL:
        bullet(prompt)
    doc.add_heading("What could be improved?", level=2)
    for prompt in PROMPTS_IMPROVE:
        bullet(prompt)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
