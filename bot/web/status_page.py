"""GET /: the public status page. Only public events are shown; nothing internal leaks."""

from __future__ import annotations

from datetime import datetime
from html import escape

from aiohttp import web

from bot.domain.incident import Incident, format_duration
from bot.domain.timeline import TimelineEvent
from bot.store.base import StoreUnavailable
from bot.web.keys import CLOCK, CONFIG, STORE

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>{platform} status</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}}
.banner{{padding:1rem;border-radius:.5rem;font-weight:600}}
.ok{{background:#e6f4ea}} .bad{{background:#fce8e6}}
.incident{{border-left:4px solid #d93025;padding:.25rem 1rem;margin:1rem 0}}
.resolved{{border-left-color:#188038}} time{{color:#666;font-size:.9em}}
</style></head><body>
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


def _incident_block(incident: Incident, events: list[TimelineEvent], now: datetime) -> str:
    updates = "".join(
        f"<li>{_when(e.at)} {escape(e.text)}</li>" for e in reversed(events) if e.public
    )
    state = "resolved" if not incident.is_open else escape(str(incident.status))
    lasted = format_duration(incident.duration(now))
    return (
        f'<div class="incident{" resolved" if not incident.is_open else ""}">'
        f"<h3>{escape(incident.title)}</h3>"
        f"<p>{escape(str(incident.severity))} · {state} · started {_when(incident.declared_at)}"
        f" · {lasted}</p><ul>{updates}</ul></div>"
    )


async def status_page(request: web.Request) -> web.Response:
    store, now = request.app[STORE], request.app[CLOCK].now()
    platform = escape(request.app[CONFIG].platform)
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
        banner=banner,
        open_section="".join(_incident_block(i, timelines[i.id], now) for i in open_now),
        history="".join(_incident_block(i, timelines[i.id], now) for i in past)
        or "<p>No incidents reported.</p>",
        now=f"{now:%Y-%m-%d %H:%M:%S} UTC",
    )
    return web.Response(text=html, content_type="text/html")
