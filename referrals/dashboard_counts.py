"""The dashboard's counting queries: the caseload, the units' decisions and the top needs.

Each is one statement grouped in the database; ``referrals.dashboard`` adds the groups up
into its rows (definitions in its docstring). Nothing here holds translated text.
"""

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Value, Window
from django.db.models.functions import RowNumber

from referrals.dashboard_trends import in_postgresql, percentile
from referrals.models import OPEN_STATUSES, Referral, ReferralEvent, Status
from referrals.selectors import overdue_q
from services.models import NeedCategory


def caseload(district_ids, *, week_start, month_start, now) -> QuerySet:
    """Caseload counts grouped by (district, sub-district, assigned unit and its type), in one
    statement of two parts: the open referrals, and the referrals received this week or
    month. Each part reads only the rows it counts, so the cost follows the open work and
    the month's intake, not the years of closed referrals behind them."""
    in_scope = Referral.objects.filter(district_id__in=district_ids).values(
        "district_id",
        "sub_district_id",
        "assigned_unit_id",
        unit_type=F("assigned_unit__unit_type_id"),
    )
    none = Value(0)

    # A column of the index rather than the primary key, so that PostgreSQL can answer from
    # an index that includes the columns counted, without reading the table.
    def number(condition: Q | None = None) -> Count:
        return Count("district_id", filter=condition)

    open_work = (
        in_scope.filter(status__in=OPEN_STATUSES)
        .annotate(
            received_week=none,
            received_month=none,
            open=number(),
            triage=number(Q(status=Status.TRIAGE)),
            overdue=number(overdue_q(now)),
            escalated=number(Q(escalated_at__isnull=False)),
        )
        .order_by()
    )
    received = (
        in_scope.filter(submitted_at__gte=min(week_start, month_start), submitted_at__lte=now)
        .exclude(status=Status.DRAFT)
        .annotate(
            received_week=number(Q(submitted_at__gte=week_start)),
            received_month=number(Q(submitted_at__gte=month_start)),
            open=none,
            triage=none,
            overdue=none,
            escalated=none,
        )
        .order_by()
    )
    return open_work.union(received, all=True)


def cohort(district_ids, *, since, now) -> QuerySet:
    return Referral.objects.filter(
        district_id__in=district_ids, submitted_at__gte=since, submitted_at__lte=now
    ).exclude(status=Status.DRAFT)


# accepted, rejected, median hours to first acceptance, 90th percentile of those hours
DecisionFigures = tuple[int, int, float | None, float | None]
# The key of each grouping, and the column of the decisions it groups by.
GROUPINGS = {"district": "district", "unit_type": "unit_type", "unit": "deciding_unit"}


def decisions(
    district_ids, *, since, now, in_database: bool | None = None
) -> dict[tuple[str, int | None], DecisionFigures]:
    """Acceptances, declines and the median and 90th percentile of the hours to first
    acceptance, keyed ("district", district id), ("unit_type", unit type id or None),
    ("unit", the deciding unit's id or None) and ("total", None). Reduced in the database
    on PostgreSQL (``in_database`` None), in Python elsewhere."""
    steps = (
        ReferralEvent.objects.filter(
            kind=ReferralEvent.Kind.STATUS,
            to_status__in=[Status.ACCEPTED, Status.REJECTED],
            at__gte=since,
            at__lte=now,
            referral__district_id__in=district_ids,
            referral__submitted_at__gte=since,
            referral__submitted_at__lte=now,
        )
        .exclude(referral__status=Status.DRAFT)
        .annotate(
            # 1 for a referral's first acceptance (and first decline).
            nth=Window(RowNumber(), partition_by=[F("referral_id"), F("to_status")], order_by="at"),
        )
        .values(
            "to_status",
            "nth",
            district=F("referral__district_id"),
            unit_type=F("unit__unit_type_id"),
            deciding_unit=F("unit_id"),
            waited=F("at") - F("referral__submitted_at"),
        )
        .order_by()
    )
    if in_postgresql(in_database):
        return _decisions_in_postgresql(steps)
    return _reduce_decisions(steps)


def _reduce_decisions(steps) -> dict[tuple[str, int | None], DecisionFigures]:
    accepted: dict[tuple[str, int | None], int] = {}
    rejected: dict[tuple[str, int | None], int] = {}
    waits: dict[tuple[str, int | None], list[float]] = {}
    for row in steps:
        keys = [(name, row[column]) for name, column in GROUPINGS.items()] + [("total", None)]
        tally = rejected if row["to_status"] == Status.REJECTED else accepted
        for key in keys:
            tally[key] = tally.get(key, 0) + 1
        if tally is accepted and row["nth"] == 1:
            for key in keys:
                waits.setdefault(key, []).append(row["waited"].total_seconds() / 3600)
    return {
        key: (
            accepted.get(key, 0),
            rejected.get(key, 0),
            percentile(waits.get(key, []), 0.5),
            percentile(waits.get(key, []), 0.9),
        )
        for key in accepted.keys() | rejected.keys()
    }


def _decisions_in_postgresql(steps: QuerySet) -> dict[tuple[str, int | None], DecisionFigures]:
    inner, inner_params = steps.query.sql_with_params()
    first_acceptance = "FILTER (WHERE to_status = %s AND nth = 1)"
    hours = "EXTRACT(EPOCH FROM waited) / 3600"
    # ``inner`` is the ORM's SQL; every value, its own and ours, goes in as a parameter.
    sql = (
        "SELECT GROUPING(district), GROUPING(unit_type), GROUPING(deciding_unit), "  # noqa: S608
        "district, unit_type, deciding_unit, "
        "COUNT(*) FILTER (WHERE to_status = %s), COUNT(*) FILTER (WHERE to_status = %s), "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {hours}) {first_acceptance}, "
        f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {hours}) {first_acceptance} "
        f"FROM ({inner}) AS decision "
        "GROUP BY GROUPING SETS ((district), (unit_type), (deciding_unit), ())"
    )
    accepted = Status.ACCEPTED
    params = (accepted, Status.REJECTED, accepted, accepted, *inner_params)
    result = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for *grouping, district, unit_type, unit, ayes, noes, median, p90 in cursor.fetchall():
            if not grouping[0]:
                key = ("district", district)
            elif not grouping[1]:
                key = ("unit_type", unit_type)
            elif not grouping[2]:
                key = ("unit", unit)
            else:
                key = ("total", None)
            result[key] = (
                ayes,
                noes,
                None if median is None else float(median),
                None if p90 is None else float(p90),
            )
    return result


def top_needs(district_ids, *, since, now, limit: int) -> QuerySet:
    return (
        NeedCategory.objects.filter(referrals__in=cohort(district_ids, since=since, now=now))
        .annotate(referral_count=Count("referrals"))
        .order_by("-referral_count", "ordering", "code")[:limit]
    )
