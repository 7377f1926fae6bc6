"""Service-level clocks: Hong Kong business time, or the clock itself (24 x 7).

``due_after`` is the one place a deadline is worked out: around the clock (urgent work, see
``settings.SLA_AROUND_THE_CLOCK_RISK_LEVELS``), an hour is an hour and a day is 24 of them;
otherwise only business time counts (``add_business_time``).

Offices open on weekdays, ``BUSINESS_HOURS`` (09:00–18:00 by default), and close on
Hong Kong's general holidays as published by the ``holidays`` library (its ``public`` and
``optional`` categories together are the general holidays on which government offices and
most NGO centres close). Pure functions of their arguments: no database, no clock.
"""

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


def add_business_time(start: datetime, amount: int, unit: str) -> datetime:
    """When ``amount`` business hours or days after ``start`` run out.

    Time outside opening hours does not count. ``n`` business days end at the same clock
    time ``n`` business days later (a referral routed on Friday at 17:00 with one day is
    due on Monday at 17:00, or Tuesday when Monday is a holiday).
    """
    opens, closes = _opening_hours()
    moment = _clamp_to_open(start)
    tz = moment.tzinfo
    if unit == SlaUnit.BUSINESS_DAYS:
        day = moment.date()
        for _step in range(amount):
            day = _next_business_day(day)
        return datetime.combine(day, moment.time(), tzinfo=tz)
    remaining = timedelta(hours=amount)
    while True:
        closing = datetime.combine(moment.date(), closes, tzinfo=tz)
        if moment + remaining <= closing:
            return moment + remaining
        remaining -= closing - moment
        moment = datetime.combine(_next_business_day(moment.date()), opens, tzinfo=tz)


def due_after(start: datetime, amount: int, unit: str, *, around_the_clock: bool) -> datetime:
    """When ``amount`` hours or days from ``start`` run out: on the clock when
    ``around_the_clock`` (a Friday 19:00 urgent referral with 4 hours is due at 23:00), in
    business time otherwise."""
    if around_the_clock:
        hours = amount * 24 if unit == SlaUnit.BUSINESS_DAYS else amount
        return start + timedelta(hours=hours)
    return add_business_time(start, amount, unit)


def describe(amount: int, unit: str) -> str:
    if unit == SlaUnit.BUSINESS_HOURS:
        return ngettext("%(n)d business hour", "%(n)d business hours", amount) % {"n": amount}
    return ngettext("%(n)d business day", "%(n)d business days", amount) % {"n": amount}
