"""Service-level clocks: Hong Kong business days and hours, weekends and general holidays."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from referrals.sla import SlaUnit, add_business_time, is_business_day

HKT = ZoneInfo("Asia/Hong_Kong")
HOURS, DAYS = SlaUnit.BUSINESS_HOURS, SlaUnit.BUSINESS_DAYS


def hk(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HKT)


@pytest.fixture(autouse=True)
def _office_hours(settings):
    """Offices open 09:00–18:00, the shipped default, whatever the environment says."""
    settings.BUSINESS_HOURS = (9, 18)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 1), False),  # New Year's Day, Thursday
        (date(2026, 1, 2), True),
        (date(2026, 2, 16), True),  # Lunar New Year's Eve is not a general holiday
        (date(2026, 2, 17), False),  # Chinese New Year, first to third day
        (date(2026, 2, 18), False),
        (date(2026, 2, 19), False),
        (date(2026, 2, 20), True),
        (date(2026, 3, 13), True),  # an ordinary Friday
        (date(2026, 3, 14), False),  # Saturday
        (date(2026, 3, 15), False),  # Sunday
        (date(2026, 3, 16), True),
        (date(2026, 4, 2), True),
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 6), False),  # the day following Ching Ming / Easter Monday
        (date(2026, 4, 7), False),  # the day following Easter Monday
        (date(2026, 4, 8), True),
        (date(2026, 5, 1), False),  # Labour Day
        (date(2026, 5, 25), False),  # the day following the Buddha's Birthday (Sunday)
        (date(2026, 6, 19), False),  # Tuen Ng
        (date(2026, 7, 1), False),  # HKSAR Establishment Day
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 2), True),
        (date(2026, 10, 19), False),  # the day following Chung Yeung (Sunday)
        (date(2026, 12, 24), True),  # Christmas Eve is a working day
        (date(2026, 12, 25), False),  # Christmas Day, Friday
        (date(2026, 12, 26), False),  # first weekday after Christmas, a Saturday
        (date(2026, 12, 28), True),
        (date(2026, 12, 31), True),
        (date(2027, 1, 1), False),  # the next year's calendar is used too
    ],
)
def test_is_business_day(day, expected):
    assert is_business_day(day) is expected


HOURS_CASES = [
    # Within one day.
    (hk(2026, 3, 10, 10), 4, hk(2026, 3, 10, 14)),
    (hk(2026, 3, 10, 14), 4, hk(2026, 3, 10, 18)),  # ends exactly at closing
    (hk(2026, 3, 10, 9), 9, hk(2026, 3, 10, 18)),  # a whole day
    (hk(2026, 3, 10, 10, 30), 1, hk(2026, 3, 10, 11, 30)),
    # Before opening, after closing.
    (hk(2026, 3, 10, 7, 30), 2, hk(2026, 3, 10, 11)),
    (hk(2026, 3, 10, 0), 1, hk(2026, 3, 10, 10)),
    (hk(2026, 3, 10, 18), 1, hk(2026, 3, 11, 10)),
    (hk(2026, 3, 10, 21), 2, hk(2026, 3, 11, 11)),
    (hk(2026, 3, 10, 21), 0, hk(2026, 3, 11, 9)),  # nothing to add: the next opening
    # Spanning days.
    (hk(2026, 3, 10, 15), 4, hk(2026, 3, 11, 10)),
    (hk(2026, 3, 10, 17, 30), 1, hk(2026, 3, 11, 9, 30)),
    (hk(2026, 3, 9, 9), 20, hk(2026, 3, 11, 11)),  # 9 + 9 + 2
    (hk(2026, 3, 9, 12), 27, hk(2026, 3, 12, 12)),  # 6 + 9 + 9 + 3
    # Weekends.
    (hk(2026, 3, 13, 17), 4, hk(2026, 3, 16, 12)),  # Friday 17:00 → Monday
    (hk(2026, 3, 14, 10), 4, hk(2026, 3, 16, 13)),  # from a Saturday
    (hk(2026, 3, 15, 23), 1, hk(2026, 3, 16, 10)),  # from a Sunday night
    # Holidays.
    (hk(2026, 12, 24, 16), 4, hk(2026, 12, 28, 11)),  # Christmas Friday + Saturday + Sunday
    (hk(2026, 12, 25, 10), 1, hk(2026, 12, 28, 10)),  # starting on a holiday
    (hk(2026, 4, 2, 17), 4, hk(2026, 4, 8, 12)),  # Easter: Fri, Sat, Sun, Mon, Tue off
    (hk(2026, 2, 16, 15), 4, hk(2026, 2, 20, 10)),  # Chinese New Year, Tue–Thu
    (hk(2026, 9, 30, 16), 4, hk(2026, 10, 2, 11)),  # National Day, Thursday
    (hk(2026, 12, 31, 17), 2, hk(2027, 1, 4, 10)),  # New Year's Day 2027 is a Friday
]


@pytest.mark.parametrize(("start", "amount", "expected"), HOURS_CASES)
def test_add_business_hours(start, amount, expected):
    due = add_business_time(start, amount, HOURS)
    assert due == expected
    assert due.utcoffset() == timedelta(hours=8)


DAYS_CASES = [
    (hk(2026, 3, 10, 10), 1, hk(2026, 3, 11, 10)),
    (hk(2026, 3, 10, 10), 2, hk(2026, 3, 12, 10)),
    (hk(2026, 3, 10, 17, 59), 1, hk(2026, 3, 11, 17, 59)),
    (hk(2026, 3, 10, 10), 0, hk(2026, 3, 10, 10)),
    # Before opening, after closing: the clock starts at the next opening.
    (hk(2026, 3, 10, 7), 1, hk(2026, 3, 11, 9)),
    (hk(2026, 3, 10, 18), 1, hk(2026, 3, 12, 9)),
    (hk(2026, 3, 10, 19), 2, hk(2026, 3, 13, 9)),
    # Weekends.
    (hk(2026, 3, 13, 17), 1, hk(2026, 3, 16, 17)),  # Friday 17:00 → Monday 17:00
    (hk(2026, 3, 12, 11), 3, hk(2026, 3, 17, 11)),
    (hk(2026, 3, 14, 10), 1, hk(2026, 3, 17, 9)),  # Saturday: clock starts Monday 09:00
    (hk(2026, 3, 13, 18, 30), 1, hk(2026, 3, 17, 9)),  # Friday after closing
    # Holidays, alone and next to weekends.
    (hk(2026, 12, 24, 17), 1, hk(2026, 12, 28, 17)),  # Christmas Friday + Saturday
    (hk(2026, 12, 23, 10), 2, hk(2026, 12, 28, 10)),
    (hk(2026, 12, 25, 11), 1, hk(2026, 12, 29, 9)),  # starting on Christmas Day
    (hk(2026, 4, 2, 10), 1, hk(2026, 4, 8, 10)),  # Good Friday to the Tuesday after Easter
    (hk(2026, 4, 2, 10), 2, hk(2026, 4, 9, 10)),
    (hk(2026, 4, 3, 15), 1, hk(2026, 4, 9, 9)),  # starting on Good Friday
    (hk(2026, 2, 16, 11), 1, hk(2026, 2, 20, 11)),  # Chinese New Year
    (hk(2026, 2, 13, 16), 2, hk(2026, 2, 20, 16)),  # Friday, weekend, then Chinese New Year
    (hk(2026, 9, 30, 12), 1, hk(2026, 10, 2, 12)),  # National Day
    (hk(2026, 5, 22, 15), 1, hk(2026, 5, 26, 15)),  # Monday 25 May is a holiday
    (hk(2026, 10, 16, 15), 1, hk(2026, 10, 20, 15)),  # Monday 19 October is a holiday
    (hk(2026, 6, 18, 15), 1, hk(2026, 6, 22, 15)),  # Tuen Ng Friday
    (hk(2026, 12, 31, 10), 1, hk(2027, 1, 4, 10)),  # across the year
]


@pytest.mark.parametrize(("start", "amount", "expected"), DAYS_CASES)
def test_add_business_days(start, amount, expected):
    due = add_business_time(start, amount, DAYS)
    assert due == expected
    assert due.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        # 01:00 UTC is 09:00 in Hong Kong.
        (datetime(2026, 3, 10, 1, tzinfo=UTC), 4, HOURS, hk(2026, 3, 10, 13)),
        # 09:30 UTC on Thursday is 17:30 in Hong Kong, before Christmas.
        (datetime(2026, 12, 24, 9, 30, tzinfo=UTC), 1, HOURS, hk(2026, 12, 28, 9, 30)),
        # 23:00 UTC on Monday is already Tuesday 07:00 in Hong Kong.
        (datetime(2026, 3, 9, 23, tzinfo=UTC), 1, DAYS, hk(2026, 3, 11, 9)),
    ],
)
def test_counts_in_hong_kong_time_whatever_the_start_zone(start, amount, unit, expected):
    """A start given in UTC is counted in Hong Kong office hours, and due in Hong Kong time."""
    due = add_business_time(start, amount, unit)
    assert due == expected
    assert due.replace(tzinfo=None) == expected.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        (hk(2026, 3, 10, 8, 30), 2, HOURS, hk(2026, 3, 10, 10, 30)),
        (hk(2026, 3, 10, 16), 2, HOURS, hk(2026, 3, 11, 9)),
        (hk(2026, 3, 10, 7), 1, DAYS, hk(2026, 3, 11, 8)),
        (hk(2026, 3, 10, 17), 1, DAYS, hk(2026, 3, 12, 8)),
    ],
)
def test_opening_hours_come_from_settings(settings, start, amount, unit, expected):
    settings.BUSINESS_HOURS = (8, 17)
    assert add_business_time(start, amount, unit) == expected
