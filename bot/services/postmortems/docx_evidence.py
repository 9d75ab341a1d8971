"""The Word draft's evidence appendix and its attachments: what each playbook run and each
platform action showed, the linked alert groups, and every step's full output.

The appendix gives the summaries (as the Markdown does); each full output follows as an
attachment ("Attachment A1") in monospace, so the review reads the log the responders read.
"""

from __future__ import annotations

from collections.abc import Mapping

from docx.document import Document as DocumentObject

from bot.domain.evidence import Evidence
from bot.domain.postmortem_markdown import (
    action_facts,
    action_heading,
    alert_window,
    plain_summary,
    run_heading,
    step_heading,
)
from bot.services.postmortems.docx_xml import Para, paragraphs

STYLES = ("Heading 1", "Heading 2", "List Bullet", "List Bullet 2")
NOTHING = "No playbook ran, no platform action was taken and no alert was linked."


def appendix(doc: DocumentObject, evidence: Evidence, names: Mapping[str, str]) -> None:
    """Appends the appendix and the attachments, written in one go (a long incident has
    hundreds of actions: paragraph by paragraph through python-docx took most of a second)."""
    h1, h2, bullet, sub = (doc.styles[name].style_id for name in STYLES)
    out = [Para(h1, "Appendix: Evidence")]
    if evidence.empty:
        paragraphs(doc, [*out, Para(None, NOTHING)])
        return
    attachments: list[tuple[str, str]] = []

    out.append(Para(h2, "Playbook runs"))
    for run in evidence.runs:
        out.append(Para(None, run_heading(run, names), "bold"))
        for step in run.steps:
            said = step_heading(step.title, step.outcome, step.seconds)
            if step.details:
                attachments.append((f"{run.playbook}: {step.title} ({step.kind})", step.details))
                said += f"; full output: Attachment A{len(attachments)}"
            out.append(Para(bullet, said))
            out += [Para(sub, text) for text in plain_summary(step.lines)]
    if not evidence.runs:
        out.append(Para(None, "None."))

    out.append(Para(h2, "Platform actions"))
    for action in evidence.actions:
        out.append(Para(bullet, action_heading(action, names)))
        out += [Para(sub, fact) for fact in action_facts(action)]
        if action.result:
            attachments.append((action.text, action.result))
            out.append(Para(sub, f"result: Attachment A{len(attachments)}"))
    if not evidence.actions:
        out.append(Para(None, "None."))

    out.append(Para(h2, "Alert groups"))
    for alert in evidence.alerts:
        out.append(Para(bullet, alert_window(alert) + (f" ({alert.url})" if alert.url else "")))
    if not evidence.alerts:
        out.append(Para(None, "None."))

    if attachments:
        out.append(Para(h1, "Attachments"))
    for number, (title, text) in enumerate(attachments, start=1):
        out.append(Para(h2, f"Attachment A{number}: {title}"))
        out.append(Para(None, text, "mono"))
    paragraphs(doc, out)
