"""Report lines (`bot.domain.report`) as Slack mrkdwn: every span of outside text is escaped
here, once, so a pod event or a log line can neither mention anyone nor forge a link."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.report import Code, Faint, Line, Link, Mark, Span, Strong
from bot.slack.blocks import escape, link

EMOJI = {
    Mark.OK: ":white_check_mark:",
    Mark.PROBLEM: ":x:",
    Mark.ERROR: ":red_circle:",
    Mark.WARNING: ":warning:",
    Mark.INFO: ":information_source:",
    Mark.ROLLOUT: ":rocket:",
    Mark.LOCK: ":lock:",
    Mark.PAUSED: ":pause_button:",
}


def _span(span: Span) -> str:
    if isinstance(span, Code):
        # A backtick inside would end the code span early.
        return "`" + escape(span.text.replace("`", "'")) + "`"
    if isinstance(span, Strong):
        return f"*{escape(span.text)}*"
    if isinstance(span, Faint):
        return f"_{escape(span.text)}_"
    if isinstance(span, Link):
        return link(span.url, span.label)
    return escape(span)


def mrkdwn_line(ln: Line) -> str:
    prefix = ("• " if ln.bullet else "") + (f"{EMOJI[ln.mark]} " if ln.mark else "")
    return prefix + "".join(_span(s) for s in ln.spans)


def mrkdwn(lines: Iterable[Line]) -> str:
    return "\n".join(mrkdwn_line(ln) for ln in lines)
