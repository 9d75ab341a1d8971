"""The paging policy: a severity pages always, never, or only in business hours, and the
decision says why in words a responder can act on."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.domain.incident import Severity
from bot.domain.paging import BusinessHours, decide

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
LONDON = BusinessHours("Europe/London", WEEKDAYS, time(9, 0), time(18, 0))


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


WEDNESDAY_MORNING = utc(2026, 1, 7, 10)  # 10:00 in London (GMT in winter)


@pytest.mark.parametrize("severity", list(Severity))
def test_always_pages_whatever_the_hour(severity: Severity) -> None:
    for moment in (WEDNESDAY_MORNING, utc(2026, 1, 10, 3)):  # Saturday 03:00
        decision = decide(severity, "always", LONDON, moment)
        assert decision.page is True
        assert decision.reason == f"{severity} pages immediately"


@pytest.mark.parametrize("severity", list(Severity))
def test_never_does_not_page_even_in_business_hours(severity: Severity) -> None:
    decision = decide(severity, "never", LONDON, WEDNESDAY_MORNING)
    assert decision.page is False
    assert decision.reason == f"{severity} does not page"


def test_business_hours_pages_during_them_and_names_them() -> None:
    decision = decide(Severity.P1, "business_hours", LONDON, WEDNESDAY_MORNING)
    assert decision.page is True
    assert decision.reason == (
        "P1 pages during business hours (Mon/Tue/Wed/Thu/Fri 09:00-18:00 Europe/London)"
    )


def test_outside_business_hours_nobody_is_paged_and_the_reason_says_how_to_page_anyway() -> None:
    decision = decide(Severity.P1, "business_hours", LONDON, utc(2026, 1, 7, 20))
    assert decision.page is False
    assert "P1 pages only during business hours" in decision.reason
    assert "(Mon/Tue/Wed/Thu/Fri 09:00-18:00 Europe/London)" in decision.reason
    assert "nobody was paged" in decision.reason
    assert "`/incident sev P0`" in decision.reason


def test_weekends_are_outside_weekday_business_hours() -> None:
    saturday_noon = utc(2026, 1, 10, 12)
    sunday_noon = utc(2026, 1, 11, 12)
    assert decide(Severity.P2, "business_hours", LONDON, saturday_noon).page is False
    assert decide(Severity.P2, "business_hours", LONDON, sunday_noon).page is False


@pytest.mark.parametrize(
    ("moment", "pages"),
    [
        (utc(2026, 1, 7, 8, 59), False),
        (utc(2026, 1, 7, 9, 0), True),  # the start is inside
        (utc(2026, 1, 7, 17, 59), True),
        (utc(2026, 1, 7, 18, 0), False),  # the end is not
    ],
)
def test_business_hours_start_inclusive_end_exclusive(moment: datetime, pages: bool) -> None:
    assert decide(Severity.P2, "business_hours", LONDON, moment).page is pages


def test_business_hours_are_read_in_their_own_time_zone_across_summer_time() -> None:
    # 08:30 UTC is 08:30 in a London January but 09:30 in a London July (BST).
    assert decide(Severity.P2, "business_hours", LONDON, utc(2026, 1, 7, 8, 30)).page is False
    assert decide(Severity.P2, "business_hours", LONDON, utc(2026, 7, 8, 8, 30)).page is True
    # 17:30 UTC is 17:30 in January (inside) but 18:30 in July (outside).
    assert decide(Severity.P2, "business_hours", LONDON, utc(2026, 1, 7, 17, 30)).page is True
    assert decide(Severity.P2, "business_hours", LONDON, utc(2026, 7, 8, 17, 30)).page is False


def test_the_day_of_the_week_is_the_local_one() -> None:
    auckland = BusinessHours("Pacific/Auckland", WEEKDAYS, time(9, 0), time(18, 0))
    # Sunday 21:00 UTC is Monday 10:00 in Auckland (UTC+13 in January): a working morning.
    assert decide(Severity.P1, "business_hours", auckland, utc(2026, 1, 11, 21)).page is True
    # Friday 22:00 UTC is Saturday 11:00 in Auckland: the weekend.
    assert decide(Severity.P1, "business_hours", auckland, utc(2026, 1, 9, 22)).page is False


def test_a_weekend_rota_pages_only_on_its_days() -> None:
    weekend = BusinessHours("UTC", ("sat", "sun"), time(8, 0), time(20, 0))
    assert decide(Severity.P2, "business_hours", weekend, utc(2026, 1, 10, 12)).page is True
    assert decide(Severity.P2, "business_hours", weekend, WEDNESDAY_MORNING).page is False
    reason = decide(Severity.P2, "business_hours", weekend, WEDNESDAY_MORNING).reason
    assert "(Sat/Sun 08:00-20:00 UTC)" in reason
