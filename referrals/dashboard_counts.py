"""The dashboard's counting queries: the caseload, the units' decisions and the top needs.

Each is one statement grouped in the database; ``referrals.dashboard`` adds the groups up
into its rows (definitions in its docstring). Nothing here holds translated text.
"""

from django.db import connection
from django.db.models import Case, Count, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber

from referrals.dashboard_trends import in_postgresql, percentile
from referrals.models import OPEN_STATUSES, Referral, ReferralEvent, Status
from referrals.selectors import overdue_q
from services.models import NeedCategory

# The caseload's groupings: the key of each, and the referral column it groups by.
CASELOAD_GROUPINGS = {
    "district": "district_id",
    "sub_district": "sub_district_id",
    "unit": "assigned_unit_id",
}
CASELOAD_COUNTS = ("received_week", "received_month", "open", "triage", "overdue", "escalated")
# The caseload's figures of one group, in CASELOAD_COUNTS order.
CaseloadFigures = tuple[int, int, int, int, int, int]


def caseload_groups(district_ids, *, week_start, month_start, now, grouped=True) -> QuerySet:
    """Caseload counts grouped by (district, sub-district, assigned unit), in one statement
    of two parts: the open referrals, and the referrals received this week or month. Each
    part reads only the rows it counts, from an index that includes every column it needs
    (``referral_open_caseload``, ``referral_queue_age``), so the cost follows the open work
    and the month's intake, not the years of closed referrals behind them. Not ``grouped``:
    a row per referral counted, each count 1 or 0, for an enclosing statement to add up."""
    in_scope = Referral.objects.filter(district_id__in=district_ids).values(
        *CASELOAD_GROUPINGS.values()
    )
    none = Value(0)

    # A column of the index rather than the primary key, so that PostgreSQL can answer from
    # an index that includes the columns counted, without reading the table.
    def number(condition: Q | None = None):
        if grouped:
            return Count("district_id", filter=condition)
        if condition is None:
            return Value(1)
        return Case(When(condition, then=Value(1)), default=Value(0))

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


def caseload(
    district_ids, *, week_start, month_start, now, in_database=None, row_by_row=False
) -> dict[tuple[str, int | None], CaseloadFigures]:
    """The caseload's figures keyed ("district", id), ("sub_district", id or None), ("unit",
    the assigned unit's id or None) and ("total", None): added up over grouping sets in the
    database on PostgreSQL (``in_database`` None), in Python elsewhere; only groups with a
    referral to count appear. ``row_by_row``: see below."""
    periods = {"week_start": week_start, "month_start": month_start, "now": now}
    if not in_postgresql(in_database):
        return _reduce_caseload(caseload_groups(district_ids, **periods))
    # ``row_by_row`` (the whole city's 480,000 open referrals at a million): one row per
    # referral, added up once over the grouping sets; grouping them first by the three
    # columns, PostgreSQL expects too many groups to hash and sorts them all on disk. For
    # a few districts grouping first is the faster (issue 20's measures).
    rows = caseload_groups(district_ids, **periods, grouped=not row_by_row)
    inner, inner_params = rows.query.sql_with_params()
    columns = list(CASELOAD_GROUPINGS.values())
    sums = ", ".join(f"SUM({name})" for name in CASELOAD_COUNTS)
    sets = ", ".join(f"({name})" for name in columns)
    # ``inner`` is the ORM's SQL, its values parameters; the names are this module's.
    sql = (
        f"SELECT {', '.join(f'GROUPING({name})' for name in columns)}, "  # noqa: S608
        f"{', '.join(columns)}, {sums} FROM ({inner}) AS caseload "
        f"GROUP BY GROUPING SETS ({sets}, ())"
    )
    result = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, inner_params)
        for row in cursor.fetchall():
            grouped, keys, counts = row[:3], row[3:6], row[6:]
            key = ("total", None)
            for name, not_grouped, pk in zip(CASELOAD_GROUPINGS, grouped, keys, strict=True):
                if not not_grouped:
                    key = (name, pk)
            result[key] = tuple(int(count or 0) for count in counts)
    return result


def _reduce_caseload(groups) -> dict[tuple[str, int | None], CaseloadFigures]:
    result: dict[tuple[str, int | None], list[int]] = {}
    for group in groups:
        keys = [(name, group[column]) for name, column in CASELOAD_GROUPINGS.items()]
        for key in [*keys, ("total", None)]:
            sums = result.setdefault(key, [0] * len(CASELOAD_COUNTS))
            for index, name in enumerate(CASELOAD_COUNTS):
                sums[index] += group[name]
    return {key: tuple(sums) for key, sums in result.items()}


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
