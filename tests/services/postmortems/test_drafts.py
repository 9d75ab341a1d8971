"""Post-mortem drafts end to end: an incident recorded in a real SQLite store, its draft as
Markdown and as a Word document read back with python-docx, and the metrics chart drawn
from a local fake Prometheus answering range queries over HTTP."""

from __future__ import annotations

import io
import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docx
import pytest
from docx.document import Document as DocumentObject
from docx.shared import Inches
from docx.table import Table
from docx.text.paragraph import Paragraph
from matplotlib.figure import Figure

from bot.config import PlatformConfig, Service
from bot.domain.incident import Incident, NewIncident, Severity, Status
from bot.domain.postmortem import PostMortem, build
from bot.domain.postmortem_markdown import render_markdown
from bot.domain.timeline import EventKind, NewEvent
from bot.integrations.prometheus import PrometheusError, PrometheusQueries, preset_query
from bot.services.postmortems.chart import MAX_POINTS, incident_chart, pad_for, step_for
from bot.services.postmortems.docx import render_docx
from bot.store.sqlite import SqliteStore
from tests.fakes.prometheus import FakePrometheus, served

DECLARED = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)
RESOLVED = datetime(2026, 3, 2, 14, 58, tzinfo=UTC)
NAMES = {"U_ALICE": "Alice Ng", "U_BOB": "Bob Ruiz", "U_CAROL": "Carol Ode"}
CHATTER = "anyone else seeing slow CI today? lunch at 1?"
PINNED = "📌 pinned: records-service pods at max_connections=100 on postgres"
ROLLBACK = "Rolled back records-service to revision 41 (records:1.0.9)"
FILL = "(to be filled in at the review)"

# The key events, as the timeline table and the Markdown list must show them, in order.
EXPECTED_TIMELINE = [
    (
        "2026-03-02 14:02:00",
        "Incident declared (P1)",
        "Alice Ng",
    ),
    (
        "2026-03-02 14:02:00",
        "Alert linked: HighErrorRate records-service",
        "alertmanager",
    ),
    ("2026-03-02 14:03:00", "Paged the records on-call (PagerDuty): Bob Ruiz", "incident-bot"),
    ("2026-03-02 14:05:00", "acknowledged alert HighErrorRate", "Bob Ruiz"),
    (
        "2026-03-02 14:10:00",
        "Update: Investigating: 12% of records requests fail since the 1.1 deploy",
        "Alice Ng",
    ),
    ("2026-03-02 14:15:00", PINNED, "Bob Ruiz"),
    (
        "2026-03-02 14:20:00",
        "Root cause identified: connection pool exhausted after deploy 1.1",
        "Alice Ng",
    ),
    ("2026-03-02 14:31:00", ROLLBACK, "Bob Ruiz"),
    ("2026-03-02 14:35:00", "Update: Error rate back under 1%, monitoring", "Alice Ng"),
    ("2026-03-02 14:58:00", "Resolved: error rate under 0.5% for 20 minutes", "Alice Ng"),
]
EXPECTED_ACTIONS = [
    ("Add an alert on connection-pool saturation", "Bob Ruiz", FILL),
    ("Size the pool per replica count in the deploy checklist", "Carol Ode", FILL),
    ("Load-test releases against production pool limits", "unassigned", FILL),
]
HEADINGS = [
    ("Title", "Post-Mortem: Records API returning 5xx"),
    ("Heading 1", "Summary"),
    ("Heading 1", "Impact"),
    ("Heading 2", "Response times"),
    ("Heading 1", "Timeline"),
    ("Heading 1", "Root Cause"),
    ("Heading 1", "Resolution"),
    ("Heading 1", "Action Items"),
    ("Heading 1", "Lessons Learned"),
    ("Heading 2", "What went well?"),
    ("Heading 2", "What could be improved?"),
    ("Heading 1", "Appendix: Evidence"),
    ("Heading 2", "Playbook runs"),
    ("Heading 2", "Platform actions"),
    ("Heading 2", "Alert groups"),
    ("Heading 1", "Attachments"),
    ("Heading 2", f"Attachment A1: {ROLLBACK}"),
]


def at(minute: int) -> datetime:
    return DECLARED.replace(minute=0) + timedelta(minutes=minute)


@pytest.fixture
async def postmortem(tmp_path: Path) -> PostMortem:
    """A resolved P1, recorded through the store as the bot records one."""
    store = SqliteStore(tmp_path / "bot.db")
    await store.open()
    try:
        incident = await store.create_incident(
            NewIncident(
                "Records API returning 5xx",
                Severity.P1,
                "U_ALICE",
                DECLARED,
                services=("records",),
                description="records-service 5xx over 10% after the 1.1 deploy",
            )
        )
        events = [
            NewEvent(
                EventKind.ALERT,
                "alertmanager",
                "alert group linked: HighErrorRate records-service",
                at(2),
                {"group_id": "g-1"},
            ),
            NewEvent(
                EventKind.PAGE,
                "incident-bot",
                "Paged the records on-call (PagerDuty): Bob Ruiz",
                at(3),
                {"paged": True},
            ),
            NewEvent(EventKind.ACTION, "U_BOB", "acknowledged alert HighErrorRate", at(5)),
            NewEvent(
                EventKind.STATUS_UPDATE,
                "U_ALICE",
                "Investigating: 12% of records requests fail since the 1.1 deploy",
                at(10),
                {"status": "investigating"},
            ),
            NewEvent(EventKind.MESSAGE, "U_CAROL", CHATTER, at(12)),
            NewEvent(EventKind.MESSAGE, "U_BOB", PINNED, at(15), key=True),
            NewEvent(
                EventKind.STATUS_UPDATE,
                "U_ALICE",
                "root cause: connection pool exhausted after deploy 1.1",
                at(20),
                {"status": "identified"},
            ),
            NewEvent(
                EventKind.ACTION,
                "U_BOB",
                ROLLBACK,
                at(31),
                {
                    "succeeded": True,
                    "kind": "rollback",
                    "target": "records",
                    "before": "records:1.1.0",
                    "after": "records:1.0.9",
                    "result": "rollout complete: 3/3 replicas ready",
                },
            ),
            NewEvent(
                EventKind.STATUS_UPDATE,
                "U_ALICE",
                "Error rate back under 1%, monitoring",
                at(35),
                {"status": "monitoring"},
            ),
            NewEvent(
                EventKind.FOLLOW_UP,
                "U_ALICE",
                EXPECTED_ACTIONS[0][0],
                at(50),
                {"owner": "U_BOB"},
            ),
            NewEvent(
                EventKind.FOLLOW_UP,
                "U_BOB",
                EXPECTED_ACTIONS[1][0],
                at(51),
                {"owner": "U_CAROL"},
            ),
            NewEvent(EventKind.FOLLOW_UP, "U_CAROL", EXPECTED_ACTIONS[2][0], at(52)),
            NewEvent(
                EventKind.RESOLVED,
                "U_ALICE",
                "error rate under 0.5% for 20 minutes",
                RESOLVED,
                key=True,
            ),
        ]
        for event in events:
            await store.append_event(incident.id, event)
        incident = await store.update_incident(
            incident.id,
            status=Status.RESOLVED,
            resolved_at=RESOLVED,
            summary="Records API failed 12% of requests for 29 minutes after the 1.1 deploy.",
        )
        timeline = await store.timeline(incident.id)
    finally:
        await store.close()
    return build(incident, timeline, now=RESOLVED + timedelta(days=1))


def tiny_png() -> bytes:
    fig = Figure(figsize=(2, 1), dpi=50)
    fig.subplots().plot([0, 1], [1, 0])
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


# -- the model and the Markdown ---------------------------------------------------------


def test_the_model_keeps_key_events_and_leaves_chatter_out(postmortem: PostMortem) -> None:
    assert [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.text) for e in postmortem.timeline] == [
        (time, text) for time, text, _ in EXPECTED_TIMELINE
    ]
    assert postmortem.root_cause == ("connection pool exhausted after deploy 1.1",)
    assert [e.text for e in postmortem.resolution] == [ROLLBACK]
    assert postmortem.alerts == ("HighErrorRate records-service",)
    assert postmortem.duration == "56m"
    assert not postmortem.open
    # Started at the declaration (the alert came with it): ack 3 min, rollback 29, resolved 56.
    assert postmortem.times.to_acknowledge == 180
    assert postmortem.times.to_mitigate == 29 * 60
    assert postmortem.times.to_resolve == 56 * 60


def test_markdown_has_every_section(postmortem: PostMortem) -> None:
    md = render_markdown(postmortem, NAMES)
    lines = md.splitlines()

    headings = [line for line in lines if line.startswith("#")]
    assert headings == [
        "# Post-Mortem: Records API returning 5xx",
        "## Summary",
        "## Impact",
        "### Response times",
        "## Timeline",
        "## Root Cause",
        "## Resolution",
        "## Action Items",
        "## Lessons Learned",
        "## Appendix: Evidence",
        "### Playbook runs",
        "### Platform actions",
        "### Alert groups",
    ]
    assert "**Incident Commander:** Alice Ng" in lines
    assert "**Severity:** P1  " in lines
    assert "- Services affected: records" in lines
    assert "- Alerts: HighErrorRate records-service" in lines

    timeline = lines[lines.index("## Timeline") + 3 : lines.index("## Root Cause") - 1]
    assert timeline == [f"- {time} - {text} ({actor})" for time, text, actor in EXPECTED_TIMELINE]
    assert CHATTER not in md
    assert "Investigating: 12%" in md  # every status update belongs in the story

    assert "- connection pool exhausted after deploy 1.1" in lines
    assert f"- 14:31:00 {ROLLBACK}" in lines
    assert (
        "- [ ] Add an alert on connection-pool saturation"
        " (Owner: Bob Ruiz, Due: _(to be filled in at the review)_)"
    ) in lines
    assert "(Owner: unassigned," in md
    for line in (
        "- Time to acknowledge: 3 min 0 s (alert acknowledgement in its thread by Bob Ruiz"
        " at 14:05:00)",
        "- Time to mitigate: 29 min 0 s (rollback of records by Bob Ruiz at 14:31:00)",
        "- Time to resolve: 56 min 0 s (resolution by Alice Ng at 14:58:00)",
    ):
        assert line in lines


# -- the Word document ------------------------------------------------------------------


def read_docx(body: bytes) -> DocumentObject:
    assert body[:2] == b"PK"  # a .docx is a zip package
    return docx.Document(io.BytesIO(body))


def headings(doc: DocumentObject) -> list[tuple[str, str]]:
    return [
        (style(p), p.text)
        for p in doc.paragraphs
        if p.style is not None and (style(p) == "Title" or (style(p).startswith("Heading")))
    ]


def section(doc: DocumentObject, title: str) -> list[Paragraph | Table]:
    """The paragraphs and tables between the heading `title` and the next heading."""
    found: list[Paragraph | Table] = []
    inside = False
    for block in doc.iter_inner_content():
        is_heading = isinstance(block, Paragraph) and (
            block.style is not None and style(block).startswith(("Heading", "Title"))
        )
        if is_heading:
            if inside:
                break
            inside = isinstance(block, Paragraph) and block.text == title
        elif inside:
            found.append(block)
    return found


def texts(blocks: list[Paragraph | Table]) -> list[str]:
    return [b.text for b in blocks if isinstance(b, Paragraph)]


def rows(table: Table) -> list[tuple[str, ...]]:
    return [tuple(cell.text for cell in row.cells) for row in table.rows]


def all_text(doc: DocumentObject) -> str:
    parts = [p.text for p in doc.paragraphs]
    parts += [cell.text for table in doc.tables for row in table.rows for cell in row.cells]
    return "\n".join(parts)


def test_docx_has_the_markdowns_sections_as_real_headings(postmortem: PostMortem) -> None:
    doc = read_docx(render_docx(postmortem, NAMES))

    assert headings(doc) == HEADINGS
    assert doc.core_properties.title == "Post-Mortem: Records API returning 5xx"

    # The metadata block: bold labels, then the values.
    meta = doc.paragraphs[1:5]
    assert [p.text for p in meta] == [
        "Date: 2026-03-02",
        "Duration: 56m",
        "Severity: P1",
        "Incident Commander: Alice Ng",
    ]
    assert all(p.runs[0].bold for p in meta)

    assert texts(section(doc, "Summary")) == [
        "Records API failed 12% of requests for 29 minutes after the 1.1 deploy."
    ]
    impact = section(doc, "Impact")
    assert all(
        isinstance(b, Paragraph) and b.style is not None and style(b) == "List Bullet"
        for b in impact
    )
    assert texts(impact) == [
        "Services affected: records",
        "Duration: 56m",
        "Alerts: HighErrorRate records-service",
        f"Users affected: {FILL}",
        f"Revenue impact: {FILL}",
        f"Data loss: {FILL}",
    ]
    # The placeholder is an italic run, not Markdown underscores.
    users = impact[3]
    assert isinstance(users, Paragraph)
    assert [(r.text, bool(r.italic)) for r in users.runs] == [
        ("Users affected: ", False),
        (FILL, True),
    ]
    assert "_(" not in all_text(doc)

    assert texts(section(doc, "Response times")) == [
        "Measured from the declaration at 2026-03-02 14:02:00 UTC.",
        "Time to acknowledge: 3 min 0 s (alert acknowledgement in its thread by Bob Ruiz"
        " at 14:05:00)",
        "Time to mitigate: 29 min 0 s (rollback of records by Bob Ruiz at 14:31:00)",
        "Time to resolve: 56 min 0 s (resolution by Alice Ng at 14:58:00)",
    ]


def test_docx_timeline_is_a_table_of_the_key_events(postmortem: PostMortem) -> None:
    doc = read_docx(render_docx(postmortem, NAMES))

    blocks = section(doc, "Timeline")
    assert texts(blocks) == ["All times UTC."]
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables) == 1
    table = tables[0]
    assert rows(table)[0] == ("Time (UTC)", "Event", "Who")
    assert all(run.bold for cell in table.rows[0].cells for run in cell.paragraphs[0].runs)
    # Word repeats the header row on each page of a long timeline.
    header = table.rows[0]._tr.trPr
    assert header is not None and header.xpath("./w:tblHeader")
    assert rows(table)[1:] == EXPECTED_TIMELINE

    everything = all_text(doc)
    assert CHATTER not in everything
    assert "Investigating: 12%" in everything
    assert PINNED in everything


def test_docx_root_cause_resolution_and_action_items(postmortem: PostMortem) -> None:
    doc = read_docx(render_docx(postmortem, NAMES))

    assert texts(section(doc, "Root Cause")) == ["connection pool exhausted after deploy 1.1"]
    assert texts(section(doc, "Resolution")) == [f"14:31:00 {ROLLBACK}"]

    blocks = section(doc, "Action Items")
    assert len(blocks) == 1 and isinstance(blocks[0], Table)
    assert rows(blocks[0]) == [("Item", "Owner", "Due"), *EXPECTED_ACTIONS]

    assert texts(section(doc, "What went well?")) == [
        "What helped us notice, understand or fix this quickly?",
        "Which alerts, dashboards or playbooks pointed the right way?",
    ]
    assert len(texts(section(doc, "What could be improved?"))) == 3


def test_docx_embeds_the_chart_under_impact(postmortem: PostMortem) -> None:
    without = read_docx(render_docx(postmortem, NAMES))
    assert len(without.inline_shapes) == 0

    doc = read_docx(render_docx(postmortem, NAMES, chart_png=tiny_png()))

    assert len(doc.inline_shapes) == 1
    assert doc.inline_shapes[0].width == Inches(6)
    impact = section(doc, "Impact")
    pictures = [b for b in impact if isinstance(b, Paragraph) and "graphicData" in b._p.xml]
    assert len(pictures) == 1
    assert any(isinstance(b, Paragraph) and style(b) == "Caption" for b in impact)
    assert headings(doc) == HEADINGS


def test_docx_of_an_empty_open_incident_says_what_is_missing() -> None:
    incident = Incident(
        id=7,
        title="Slow exports \x07 (bell from a paste)",
        severity=Severity.P2,
        status=Status.INVESTIGATING,
        declared_by="U_ALICE",
        declared_at=DECLARED,
        commander="U_ALICE",
    )
    pm = build(incident, [], now=DECLARED + timedelta(minutes=90))

    doc = read_docx(render_docx(pm))

    assert headings(doc)[0] == ("Title", "Post-Mortem: Slow exports  (bell from a paste)")
    assert "Duration: 1h 30m (still open)" in [p.text for p in doc.paragraphs]
    assert texts(section(doc, "Root Cause")) == [FILL]
    assert texts(section(doc, "Resolution")) == [
        f"No production change was made through the bot. {FILL}"
    ]
    table = section(doc, "Action Items")[0]
    assert isinstance(table, Table)
    assert rows(table) == [("Item", "Owner", "Due"), (FILL, FILL, FILL)]
    timeline = section(doc, "Timeline")[1]
    assert isinstance(timeline, Table) and len(timeline.rows) == 1


# -- the chart --------------------------------------------------------------------------


def during_incident(query: str, t: float) -> str:
    """High error rate and slow responses while the incident lasted, normal before and after."""
    during = DECLARED.timestamp() <= t <= (DECLARED + timedelta(minutes=29)).timestamp()
    if "histogram_quantile" in query:
        return str(1.4 if during else 0.18)
    return str(0.12 if during else 0.004)


def style(paragraph: Paragraph) -> str:
    return paragraph.style.name if paragraph.style is not None else ""


def services_of(config: PlatformConfig, *names: str) -> list[Service]:
    found = [config.service(name) for name in names]
    assert all(found)
    return [s for s in found if s is not None]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def test_chart_plots_error_rate_and_p95_of_each_service(
    platform_config: PlatformConfig,
) -> None:
    fake = FakePrometheus(at=during_incident)
    services = services_of(platform_config, "records", "export")
    async with served(fake) as url:
        png = await incident_chart(PrometheusQueries(url), services, DECLARED, RESOLVED)

    assert png is not None
    width, height = png_size(png)
    assert width > 600 and height > 400
    queries = sorted(asked["query"] for asked in fake.params)
    assert queries == sorted(
        preset_query(preset, deployment)
        for preset in ("error_rate", "p95_latency")
        for deployment in ("records-service", "export-service")
    )
    # The aggregated ratio (one number per service) and the p95 over the summed buckets.
    assert (
        'sum(rate(http_requests_total{job="records-service",status=~"5.."}[5m]))'
        ' / sum(rate(http_requests_total{job="records-service"}[5m]))'
    ) in queries
    assert (
        "histogram_quantile(0.95, sum by (le)"
        ' (rate(http_request_duration_seconds_bucket{job="export-service"}[5m])))'
    ) in queries
    for asked in fake.params:
        start, end, step = float(asked["start"]), float(asked["end"]), float(asked["step"])
        # A quarter of the incident either side of it, at most 300 points.
        assert start == (DECLARED - pad_for(DECLARED, RESOLVED)).timestamp()
        assert end == (RESOLVED + pad_for(DECLARED, RESOLVED)).timestamp()
        assert math.floor((end - start) / step) + 1 <= MAX_POINTS
        assert asked["timeout"] == "10s"


@pytest.mark.parametrize("mode", ["empty", "nan"])
async def test_no_chart_without_data(platform_config: PlatformConfig, mode: str) -> None:
    fake = FakePrometheus(at=during_incident, empty=mode == "empty", nan=mode == "nan")
    services = services_of(platform_config, "records")
    async with served(fake) as url:
        png = await incident_chart(PrometheusQueries(url), services, DECLARED, RESOLVED)

    assert png is None
    assert len(fake.params) == 2


async def test_chart_reports_prometheus_errors(platform_config: PlatformConfig) -> None:
    fake = FakePrometheus(error=(503, "timeout", "query timed out"))
    services = services_of(platform_config, "records")
    async with served(fake) as url:
        with pytest.raises(PrometheusError) as failed:
            await incident_chart(PrometheusQueries(url), services, DECLARED, RESOLVED)

    assert str(failed.value).endswith("HTTP 503: timeout: query timed out")


async def test_range_query_returns_the_series(platform_config: PlatformConfig) -> None:
    fake = FakePrometheus(at=during_incident)
    async with served(fake) as url:
        series = await PrometheusQueries(url).range(
            "up", DECLARED, DECLARED + timedelta(minutes=2), 30
        )

    assert series == [
        ({}, [(DECLARED.timestamp() + 30 * i, 0.12) for i in range(5)]),
    ]


@pytest.mark.parametrize(
    "span", [timedelta(minutes=5), timedelta(hours=2), timedelta(days=3), timedelta(days=40)]
)
def test_step_keeps_at_most_300_points(span: timedelta) -> None:
    step = step_for(DECLARED, DECLARED + span)
    assert step >= 15
    assert math.floor(span.total_seconds() / step) + 1 <= MAX_POINTS
