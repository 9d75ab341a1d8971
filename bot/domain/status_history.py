"""What the status page computes from what was published: each component's status now, its
90-day uptime bars, the page's overall indicator, and past incidents by day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.domain.publication import ComponentStatus, Maintenance, PublicIncident

HISTORY_DAYS = 90
PAST_INCIDENT_DAYS = 14
# Worst wins; maintenance is a planned state, shown over operational but under any outage.
SEVERITY_ORDER = (
    ComponentStatus.OPERATIONAL,
    ComponentStatus.UNDER_MAINTENANCE,
    ComponentStatus.DEGRADED_PERFORMANCE,
    ComponentStatus.PARTIAL_OUTAGE,
    ComponentStatus.MAJOR_OUTAGE,
)
# How much of an incident's time counts as downtime, as Statuspage weighs it: a major outage
# all of it, a partial outage 30%, degraded performance none (the service still answers).
DOWNTIME_WEIGHT = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
    ComponentStatus.DEGRADED_PERFORMANCE: 0.0,
}
DAY_SECONDS = 86400.0


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=SEVERITY_ORDER.index, default=ComponentStatus.OPERATIONAL)


def component_status(
    name: str,
    incidents: Iterable[PublicIncident],
    maintenances: Iterable[Maintenance],
    now: datetime,
) -> ComponentStatus:
    """The worst published impact of the open incidents naming it; under maintenance during a
    window that names it; operational otherwise (a resolved incident no longer counts)."""
    found = [i.impact for i in incidents if i.is_open and name in i.components]
    found += [
        ComponentStatus.UNDER_MAINTENANCE
        for m in maintenances
        if name in m.components and m.state(now) == "in_progress"
    ]
    return worst(found)


@dataclass(frozen=True)
class Day:
    """One uptime bar: the day, its worst published impact, and the downtime it counts."""

    day: date
    worst: ComponentStatus
    downtime_seconds: float
    incidents: tuple[str, ...]  # the public titles, for the bar's label

    @property
    def uptime(self) -> float:
        return max(0.0, 1.0 - self.downtime_seconds / DAY_SECONDS)


def _overlap(start: datetime, end: datetime, day: date, tz_of: datetime) -> float:
    day_start = datetime.combine(day, time(), tzinfo=tz_of.tzinfo)
    day_end = day_start + timedelta(days=1)
    return max(0.0, (min(end, day_end) - max(start, day_start)).total_seconds())


def history(
    name: str, incidents: Iterable[PublicIncident], now: datetime, days: int = HISTORY_DAYS
) -> list[Day]:
    """The last `days` days, oldest first (today last), from the published incidents that
    named the component: each from its first publication to its resolution (or now)."""
    today = now.date()
    mine = [i for i in incidents if name in i.components]
    bars = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        impacts, downtime, titles = [], 0.0, []
        for incident in mine:
            seconds = _overlap(incident.created_at, incident.resolved_at or now, day, now)
            if seconds <= 0:
                continue
            impacts.append(incident.impact)
            downtime += seconds * DOWNTIME_WEIGHT[incident.impact]
            titles.append(incident.title)
        bars.append(Day(day, worst(impacts), min(downtime, DAY_SECONDS), tuple(titles)))
    return bars


def uptime_percent(bars: Sequence[Day]) -> float:
    if not bars:
        return 100.0
    return 100.0 * sum(bar.uptime for bar in bars) / len(bars)


@dataclass(frozen=True)
class Indicator:
    """Statuspage's page status: none, minor, major, critical or maintenance."""

    indicator: str
    description: str


def impact_level(impact: ComponentStatus) -> str:
    """An incident's impact in Statuspage's words."""
    return {
        ComponentStatus.DEGRADED_PERFORMANCE: "minor",
        ComponentStatus.PARTIAL_OUTAGE: "major",
        ComponentStatus.MAJOR_OUTAGE: "critical",
        ComponentStatus.UNDER_MAINTENANCE: "maintenance",
    }.get(impact, "none")


def overall(statuses: Iterable[ComponentStatus], open_incidents: int = 0) -> Indicator:
    status = worst(statuses)
    if status == ComponentStatus.MAJOR_OUTAGE:
        return Indicator("critical", "Major System Outage")
    if status == ComponentStatus.PARTIAL_OUTAGE:
        return Indicator("major", "Partial System Outage")
    if status == ComponentStatus.DEGRADED_PERFORMANCE or open_incidents:
        return Indicator("minor", "Minor Service Outage")
    if status == ComponentStatus.UNDER_MAINTENANCE:
        return Indicator("maintenance", "Service Under Maintenance")
    return Indicator("none", "All Systems Operational")


def by_day(
    incidents: Iterable[PublicIncident], now: datetime, days: int = PAST_INCIDENT_DAYS
) -> list[tuple[date, list[PublicIncident]]]:
    """The last `days` days, newest first, each with the incidents first published that day
    (a day without any is listed too: "No incidents reported")."""
    today = now.date()
    listed: dict[date, list[PublicIncident]] = {
        today - timedelta(days=back): [] for back in range(days)
    }
    for incident in incidents:
        day = incident.created_at.astimezone(now.tzinfo).date()
        if day in listed:
            listed[day].append(incident)
    return [
        (day, sorted(found, key=lambda i: i.created_at, reverse=True))
        for day, found in listed.items()
    ]
