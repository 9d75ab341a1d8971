"""The severity policy: who gets paged, when, and why not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.domain.incident import Severity

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The parts of a "not paged" reason that speak to the channel at the time; a post-mortem keeps
# only the fact (bot/domain/postmortem.py takes them out).
OUTSIDE_HOURS = "; it is outside them now, so nobody was paged."
RAISE_TO_PAGE = " Raise to P0 (`/incident sev P0`) to page anyway."


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    days: Sequence[str]
    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        if DAYS[local.weekday()] not in self.days:
            return False
        return self.start <= local.time() < self.end

    def describe(self) -> str:
        return (
            f"{'/'.join(d.capitalize() for d in self.days)} {self.start:%H:%M}-{self.end:%H:%M}"
            f" {self.timezone}"
        )


@dataclass(frozen=True)
class PageDecision:
    page: bool
    reason: str


def decide(severity: Severity, when: str, hours: BusinessHours, now: datetime) -> PageDecision:
    """`when` is the severity's policy: "always", "business_hours" or "never"."""
    if when == "always":
        return PageDecision(True, f"{severity} pages immediately")
    if when == "business_hours":
        if hours.contains(now):
            return PageDecision(
                True, f"{severity} pages during business hours ({hours.describe()})"
            )
        return PageDecision(
            False,
            f"{severity} pages only during business hours ({hours.describe()})"
            + OUTSIDE_HOURS
            + RAISE_TO_PAGE,
        )
    return PageDecision(False, f"{severity} does not page")
