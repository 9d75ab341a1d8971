"""How long a post-mortem draft of a very long incident takes: build, Markdown, Word.

A 10,000-event timeline (a long P0 with a busy channel) is far beyond a normal incident,
so this bounds the worst case the API and the CLI can meet. As a yardstick in the same run,
the time to merely ``json.dumps`` the same events, which is what the timeline API endpoint
costs at least; each stage is also given as a multiple of it.

    .venv/bin/python bench/postmortem_render.py [EVENTS ...]   (default: 100 1000 10000)

Each stage runs a few times and the best time is kept: the least disturbed by the machine.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.domain.incident import Incident, Severity, Status
from bot.domain.postmortem import build
from bot.domain.postmortem_markdown import render_markdown
from bot.domain.timeline import EventKind, TimelineEvent
from bot.services.postmortems.docx import render_docx

T = TypeVar("T")
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
NAMES = {f"U{i:03d}": f"Responder {i}" for i in range(40)}
# A busy war room: chatter is the largest share, and it never reaches the draft.
MIX: list[tuple[EventKind, bool, str, dict[str, Any]]] = [
    (EventKind.MESSAGE, False, "checking the dashboards for records-service again", {}),
    (EventKind.MESSAGE, False, "anyone seeing this in staging too?", {}),
    (EventKind.MESSAGE, True, "📌 pinned: pool at max_connections on records-service", {}),
    (EventKind.ALERT, False, "alert group linked: HighErrorRate records-service", {}),
    (EventKind.ACTION, False, "acknowledged alert HighErrorRate", {}),
    (EventKind.STATUS_UPDATE, False, "Investigating: error rate 12%, p95 1.4 s", {}),
    (
        EventKind.ACTION,
        False,
        "Rolled back records-service to revision 41",
        {"succeeded": True, "before": "records:1.1.0", "after": "records:1.0.9"},
    ),
    (EventKind.FOLLOW_UP, False, "Alert on pool saturation", {"owner": "U001"}),
    (EventKind.REMINDER, False, "No status update for 15 minutes", {}),
    (EventKind.PAGE, False, "Paged the records on-call", {"paged": True}),
]


def events(count: int) -> list[TimelineEvent]:
    found = []
    for i in range(count):
        kind, key, text, data = MIX[i % len(MIX)]
        found.append(
            TimelineEvent(
                id=i + 1,
                incident_id=1,
                seq=i + 1,
                kind=kind,
                actor=f"U{i % 40:03d}",
                text=f"{text} #{i}",
                at=START + timedelta(seconds=2 * i),
                data=data,
                key=key,
                public=False,
                # The hash chain is the store's concern; the draft never reads it.
                prev_hash="0" * 64,
                hash="0" * 64,
            )
        )
    return found


def event_json(event: TimelineEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "kind": str(event.kind),
        "actor": event.actor,
        "text": event.text,
        "at": event.at.isoformat(),
        "data": dict(event.data),
        "key": event.key,
    }


def best(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """The fastest of `repeat` runs, in milliseconds, and the last result."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), result


def measure(count: int) -> list[str]:
    """One row of the table: the sizes, each stage's best time, and the document's size."""
    timeline = events(count)
    incident = Incident(
        id=1,
        title="Records API returning 5xx",
        severity=Severity.P0,
        status=Status.RESOLVED,
        declared_by="U000",
        declared_at=START,
        commander="U000",
        services=("records",),
        resolved_at=timeline[-1].at,
    )
    payload = [event_json(e) for e in timeline]
    now = timeline[-1].at

    baseline_ms, _ = best(lambda: json.dumps(payload, ensure_ascii=False), 5)
    build_ms, pm = best(lambda: build(incident, timeline, now), 5)
    markdown_ms, _ = best(lambda: render_markdown(pm, NAMES), 5)
    docx_ms, body = best(lambda: render_docx(pm, NAMES), 2)

    def cell(ms: float) -> str:
        return f"{ms:.1f} ({ms / baseline_ms:.1f}x)"

    return [
        f"{count:,}",
        f"{len(pm.timeline):,}",
        f"{baseline_ms:.1f}",
        cell(build_ms),
        cell(markdown_ms),
        cell(docx_ms),
        f"{len(body) / 1024:,.0f}",
    ]


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100, 1_000, 10_000]
    header = ["events", "rows", "json ms", "build ms", "markdown ms", "docx ms", "docx KB"]
    table = [header] + [measure(count) for count in sizes]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(value.rjust(width) for value, width in zip(row, widths, strict=True)))
    print()
    print("rows: timeline table rows (key events); json ms: json.dumps of the same events,")
    print("the baseline; (Nx): that stage's time as a multiple of the baseline. Best of 5")
    print("runs (docx: of 2).")


if __name__ == "__main__":
    main()
