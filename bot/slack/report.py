"""Report lines (`bot.domain.report`) as Slack mrkdwn: every span of outside text is escaped
here, once, so a pod event, a log line or an incident title can neither mention anyone nor
forge a link. The only mentions are user spans holding a user id, and the only channel links
are channel spans holding a channel id."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.report import (
    Channel,
    Code,
    Faint,
    Line,
    Link,
    Mark,
    Span,
    Strong,
    User,
    is_channel_id,
    is_user_id,
)
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
    Mark.INCIDENT: ":rotating_light:",
    Mark.UPDATE: ":memo:",
    Mark.CHANGE: ":arrows_counterclockwise:",
    Mark.PERSON: ":bust_in_silhouette:",
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
    if isinstance(span, User):
        return f"<@{span.text}>" if is_user_id(span.text) else escape(span.text)
    if isinstance(span, Channel):
        return f"<#{span.text}>" if is_channel_id(span.text) else "#" + escape(span.text)
    return escape(span)


def mrkdwn_line(ln: Line) -> str:
    prefix = ("• " if ln.bullet else "") + (f"{EMOJI[ln.mark]} " if ln.mark else "")
    return prefix + "".join(_span(s) for s in ln.spans)


def mrkdwn(lines: Iterable[Line]) -> str:
    return "\n".join(mrkdwn_line(ln) for ln in lines)
