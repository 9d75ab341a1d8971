"""GET /: the public status page. Only what a person published is shown: public updates by
people, and no title that came from an alert (alert names and summaries can carry internal
hosts and paths) until a person writes one."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from html import escape

from aiohttp import web

from bot.domain.incident import Incident, format_duration
from bot.domain.timeline import EventKind, TimelineEvent
from bot.services.auto_declare import DECLARED_BY
from bot.store.base import StoreUnavailable
from bot.web.keys import CLOCK, CONFIG, STORE

STYLE = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
.banner{padding:1rem;border-radius:.5rem;font-weight:600}
.ok{background:#e6f4ea} .bad{background:#fce8e6}
.incident{border-left:4px solid #d93025;padding:.25rem 1rem;margin:1rem 0}
.resolved{border-left-color:#188038} time{color:#666;font-size:.9em}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# The page's one inline style, by its hash; nothing else may load, run or frame it.
POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'"
)
NEUTRAL_TITLE = "Service disruption"
NEUTRAL_DECLARED = "We are investigating an issue."
LINKED = "alert group linked: "
# C0 and C1 controls but tab and newline, and lone surrogates: a browser shows them as junk
# (NUL even ends some parsers' text), and a surrogate cannot be encoded as UTF-8 at all.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>{platform} status</title>
<style>{style}</style></head><body>
<h1>{platform} status</h1>
{banner}
{open_section}
<h2>Past incidents</h2>
{history}
<p><time>Updated {now}</time></p>
</body></html>
"""


def _when(moment: datetime) -> str:
    return f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M} UTC</time>'


def _text(value: str) -> str:
    """Outside text for the page: escaped, without what a browser cannot show."""
    return escape(_UNPRINTABLE.sub("", value))


def _title_from_alert(incident: Incident, events: Sequence[TimelineEvent]) -> bool:
    """Declared by the alert policy, or by a person's click whose title is the alert's own
    (`Name: summary`, as both write it) rather than one they typed."""
    if incident.declared_by == DECLARED_BY:
        return True
    for event in events:
        if event.kind == EventKind.ALERT and event.text.startswith(LINKED):
            name = event.text.removeprefix(LINKED)
            if incident.title == name or incident.title.startswith(f"{name}: "):
                return True
    return False


def _updates(events: Sequence[TimelineEvent], neutral: bool) -> list[tuple[datetime, str]]:
    shown = []
    for event in events:
        automatic = event.actor == DECLARED_BY and event.kind != EventKind.DECLARED
        if not event.public or automatic:
            continue
        text = NEUTRAL_DECLARED if neutral and event.kind == EventKind.DECLARED else event.text
        shown.append((event.at, text))
    return shown


def _incident_block(incident: Incident, events: list[TimelineEvent], now: datetime) -> str:
    neutral = _title_from_alert(incident, events)
    updates = "".join(
        f"<li>{_when(at)} {_text(text)}</li>" for at, text in reversed(_updates(events, neutral))
    )
    state = "resolved" if not incident.is_open else _text(str(incident.status))
    lasted = format_duration(incident.duration(now))
    title = NEUTRAL_TITLE if neutral else incident.title
    return (
        f'<div class="incident{" resolved" if not incident.is_open else ""}">'
        f"<h3>{_text(title)}</h3>"
        f"<p>{_text(str(incident.severity))} · {state} · started {_when(incident.declared_at)}"
        f" · {lasted}</p><ul>{updates}</ul></div>"
    )


async def status_page(request: web.Request) -> web.Response:
    store, now = request.app[STORE], request.app[CLOCK].now()
    platform = _text(request.app[CONFIG].platform)
    try:
        incidents = await store.list_incidents(limit=50)
        timelines = {i.id: await store.timeline(i.id) for i in incidents}
    except StoreUnavailable:
        return web.Response(status=503, text="Status temporarily unavailable.")
    open_now = [i for i in incidents if i.is_open]
    past = [i for i in incidents if not i.is_open][:20]
    banner = (
        f'<p class="banner bad">{len(open_now)} ongoing incident'
        f"{'s' if len(open_now) != 1 else ''}</p>"
        if open_now
        else '<p class="banner ok">All systems operational</p>'
    )
    html = PAGE.format(
        platform=platform,
        style=STYLE,
        banner=banner,
        open_section="".join(_incident_block(i, timelines[i.id], now) for i in open_now),
        history="".join(_incident_block(i, timelines[i.id], now) for i in past)
        or "<p>No incidents reported.</p>",
        now=f"{now:%Y-%m-%d %H:%M:%S} UTC",
    )
    return web.Response(
        text=html, content_type="text/html", headers={"Content-Security-Policy": POLICY}
    )
