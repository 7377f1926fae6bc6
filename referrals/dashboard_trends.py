"""The office's working view on the dashboard (issue 19): weekly trends, time to closure,
outcomes and their reasons. Reads only; each function is one query, grouped in the database.

Periods are in Hong Kong time and ``now`` is an argument, as in ``referrals.dashboard``.

- Trends: the last ``WEEKS`` ISO weeks (Monday 00:00 to Sunday 23:59:59 Hong Kong time),
  the current one included and counted up to ``now``. Per week: received (submitted, never
  drafts, by ``submitted_at``), accepted (units' acceptances: status changes to "accepted",
  by the time of the step; a referral accepted by two units counts twice) and completed
  (referrals completed now, by ``closed_at``).
- Closures: the referrals in scope that closed as completed or failed in the last
  ``COHORT_DAYS`` days (by ``closed_at``); the median and 90th percentile of
  ``closed_at`` − ``submitted_at`` in hours, over both.
- Reasons: the units' declines and failures (status changes to "declined by unit" or
  "failed") in the last ``COHORT_DAYS`` days, grouped by their reason as written (trimmed,
  case ignored), the ``TOP_REASONS`` most given and the rest as one "other" figure.

Percentiles are ``percentile_cont`` (linear between the two nearest values): in the database
on PostgreSQL, in Python elsewhere (the demo's SQLite) over the same rows, so both agree.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Min,
    Q,
    Value,
)
from django.db.models.functions import Lower, Trim, TruncWeek
from django.utils import timezone

from referrals.models import Referral, ReferralEvent, Status

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
WEEKS = 12
TOP_REASONS = 5
CLOSED_COUNTED = (Status.COMPLETED, Status.FAILED)


def percentile(values: list[float], fraction: float) -> float | None:
    """``percentile_cont(fraction)`` of ``values`` as PostgreSQL computes it; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


class PercentileHours(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction)`` of a duration, in hours."""

    function = "percentile_cont"
    template = (
        "%(function)s(%(fraction)s) WITHIN GROUP "
        "(ORDER BY EXTRACT(EPOCH FROM %(expressions)s) / 3600)"
    )
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra):
        # ``fraction`` is one of this module's constants, never input: safe in the SQL text.
        super().__init__(expression, fraction=float(fraction), **extra)


def in_postgresql(in_database: bool | None) -> bool:
    return connection.vendor == "postgresql" if in_database is None else in_database


# --- Trends ------------------------------------------------------------------------------


@dataclass
class Week:
    start: date  # the Monday
    received: int = 0
    accepted: int = 0
    completed: int = 0


def trend_start(now: datetime) -> datetime:
    """Monday 00:00 (Hong Kong) of the first of the ``WEEKS`` weeks ending with ``now``'s."""
    local = timezone.localtime(now, HONG_KONG)
    monday = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=local.weekday()
    )
    return monday - timedelta(weeks=WEEKS - 1)


def _week_of(value) -> date:
    if isinstance(value, datetime):
        return (timezone.localtime(value, HONG_KONG) if timezone.is_aware(value) else value).date()
    return value


def in_districts(steps, district_ids):
    """Timeline steps of referrals in ``district_ids``; all of them for None (every
    district: no referral need be read for its district)."""
    if district_ids is None:
        return steps
    return steps.filter(referral__district_id__in=district_ids)


def weekly_trends(district_ids, *, now: datetime, everywhere: bool = False) -> list[Week]:
    """Received, accepted and completed per week: one statement of three grouped parts.
    ``everywhere``: ``district_ids`` are every district there is."""
    start = trend_start(now)
    none = Value(0)

    def week(name: str) -> TruncWeek:
        return TruncWeek(name, tzinfo=HONG_KONG)

    received = (
        Referral.objects.filter(
            district_id__in=district_ids, submitted_at__gte=start, submitted_at__lte=now
        )
        .exclude(status=Status.DRAFT)
        .values(week=week("submitted_at"))
        .annotate(received=Count("district_id"), accepted=none, completed=none)
        .order_by()
    )
    accepted = (
        in_districts(
            ReferralEvent.objects.filter(
                kind=ReferralEvent.Kind.STATUS,
                to_status=Status.ACCEPTED,
                at__gte=start,
                at__lte=now,
            ),
            None if everywhere else district_ids,
        )
        .values(week=week("at"))
        .annotate(received=none, accepted=Count("referral_id"), completed=none)
        .order_by()
    )
    completed = (
        Referral.objects.filter(
            district_id__in=district_ids,
            status=Status.COMPLETED,
            closed_at__gte=start,
            closed_at__lte=now,
        )
        .values(week=week("closed_at"))
        .annotate(received=none, accepted=none, completed=Count("district_id"))
        .order_by()
    )
    first = start.date()
    weeks = {
        first + timedelta(weeks=n): Week(start=first + timedelta(weeks=n)) for n in range(WEEKS)
    }
    for row in received.union(accepted, completed, all=True):
        bucket = weeks.get(_week_of(row["week"]))
        if bucket is not None:
            bucket.received += row["received"]
            bucket.accepted += row["accepted"]
            bucket.completed += row["completed"]
    return list(weeks.values())


# --- Closures and their reasons -----------------------------------------------------------


@dataclass
class ReasonCount:
    reason: str  # as first written, trimmed; "" when none was recorded
    count: int


@dataclass
class Outcomes:
    completed: int = 0
    failed: int = 0
    closure_median_hours: float | None = None
    closure_p90_hours: float | None = None
    declined_reasons: list[ReasonCount] = field(default_factory=list)
    declined_other: int = 0
    declined_steps: int = 0
    failed_reasons: list[ReasonCount] = field(default_factory=list)
    failed_other: int = 0
    failed_steps: int = 0

    @property
    def closed(self) -> int:
        return self.completed + self.failed


def closures(district_ids, *, since, now, in_database: bool | None = None) -> Outcomes:
    """Completed and failed referrals closed since ``since``, and the hours they took."""
    closed = Referral.objects.filter(
        district_id__in=district_ids,
        status__in=CLOSED_COUNTED,
        closed_at__gte=since,
        closed_at__lte=now,
        submitted_at__isnull=False,
    ).order_by()
    took = ExpressionWrapper(F("closed_at") - F("submitted_at"), output_field=DurationField())
    if in_postgresql(in_database):
        figures = closed.aggregate(
            completed=Count("pk", filter=Q(status=Status.COMPLETED)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            median=PercentileHours(took, fraction=0.5),
            p90=PercentileHours(took, fraction=0.9),
        )
        return Outcomes(
            completed=figures["completed"],
            failed=figures["failed"],
            closure_median_hours=figures["median"],
            closure_p90_hours=figures["p90"],
        )
    rows = list(closed.values_list("status", "submitted_at", "closed_at"))
    hours = [(closed_at - submitted).total_seconds() / 3600 for _s, submitted, closed_at in rows]
    return Outcomes(
        completed=sum(1 for status, *_times in rows if status == Status.COMPLETED),
        failed=sum(1 for status, *_times in rows if status == Status.FAILED),
        closure_median_hours=percentile(hours, 0.5),
        closure_p90_hours=percentile(hours, 0.9),
    )


def add_reasons(outcomes: Outcomes, district_ids, *, since, now) -> Outcomes:
    """The declines' and failures' reasons since ``since`` in ``district_ids`` (None: every
    district), grouped in the database (one row per distinct reason), the ``TOP_REASONS``
    most given kept on ``outcomes``."""
    groups = (
        in_districts(
            ReferralEvent.objects.filter(
                kind=ReferralEvent.Kind.STATUS,
                to_status__in=[Status.REJECTED, Status.FAILED],
                at__gte=since,
                at__lte=now,
            ),
            district_ids,
        )
        .values("to_status", key=Lower(Trim("reason")))
        .annotate(count=Count("referral_id"), text=Min(Trim("reason")))
        .order_by("to_status", "-count", "key")
    )
    for row in groups:
        prefix = "declined" if row["to_status"] == Status.REJECTED else "failed"
        setattr(outcomes, f"{prefix}_steps", getattr(outcomes, f"{prefix}_steps") + row["count"])
        top = getattr(outcomes, f"{prefix}_reasons")
        if len(top) < TOP_REASONS:
            top.append(ReasonCount(reason=row["text"] or "", count=row["count"]))
        else:
            setattr(
                outcomes, f"{prefix}_other", getattr(outcomes, f"{prefix}_other") + row["count"]
            )
    return outcomes
