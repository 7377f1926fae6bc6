"""Service-level clocks: Hong Kong business time, or the clock itself (24 x 7).

``due_after`` is the one place a deadline is worked out: around the clock (urgent work, see
``settings.SLA_AROUND_THE_CLOCK_RISK_LEVELS``), an hour is an hour and a day is 24 of them;
otherwise only business time counts (``add_business_time``).

Offices open on weekdays, ``BUSINESS_HOURS`` (09:00–18:00 by default), and close on
Hong Kong's general holidays as published by the ``holidays`` library (its ``public`` and
``optional`` categories together are the general holidays on which government offices and
most NGO centres close). Pure functions of their arguments: no database, no clock.
"""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext


class SlaUnit:
    BUSINESS_HOURS = "business_hours"
    BUSINESS_DAYS = "business_days"

    choices = [
        (BUSINESS_HOURS, _("business hours")),
        (BUSINESS_DAYS, _("business days")),
    ]


@lru_cache(maxsize=32)
def _general_holidays(year: int) -> frozenset[date]:
    calendar = holidays.country_holidays(
        "HK", years=year, categories=holidays.HongKong.supported_categories
    )
    return frozenset(calendar)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _general_holidays(day.year)


def _opening_hours() -> tuple[time, time]:
    opens, closes = settings.BUSINESS_HOURS
    return time(opens), time(closes)


def _next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def _clamp_to_open(moment: datetime) -> datetime:
    """The first instant at or after ``moment`` when offices are open (Hong Kong time)."""
    opens, closes = _opening_hours()
    local = timezone.localtime(moment)
    tz = local.tzinfo
    day = local.date()
    if is_business_day(day) and local.time() < closes:
        return max(local, datetime.combine(day, opens, tzinfo=tz))
    return datetime.combine(_next_business_day(day), opens, tzinfo=tz)


Closure = tuple[datetime, datetime]


def add_business_time(
    start: datetime, amount: int, unit: str, closures: Sequence[Closure] = ()
) -> datetime:
    """When ``amount`` business hours or days after ``start`` run out.

    Time outside opening hours does not count. ``n`` business days end at the same clock
    time ``n`` business days later (a referral routed on Friday at 17:00 with one day is
    due on Monday at 17:00, or Tuesday when Monday is a holiday). ``closures`` (start, end)
    are times the offices closed (typhoon signal No. 8, black rainstorm): the clock pauses
    through them, so the deadline moves on by the business time they took.
    """
    moment = _clamp_to_open(start)
    if unit == SlaUnit.BUSINESS_DAYS:
        day = moment.date()
        for _step in range(amount):
            day = _next_business_day(day)
        due = datetime.combine(day, moment.time(), tzinfo=moment.tzinfo)
    else:
        due = _add_open_time(moment, timedelta(hours=amount))
    lost = timedelta(0)
    while True:  # each extension may run into another closure; the loss only grows
        now_lost = sum(
            (_open_time_between(max(a, start), min(b, _extend(due, lost))) for a, b in closures),
            timedelta(0),
        )
        if now_lost == lost:
            return _extend(due, lost)
        lost = now_lost


def _extend(due: datetime, lost: timedelta) -> datetime:
    return _add_open_time(_clamp_to_open(due), lost) if lost else due


def _add_open_time(moment: datetime, remaining: timedelta) -> datetime:
    """``moment`` (while open) plus ``remaining`` opening time."""
    opens, closes = _opening_hours()
    tz = moment.tzinfo
    while True:
        closing = datetime.combine(moment.date(), closes, tzinfo=tz)
        if moment + remaining <= closing:
            return moment + remaining
        remaining -= closing - moment
        moment = datetime.combine(_next_business_day(moment.date()), opens, tzinfo=tz)


def _open_time_between(start: datetime, end: datetime) -> timedelta:
    """How much opening time lies between two instants (none if ``end`` is not later)."""
    opens, closes = _opening_hours()
    total = timedelta(0)
    start, end = timezone.localtime(start), timezone.localtime(end)
    day = start.date()
    while day <= end.date():
        if is_business_day(day):
            window_open = datetime.combine(day, opens, tzinfo=start.tzinfo)
            window_close = datetime.combine(day, closes, tzinfo=start.tzinfo)
            overlap = min(end, window_close) - max(start, window_open)
            total += max(overlap, timedelta(0))
        day += timedelta(days=1)
    return total


def due_after(
    start: datetime,
    amount: int,
    unit: str,
    *,
    around_the_clock: bool,
    closures: Sequence[Closure] = (),
) -> datetime:
    """When ``amount`` hours or days from ``start`` run out: on the clock when
    ``around_the_clock`` (a Friday 19:00 urgent referral with 4 hours is due at 23:00, and an
    office closure does not stop it), in business time otherwise (paused by ``closures``)."""
    if around_the_clock:
        hours = amount * 24 if unit == SlaUnit.BUSINESS_DAYS else amount
        return start + timedelta(hours=hours)
    return add_business_time(start, amount, unit, closures)


def describe(amount: int, unit: str) -> str:
    if unit == SlaUnit.BUSINESS_HOURS:
        return ngettext("%(n)d business hour", "%(n)d business hours", amount) % {"n": amount}
    return ngettext("%(n)d business day", "%(n)d business days", amount) % {"n": amount}
