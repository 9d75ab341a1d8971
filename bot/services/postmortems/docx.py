"""The post-mortem draft as a Word document, from the same model as the Markdown.

Same sections in the same order as ``render_markdown``, but as a document people edit at
the review: real heading styles (so Word's navigation pane and table of contents work),
the timeline and the action items as tables, the metrics chart under Impact, and the
evidence appendix with every step's full output attached.

The "to be filled in" placeholders are Markdown italics in the shared text; here they
become italic runs, so a reviewer can spot (and overwrite) them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime

from docx import Document
from docx.document import Document as DocumentObject
from docx.shared import Inches
from docx.text.paragraph import Paragraph

from bot.domain.postmortem import (
    FILL_IN,
    PROMPTS_IMPROVE,
    PROMPTS_WENT_WELL,
    TIME,
    PostMortem,
    commander_line,
    response_lines,
    who,
)
from bot.services.postmortems.docx_evidence import appendix
from bot.services.postmortems.docx_xml import PLACEHOLDER, Para, clean, paragraphs, table

CHART_WIDTH = Inches(6)  # the default template's text width: 8.5 in less two 1.25 in margins
TIMELINE_COLUMNS = (("Time (UTC)", Inches(1.5)), ("Event", Inches(3.4)), ("Who", Inches(1.1)))
ACTION_COLUMNS = (("Item", Inches(3.5)), ("Owner", Inches(1.3)), ("Due", Inches(1.2)))


def _write(paragraph: Paragraph, text: str) -> None:
    """Adds text to the paragraph, the shared placeholder in italics."""
    for i, part in enumerate(text.split(FILL_IN)):
        if i:
            paragraph.add_run(PLACEHOLDER).italic = True
        if part:
            paragraph.add_run(clean(part))


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
    props.title = clean(f"Post-Mortem: {pm.title}")[:255]
    props.subject = "Incident post-mortem"
    props.author = props.last_modified_by = "incident-bot"
    # Otherwise the document claims the template's dates (2013).
    props.created = props.modified = datetime.now(UTC)

    doc.add_heading(clean(f"Post-Mortem: {pm.title}"), level=0)
    meta = [
        ("Date", f"{pm.date:%Y-%m-%d}"),
        ("Duration", f"{pm.duration}{' (still open)' if pm.open else ''}"),
        ("Severity", pm.severity),
        ("Incident Commander", commander_line(pm.commander, names)),
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
            "incident, from declaration to resolution, with declared, mitigated and resolved"
            " marked and the alert rule's threshold dashed where it has one.",
            style="Caption",
        )

    doc.add_heading("Response times", level=2)
    measured, *times = response_lines(pm.times, names)
    doc.add_paragraph(measured)
    for line in times:
        bullet(line)

    doc.add_heading("Timeline", level=1)
    doc.add_paragraph("All times UTC.")
    table(
        doc,
        TIMELINE_COLUMNS,
        [(f"{_utc(e.at):{TIME}}", e.text, who(e.actor, names)) for e in pm.timeline],
    )

    doc.add_heading("Root Cause", level=1)
    if pm.root_cause:
        for cause in pm.root_cause:
            bullet(cause)
    else:
        _write(doc.add_paragraph(), FILL_IN)

    doc.add_heading("Resolution", level=1)
    if pm.resolution:
        paragraphs(
            doc, [Para(bullet_style, f"{_utc(e.at):%H:%M:%S} {e.text}") for e in pm.resolution]
        )
    else:
        _write(doc.add_paragraph(), "No production change was made through the bot. " + FILL_IN)

    doc.add_heading("Action Items", level=1)
    items = [(f.text, who(f.owner, names), FILL_IN) for f in pm.follow_ups]
    table(doc, ACTION_COLUMNS, items or [(FILL_IN, FILL_IN, FILL_IN)])

    doc.add_heading("Lessons Learned", level=1)
    doc.add_heading("What went well?", level=2)
    for prompt in PROMPTS_WENT_WELL:
        bullet(prompt)
    doc.add_heading("What could be improved?", level=2)
    for prompt in PROMPTS_IMPROVE:
        bullet(prompt)

    appendix(doc, pm.evidence, names)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
