"""The district dashboard's figures: reads only, a fixed number of queries, cached a minute.

Who sees what. A district officer sees the districts of the welfare office(s) they belong to;
an administrator (headquarters) sees all 18; anyone else has no dashboard (the views answer
404). ``dashboard_districts`` decides the scope, ``dashboard_figures`` counts.

What is counted. Only referrals that were submitted (never drafts) and whose ``district`` is in
scope. Periods are in Hong Kong time; ``now`` is an argument so that tests can pin it.

- received this week: ``submitted_at`` from Monday 00:00 of the current week up to now;
- received this month: ``submitted_at`` from the 1st 00:00 of the current month up to now;
- open: status in ``OPEN_STATUSES`` (submitted, awaiting triage, assigned, accepted, declined
  and waiting to be re-routed, in progress, on hold);
- awaiting triage: status ``triage``;
- overdue: status ``assigned`` and past its acknowledge-by time at ``now``
  (``selectors.overdue_q``, as the queue and the inbox: not the sweep's mark);
- escalated: open and escalated to the district office (``escalated_at`` set);
- the 90-day cohort: referrals submitted in the last 90 days;
- decisions: status changes (timeline events of kind "status") to ``accepted`` or
  ``rejected`` made in the last 90 days on cohort referrals;
- median hours to acceptance: over the cohort referrals that were accepted, the median of
  (their first acceptance − ``submitted_at``), in hours;
- acceptance rate: acceptances / decisions; rejection (decline) rate: declines / decisions.
  Both empty when no unit decided anything;
- top needs: the 5 need categories named by the most cohort referrals.

Rows. One per district in scope (every district, also with nothing to count) and one per unit
type. The caseload columns (received, open, triage, overdue, escalated) put a referral under
the type of the unit it is assigned to now, or under "No unit yet"; the decision columns
(median, rates) put each decision under the type of the unit that made it, so that one unit's
decline is not booked against the unit that took the referral afterwards. The totals row
covers the whole scope; its median is the median of all first acceptances, not of the rows.

Queries. Four, whatever the number of referrals or districts: the unit types, the caseload
counts grouped by (district, assigned unit type), the decisions (on PostgreSQL counted and
their medians taken with ``percentile_cont`` over grouping sets by district, by unit type and
overall, in the database; elsewhere the same rows reduced in Python), and the top needs. The
result holds no translated text (names are resolved through ``.name`` when shown), so one
cache entry per scope serves both languages for ``CACHE_SECONDS``.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from accounts.selectors import districts_covered_by
from districts.models import District
from referrals.models import (
    OPEN_STATUSES,
    ContactAttempt,
    ContactOutcome,
    Referral,
    ReferralEvent,
    Status,
)
from referrals.selectors import overdue_q
from services.models import NeedCategory, UnitType

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
COHORT_DAYS = 90
TOP_NEEDS = 5
CACHE_SECONDS = 60
CACHE_VERSION = 2


def dashboard_districts(*, user: User) -> list[District]:
    """The districts whose figures ``user`` may see, by code; empty: no dashboard for them.
    The scope is the one every page uses (``accounts.selectors.districts_covered_by``)."""
    return list(districts_covered_by(user=user))


CASELOAD = ("received_week", "received_month", "open", "triage", "overdue", "escalated")


@dataclass
class Figures:
    """The figures of one row."""

    received_week: int = 0
    received_month: int = 0
    open: int = 0
    triage: int = 0
    overdue: int = 0
    escalated: int = 0
    accepted: int = 0
    rejected: int = 0
    median_hours: float | None = None

    @property
    def decisions(self) -> int:
        return self.accepted + self.rejected

    @property
    def acceptance_rate(self) -> float | None:
        """Per cent of decisions that were acceptances; None when no unit decided."""
        return 100 * self.accepted / self.decisions if self.decisions else None

    @property
    def rejection_rate(self) -> float | None:
        return 100 * self.rejected / self.decisions if self.decisions else None

    @property
    def is_empty(self) -> bool:
        return not (any(getattr(self, name) for name in CASELOAD) or self.decisions)


@dataclass
class Row:
    """A table row: a district, a unit type, or (``group`` None) the referrals without a unit."""

    key: str
    group: District | UnitType | None
    figures: Figures = field(default_factory=Figures)

    @property
    def name(self) -> str:
        return self.group.name if self.group is not None else gettext("No unit yet")


@dataclass
class NeedCount:
    need: NeedCategory
    referrals: int


@dataclass
class Dashboard:
    now: datetime
    week_start: datetime
    month_start: datetime
    cohort_start: datetime
    districts: list[Row]
    unit_types: list[Row]
    total: Figures
    top_needs: list[NeedCount]
    # Urgent notices of the cohort's days: notices → people → reached → urgent support.
    notices: dict[str, int] = field(default_factory=dict)


def period_starts(now: datetime) -> tuple[datetime, datetime, datetime]:
    """Monday 00:00 and the 1st 00:00 (Hong Kong) of ``now``'s week and month, and the start
    of the 90-day cohort."""
    local = timezone.localtime(now, HONG_KONG)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        midnight - timedelta(days=local.weekday()),
        midnight.replace(day=1),
        now - timedelta(days=COHORT_DAYS),
    )


def dashboard_cached(*, districts: list[District]) -> Dashboard:
    """``dashboard_figures`` as of now, shared for CACHE_SECONDS by everyone with this scope."""
    key = "dashboard:v{}:{}".format(CACHE_VERSION, ",".join(str(d.pk) for d in districts))
    dashboard = cache.get(key)
    if dashboard is None:
        dashboard = dashboard_figures(districts=districts, now=timezone.now())
        cache.set(key, dashboard, CACHE_SECONDS)
    return dashboard


def dashboard_figures(*, districts: list[District], now: datetime) -> Dashboard:
    """The dashboard for ``districts`` as of ``now`` (definitions in the module docstring)."""
    week_start, month_start, cohort_start = period_starts(now)
    district_ids = [district.pk for district in districts]
    by_district = {d.pk: Row(key=d.code, group=d) for d in districts}
    by_unit_type: dict[int | None, Row] = {}
    unit_types = {unit_type.pk: unit_type for unit_type in UnitType.objects.all()}

    def unit_type_row(unit_type_id: int | None) -> Row:
        if unit_type_id not in by_unit_type:
            unit_type = unit_types.get(unit_type_id)
            by_unit_type[unit_type_id] = Row(
                key=unit_type.code if unit_type else "", group=unit_type
            )
        return by_unit_type[unit_type_id]

    total = Figures()
    for group in _caseload(district_ids, week_start=week_start, month_start=month_start, now=now):
        for figures in (
            by_district[group["district_id"]].figures,
            unit_type_row(group["unit_type"]).figures,
            total,
        ):
            for name in CASELOAD:
                setattr(figures, name, getattr(figures, name) + group[name])

    for (grouping, pk), (accepted, rejected, median_hours) in _decisions(
        district_ids, since=cohort_start, now=now
    ).items():
        if grouping == "district":
            figures = by_district[pk].figures
        elif grouping == "unit_type":
            figures = unit_type_row(pk).figures
        else:
            figures = total
        figures.accepted, figures.rejected, figures.median_hours = accepted, rejected, median_hours

    return Dashboard(
        now=now,
        week_start=week_start,
        month_start=month_start,
        cohort_start=cohort_start,
        districts=list(by_district.values()),
        unit_types=sorted(
            (row for row in by_unit_type.values() if not row.figures.is_empty),
            key=lambda row: (row.group is None, row.key),
        ),
        total=total,
        top_needs=_top_needs(district_ids, since=cohort_start, now=now),
        notices=notice_funnel(district_ids=district_ids, since=cohort_start),
    )


def _caseload(district_ids, *, week_start, month_start, now) -> QuerySet:
    """Caseload counts grouped by (district, type of the assigned unit), in one statement of
    two parts: the open referrals, and the referrals received this week or month. Each part
    reads only the rows it counts, so the cost follows the open work and the month's intake,
    not the years of closed referrals behind them."""
    in_scope = Referral.objects.filter(district_id__in=district_ids).values(
        "district_id", unit_type=F("assigned_unit__unit_type_id")
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


def _cohort(district_ids, *, since, now) -> QuerySet:
    return Referral.objects.filter(
        district_id__in=district_ids, submitted_at__gte=since, submitted_at__lte=now
    ).exclude(status=Status.DRAFT)


DecisionFigures = tuple[int, int, float | None]  # accepted, rejected, median hours


def _decisions(
    district_ids, *, since, now, in_database: bool | None = None
) -> dict[tuple[str, int | None], DecisionFigures]:
    """Acceptances, declines and the median hours to first acceptance, keyed
    ("district", district id), ("unit_type", unit type id or None) and ("total", None).
    Reduced in the database on PostgreSQL (``in_database`` None), in Python elsewhere."""
    decisions = (
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
            waited=F("at") - F("referral__submitted_at"),
        )
        .order_by()
    )
    if in_database is None:
        in_database = connection.vendor == "postgresql"
    return _decisions_in_postgresql(decisions) if in_database else _reduce_decisions(decisions)


def _reduce_decisions(decisions) -> dict[tuple[str, int | None], DecisionFigures]:
    accepted: dict[tuple[str, int | None], int] = {}
    rejected: dict[tuple[str, int | None], int] = {}
    waits: dict[tuple[str, int | None], list[float]] = {}
    for row in decisions:
        keys = (("district", row["district"]), ("unit_type", row["unit_type"]), ("total", None))
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
            statistics.median(waits[key]) if key in waits else None,
        )
        for key in accepted.keys() | rejected.keys()
    }


def _decisions_in_postgresql(decisions: QuerySet) -> dict[tuple[str, int | None], DecisionFigures]:
    inner, inner_params = decisions.query.sql_with_params()
    # ``inner`` is the ORM's SQL; every value, its own and ours, goes in as a parameter.
    sql = (
        "SELECT GROUPING(district), GROUPING(unit_type), district, unit_type, "  # noqa: S608
        "COUNT(*) FILTER (WHERE to_status = %s), COUNT(*) FILTER (WHERE to_status = %s), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM waited) / 3600) "
        "FILTER (WHERE to_status = %s AND nth = 1) "
        f"FROM ({inner}) AS decision "
        "GROUP BY GROUPING SETS ((district), (unit_type), ())"
    )
    params = (Status.ACCEPTED, Status.REJECTED, Status.ACCEPTED, *inner_params)
    result = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for all_districts, all_unit_types, district, unit_type, *figures in cursor.fetchall():
            if not all_districts:
                key = ("district", district)
            elif not all_unit_types:
                key = ("unit_type", unit_type)
            else:
                key = ("total", None)
            accepted, rejected, median = figures
            result[key] = (accepted, rejected, None if median is None else float(median))
    return result


def _top_needs(district_ids, *, since, now) -> list[NeedCount]:
    needs = (
        NeedCategory.objects.filter(referrals__in=_cohort(district_ids, since=since, now=now))
        .annotate(referral_count=Count("referrals"))
        .order_by("-referral_count", "ordering", "code")[:TOP_NEEDS]
    )
    return [NeedCount(need=need, referrals=need.referral_count) for need in needs]


def notice_funnel(*, district_ids=None, since: datetime | None = None) -> dict[str, int]:
    """Notices → people → reached → urgent: the notices with a referral in the districts,
    the people they named, those reached (either way) and those given urgent support."""
    referrals = Referral.objects.filter(notice__isnull=False)
    if district_ids is not None:
        referrals = referrals.filter(district_id__in=district_ids)
    if since is not None:
        referrals = referrals.filter(submitted_at__gte=since)
    attempts = ContactAttempt.objects.filter(referral=OuterRef("pk"))
    reached = [ContactOutcome.REACHED_NO_NEED, ContactOutcome.REACHED_URGENT]
    figures = referrals.order_by().aggregate(
        notices=Count("notice", distinct=True),
        people=Count("pk"),
        reached=Count("pk", filter=Exists(attempts.filter(outcome__in=reached))),
        urgent=Count("pk", filter=Exists(attempts.filter(outcome=ContactOutcome.REACHED_URGENT))),
    )
    return {name: figures[name] or 0 for name in ("notices", "people", "reached", "urgent")}


# --- Panels other apps add ---------------------------------------------------------------
# The apps above referrals (outreach) put their own figures on the office's dashboard
# without referrals importing them: each registers a provider from its ``AppConfig.ready``.


@dataclass(frozen=True)
class Panel:
    """A card on the dashboard: a heading, figure tiles (label, value) and a link. Built per
    request, so its labels are in the reader's language; a provider caches its numbers."""

    key: str  # the card's id on the page ("<key>-panel")
    title: str
    tiles: list[tuple[str, str]]
    link_url: str = ""
    link_text: str = ""


# ``provider(user=..., districts=[...])`` → a ``Panel``, or None when the user has nothing
# of that app to see for those districts.
PanelProvider = Callable[..., Panel | None]
_panel_providers: list[PanelProvider] = []


def register_panel(provider: PanelProvider) -> PanelProvider:
    """Add a panel provider (once: ``ready`` may run twice in tests and management commands)."""
    if provider not in _panel_providers:
        _panel_providers.append(provider)
    return provider


def dashboard_panels(*, user: User, districts: list[District]) -> list[Panel]:
    """The registered apps' panels for ``districts`` (already the user's scope), in order."""
    panels = (provider(user=user, districts=districts) for provider in _panel_providers)
    return [panel for panel in panels if panel is not None]
