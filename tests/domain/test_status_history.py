"""What the status page computes from published incidents: worst impact wins, a resolved
incident stops counting, maintenance shows during its window, and the 90-day bars weigh an
incident's time by its impact across the days it spanned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.publication import ComponentStatus, Maintenance, PublicIncident, PublicStatus
from bot.domain.status_history import by_day, component_status, history, overall, uptime_percent

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
MAJOR, PARTIAL, DEGRADED = (
    ComponentStatus.MAJOR_OUTAGE,
    ComponentStatus.PARTIAL_OUTAGE,
    ComponentStatus.DEGRADED_PERFORMANCE,
)


def published(
    impact: ComponentStatus,
    start: datetime,
    end: datetime | None = None,
    components: tuple[str, ...] = ("export",),
) -> PublicIncident:
    status = PublicStatus.RESOLVED if end is not None else PublicStatus.INVESTIGATING
    return PublicIncident(
        1, 1, f"p{start:%H%M}", "Exports", impact, components, status, start, end or start, end
    )


def window(start: datetime, hours: int) -> Maintenance:
    end = start + timedelta(hours=hours)
    return Maintenance(1, "m", "Upgrade", "", ("records",), start, end, "U1", NOW, NOW)


def test_the_worst_open_impact_wins_and_resolved_incidents_no_longer_count() -> None:
    incidents = [
        published(DEGRADED, NOW - timedelta(hours=2)),
        published(MAJOR, NOW - timedelta(hours=3), NOW - timedelta(hours=1)),
        published(PARTIAL, NOW - timedelta(hours=1)),
    ]

    assert component_status("export", incidents, [], NOW) == PARTIAL
    assert component_status("records", incidents, [], NOW) == ComponentStatus.OPERATIONAL


def test_maintenance_shows_only_during_its_window_and_an_outage_outranks_it() -> None:
    planned = [window(NOW + timedelta(hours=1), 2)]
    during = NOW + timedelta(hours=2)

    assert component_status("records", [], planned, NOW) == ComponentStatus.OPERATIONAL
    assert component_status("records", [], planned, during) == ComponentStatus.UNDER_MAINTENANCE
    outage = [published(MAJOR, NOW, components=("records",))]
    assert component_status("records", outage, planned, during) == MAJOR
    assert overall([ComponentStatus.UNDER_MAINTENANCE]).indicator == "maintenance"


def test_bars_split_an_incident_across_midnight_and_weigh_it_by_impact() -> None:
    # A partial outage from 22:00 yesterday to 02:00 today: 2 h on each day, 30% of it down.
    start = datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    bars = history("export", [published(PARTIAL, start, start + timedelta(hours=4))], NOW)

    assert len(bars) == 90 and bars[-1].day == NOW.date()
    yesterday, today = bars[-2], bars[-1]
    assert (yesterday.worst, today.worst) == (PARTIAL, PARTIAL)
    assert yesterday.downtime_seconds == today.downtime_seconds == 0.3 * 7200
    assert all(bar.worst == ComponentStatus.OPERATIONAL for bar in bars[:-2])
    assert round(uptime_percent(bars), 4) == round(100 * (1 - 0.3 * 14400 / (90 * 86400)), 4)


def test_an_open_major_outage_counts_until_now_and_degraded_time_counts_none() -> None:
    bars = history(
        "export",
        [published(MAJOR, NOW - timedelta(hours=6)), published(DEGRADED, NOW - timedelta(days=3))],
        NOW,
    )

    assert bars[-1].downtime_seconds == 6 * 3600
    assert bars[-2].worst == DEGRADED and bars[-2].downtime_seconds == 0


def test_past_incidents_are_listed_by_the_day_they_were_published_newest_day_first() -> None:
    older = published(PARTIAL, NOW - timedelta(days=2), NOW - timedelta(days=2, hours=-1))
    days = by_day([older], NOW)

    assert len(days) == 14 and days[0][0] == NOW.date()
    assert days[2] == ((NOW - timedelta(days=2)).date(), [older])
    assert all(found == [] for day, found in days if day != days[2][0])
