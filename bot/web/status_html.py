"""The status page's HTML: the overall status, components with their 90-day bars, open
incidents, maintenances and past incidents by day; one incident's page; the page for an
unknown one. Published text is escaped here, once."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from html import escape

from bot.domain.incident import format_duration
from bot.domain.publication import Maintenance, PublicIncident
from bot.domain.status_history import by_day, uptime_percent
from bot.web.status_view import Component, StatusView

# Text colours are 4.5:1 or more on white (WCAG AA); the bars carry no text.
STYLE = """
body{font-family:system-ui,sans-serif;max-width:56rem;margin:0 auto;padding:1rem;color:#1f1f1f;
background:#fff;line-height:1.45}
a{color:#0b57d0} h1{font-size:1.6rem} h2{font-size:1.25rem;margin-top:2rem}
h3{font-size:1.05rem;margin:.25rem 0}
.banner{padding:1rem;border-radius:.5rem;font-weight:600;font-size:1.1rem}
.none{background:#e6f4ea;color:#0d5323} .minor{background:#fef7e0;color:#6b4d00}
.major,.critical{background:#fce8e6;color:#8c1d18} .maintenance{background:#e8f0fe;color:#0b3d91}
.components{list-style:none;padding:0} .components>li{border-bottom:1px solid #ddd;padding:.6rem 0}
.row{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.5rem}
.s-operational{color:#0d5323} .s-degraded_performance{color:#6b4d00}
.s-partial_outage{color:#a0390b} .s-major_outage{color:#8c1d18} .s-under_maintenance{color:#0b3d91}
.bars{display:flex;gap:1px;height:1.6rem;margin:.35rem 0 .15rem;padding:0;list-style:none}
.bars li{flex:1;min-width:1px;border-radius:1px;background:#2e9d4c}
.bars .b-degraded_performance{background:#e0a800} .bars .b-partial_outage{background:#e8710a}
.bars .b-major_outage{background:#c5221f}
.uptime{color:#4d4d4d;font-size:.85rem;display:flex;justify-content:space-between}
.incident{border-left:4px solid #c5221f;padding:.25rem 1rem;margin:1rem 0}
.incident.resolved{border-left-color:#2e9d4c} .incident.maint{border-left-color:#1a5fb4}
.updates{list-style:none;padding:0} .updates li{margin:.4rem 0}
time,.meta{color:#4d4d4d;font-size:.9em} .group{font-weight:600;margin-top:1rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
footer{margin-top:2rem;color:#4d4d4d;font-size:.9rem}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# The pages' one inline style, by its hash; nothing may run, load or frame them.
POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'"
)
# C0 and C1 controls but tab and newline, and lone surrogates: a browser shows them as junk
# (NUL even ends some parsers' text), and a surrogate cannot be encoded as UTF-8 at all.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

DOCUMENT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="alternate" type="application/atom+xml" title="{platform} status feed" href="/feed.atom">
<style>{style}</style></head><body>
<header><h1>{heading}</h1></header>
<main>
{main}
</main>
<footer><p>Updated <time datetime="{now_iso}">{now}</time> ·
<a href="/feed.atom">Atom feed</a> · <a href="/api/v2/summary.json">JSON</a></p></footer>
</body></html>
"""


def printable(value: str) -> str:
    """Without what a browser cannot show (and XML cannot hold)."""
    return _UNPRINTABLE.sub("", value)


def text(value: str) -> str:
    """Outside text for the page: escaped, without what a browser cannot show."""
    return escape(printable(value))


def when(moment: datetime) -> str:
    return f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M} UTC</time>'


def _document(view: StatusView, title: str, heading: str, main: str) -> bytes:
    platform = text(view.platform)
    return DOCUMENT.format(
        title=title,
        platform=platform,
        heading=heading,
        style=STYLE,
        main=main,
        now_iso=view.now.isoformat(),
        now=f"{view.now:%Y-%m-%d %H:%M:%S} UTC",
    ).encode()


def _bars(component: Component) -> str:
    # A day's label only where something happened: 90 bars a component, most of them quiet.
    bars = "".join(
        f'<li class="b-{day.worst}" title="{day.day:%Y-%m-%d}: {day.worst.label}:'
        f' {text(", ".join(day.incidents))}"></li>'
        if day.incidents
        else "<li></li>"
        for day in component.days
    )
    percent = uptime_percent(component.days)
    return (
        f'<ol class="bars" aria-hidden="true">{bars}</ol>'
        f'<p class="uptime"><span>{len(component.days)} days ago</span>'
        f"<span>{percent:.2f}% uptime</span><span>Today</span></p>"
    )


def _component(component: Component, level: int) -> str:
    return (
        f'<li><div class="row"><h{level}>{text(component.name)}</h{level}>'
        f'<p class="s-{component.status}"><span class="visually-hidden">Status: </span>'
        f"<strong>{component.status.label}</strong></p></div>{_bars(component)}</li>"
    )


def _components(components: Iterable[Component]) -> str:
    """Components without a group first, then each group (in the config's order of first
    mention) with its own heading and list."""
    loose: list[str] = []
    groups: dict[str, list[str]] = {}
    for component in components:
        if component.group is None:
            loose.append(_component(component, 3))
        else:
            groups.setdefault(component.group, []).append(_component(component, 4))
    grouped = [
        f'<li><h3 class="group">{text(name)}</h3><ul class="components">{"".join(members)}</ul>'
        "</li>"
        for name, members in groups.items()
    ]
    return f'<ul class="components">{"".join(loose + grouped)}</ul>'


def _updates(incident: PublicIncident) -> str:
    return "".join(
        f"<li><strong>{update.status.capitalize()}</strong> · {when(update.created_at)}"
        f"<br>{text(update.body)}</li>"
        for update in incident.updates
    )


def incident_block(view: StatusView, incident: PublicIncident, level: int = 3) -> str:
    affected = ", ".join(view.component_name(c) for c in incident.components) or "none named"
    lasted = format_duration(
        ((incident.resolved_at or view.now) - incident.created_at).total_seconds()
    )
    state = "Resolved" if not incident.is_open else incident.status.capitalize()
    resolved = " resolved" if not incident.is_open else ""
    return (
        f'<article class="incident{resolved}">'
        f'<h{level}><a href="/incidents/{incident.public_id}">{text(incident.title)}</a>'
        f"</h{level}>"
        f'<p class="meta">{state} · {incident.impact.label} · affects {text(affected)} ·'
        f" started {when(incident.created_at)} · {lasted}</p>"
        f'<ul class="updates">{_updates(incident)}</ul></article>'
    )


def _maintenance(view: StatusView, maintenance: Maintenance) -> str:
    affected = ", ".join(view.component_name(c) for c in maintenance.components)
    state = {"scheduled": "Scheduled", "in_progress": "In progress"}.get(
        maintenance.state(view.now), "Completed"
    )
    body = f"<p>{text(maintenance.body)}</p>" if maintenance.body else ""
    return (
        f'<article class="incident maint"><h3>{text(maintenance.title)}</h3>'
        f'<p class="meta">{state} maintenance · {when(maintenance.starts_at)} to'
        f" {when(maintenance.ends_at)} · affects {text(affected)}</p>{body}</article>"
    )


def status_page(view: StatusView) -> bytes:
    indicator = view.indicator
    open_now = view.open_incidents
    sections = [
        f'<section aria-labelledby="overall"><h2 id="overall" class="visually-hidden">'
        f'Current status</h2><p class="banner {indicator.indicator}" role="status">'
        f"{indicator.description}</p></section>"
    ]
    if open_now:
        sections.append(
            '<section aria-labelledby="open"><h2 id="open">Ongoing incidents</h2>'
            + "".join(incident_block(view, i) for i in open_now)
            + "</section>"
        )
    if view.maintenances:
        sections.append(
            '<section aria-labelledby="maint"><h2 id="maint">Scheduled maintenance</h2>'
            + "".join(_maintenance(view, m) for m in view.maintenances)
            + "</section>"
        )
    sections.append(
        '<section aria-labelledby="components"><h2 id="components">Components</h2>'
        f"{_components(view.components)}</section>"
    )
    days = []
    for day, incidents in by_day((i for i in view.incidents if not i.is_open), view.now):
        listed = (
            "".join(incident_block(view, i, level=4) for i in incidents)
            or "<p>No incidents reported.</p>"
        )
        days.append(f"<h3>{day:%B} {day.day}, {day:%Y}</h3>{listed}")
    sections.append(
        '<section aria-labelledby="past"><h2 id="past">Past incidents</h2>'
        f"{''.join(days)}</section>"
    )
    platform = text(view.platform)
    return _document(view, f"{platform} status", f"{platform} status", "\n".join(sections))


def incident_page(view: StatusView, incident: PublicIncident) -> bytes:
    platform = text(view.platform)
    main = f'<p><a href="/">← {platform} status</a></p>' + incident_block(view, incident, level=2)
    return _document(view, f"{text(incident.title)} · {platform} status", platform, main)


def not_found_page(view: StatusView) -> bytes:
    platform = text(view.platform)
    main = (
        '<section aria-labelledby="nf"><h2 id="nf">No such incident</h2>'
        "<p>There is no published incident at this address.</p>"
        f'<p><a href="/">See the current {platform} status</a></p></section>'
    )
    return _document(view, f"Not found · {platform} status", platform, main)
