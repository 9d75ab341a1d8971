"""Incidents, their severities and states, as the runbook defines them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Severity(enum.StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @classmethod
    def parse(cls, text: str) -> Severity | None:
        cleaned = text.strip().upper()
        if cleaned in {"0", "1", "2", "3"}:
            cleaned = "P" + cleaned
        try:
            return cls(cleaned)
        except ValueError:
            return None


class Status(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self not in (Status.RESOLVED, Status.CLOSED)


@dataclass(frozen=True)
class NewIncident:
    """What a person gives when declaring."""

    title: str
    severity: Severity
    declared_by: str
    declared_at: datetime
    services: tuple[str, ...] = ()
    description: str = ""
    commander: str | None = None  # who leads it; the declarer when not named

    @property
    def leader(self) -> str:
        return self.commander or self.declared_by


@dataclass(frozen=True)
class Incident:
    id: int
    title: str
    severity: Severity
    status: Status
    declared_by: str
    declared_at: datetime
    commander: str
    services: tuple[str, ...] = ()
    description: str = ""
    channel_id: str | None = None
    channel_name: str | None = None
    resolved_at: datetime | None = None
    summary: str = ""
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def duration(self, now: datetime) -> float:
        """Seconds from declaration to resolution, or to now while still open."""
        end = self.resolved_at or now
        return max(0.0, (end - self.declared_at).total_seconds())


def format_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{int(seconds)}s"
