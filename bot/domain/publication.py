"""What a person published about an incident for the public status page: its public title,
impact and components, its public updates, and scheduled maintenances."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ComponentStatus(enum.StrEnum):
    """A component's state in Atlassian Statuspage's words, worst last but maintenance."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
}
# The impacts a person may publish for an incident, mildest first.
IMPACTS = (
    ComponentStatus.DEGRADED_PERFORMANCE,
    ComponentStatus.PARTIAL_OUTAGE,
    ComponentStatus.MAJOR_OUTAGE,
)


def parse_impact(text: str) -> ComponentStatus | None:
    cleaned = text.strip().lower().replace("-", "_").replace(" ", "_")
    for impact in IMPACTS:
        if impact == cleaned:
            return impact
    return None


class PublicStatus(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class PublicUpdate:
    id: int
    status: PublicStatus
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Opening:
    """What the first public update of an incident must carry: chosen by a person, never the
    internal title or an alert's text."""

    public_id: str
    title: str
    impact: ComponentStatus
    components: tuple[str, ...]


@dataclass(frozen=True)
class PublicIncident:
    id: int
    incident_id: int
    public_id: str
    title: str
    impact: ComponentStatus
    components: tuple[str, ...]
    status: PublicStatus
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status != PublicStatus.RESOLVED


@dataclass(frozen=True)
class NewMaintenance:
    public_id: str
    title: str
    body: str
    components: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str


@dataclass(frozen=True)
class Maintenance:
    id: int
    public_id: str
    title: str
    body: str
    components: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime
    updated_at: datetime

    def state(self, now: datetime) -> str:
        """Statuspage's words: scheduled, in_progress or completed."""
        if now < self.starts_at:
            return "scheduled"
        return "in_progress" if now < self.ends_at else "completed"
