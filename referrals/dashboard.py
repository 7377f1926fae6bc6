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
- median (and 90th percentile) hours to acceptance: over the cohort referrals that were
  accepted, of (their first acceptance − ``submitted_at``), in hours;
- acceptance rate: acceptances / decisions; rejection (decline) rate: declines / decisions.
  Both empty when no unit decided anything;
- top needs: the 5 need categories named by the most cohort referrals;
- the working view (weekly trends, time to closure, outcomes and reasons):
  ``referrals.dashboard_trends``.

Rows. One per district in scope (every district, also with nothing to count), one per
sub-district with something to count (and "No sub-district"), one per unit type and one per
unit. The caseload columns (received, open, triage, overdue, escalated) put a referral under
the unit it is assigned to now (and that unit's type), or under "No unit yet"; the decision
columns (median, rates) put each decision under the unit that made it (and its type), so that
one unit's decline is not booked against the unit that took the referral afterwards. A
sub-district row has the caseload columns only. The totals row covers the whole scope; its
median is the median of all first acceptances, not of the rows.

Queries. Ten, whatever the number of referrals or districts (``dashboard_counts`` and
``dashboard_trends``): the unit types, the caseload (on PostgreSQL added up over grouping
sets by district, sub-district, assigned unit and overall, in the database, from indexes
that hold every column it counts; elsewhere the same groups reduced in Python), the
decisions (on PostgreSQL counted and their percentiles taken with ``percentile_cont`` over
grouping sets by district, unit type, unit and overall, in the database; elsewhere the same
rows reduced in Python), the units counted (their names, and their types, which the unit
types' caseload adds up), the top needs, the urgent notices' funnel, the names of the
sub-districts counted, the weekly trends, the closures and the reasons. For headquarters'
view of every district the timeline's counts skip the lookup of each step's district
(``everywhere``). The result holds no translated text (names are resolved through
``.name`` when shown), so one cache entry per scope serves both languages for
``CACHE_SECONDS``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from accounts.selectors import districts_covered_by
from districts.models import District, SubDistrict
from referrals.dashboard_counts import CASELOAD_COUNTS, caseload, decisions, top_needs
from referrals.dashboard_trends import (
    HONG_KONG,
    Outcomes,
    Week,
    add_reasons,
    closures,
    trend_start,
    weekly_trends,
)
from referrals.models import ContactAttempt, ContactOutcome, Referral
from services.models import NeedCategory, ServiceUnit, UnitType

COHORT_DAYS = 90
TOP_NEEDS = 5
CACHE_SECONDS = 60
CACHE_VERSION = 3  # 3: sub-districts, units, trends, outcomes (issue 19)


def dashboard_districts(*, user: User) -> list[District]:
    """The districts whose figures ``user`` may see, by code; empty: no dashboard for them.
    The scope is the one every page uses (``accounts.selectors.districts_covered_by``)."""
    return list(districts_covered_by(user=user))


def covers_every_district(*, user: User) -> bool:
    """Whether ``dashboard_districts`` gives ``user`` every district: headquarters, as
    ``districts_covered_by`` decides (no query)."""
    return user.is_administrator


CASELOAD = CASELOAD_COUNTS


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
    p90_hours: float | None = None

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

    @property
    def caseload(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in CASELOAD)

    def add_caseload(self, counts) -> None:
        """Add ``counts``, in ``CASELOAD`` order."""
        for name, count in zip(CASELOAD, counts, strict=True):
            setattr(self, name, getattr(self, name) + count)


Group = District | SubDistrict | UnitType | ServiceUnit


@dataclass
class Row:
    """A table row: a district, sub-district, unit type or unit, or (``group`` None) the
    referrals without a unit (without a sub-district, in the sub-districts' table)."""

    key: str
    group: Group | None
    figures: Figures = field(default_factory=Figures)
    empty_name: str = "unit"  # "unit" or "sub_district": which "none" the row stands for

    def __str__(self) -> str:  # the row's name, as lists of names show it (``join_list``)
        return self.name

    @property
    def name(self) -> str:
        if self.group is not None:
            return self.group.name
        if self.empty_name == "sub_district":
            return gettext("No sub-district recorded")
        return gettext("No unit yet")


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
    # The working view (issue 19).
    sub_districts: list[Row] = field(default_factory=list)
    units: list[Row] = field(default_factory=list)
    trend_start: datetime | None = None
    weeks: list[Week] = field(default_factory=list)
    outcomes: Outcomes = field(default_factory=Outcomes)


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


def dashboard_cache_key(districts: list[District]) -> str:
    """The cache key of the figures of this scope (the bench clears it to time a cold page)."""
    return "dashboard:v{}:{}".format(CACHE_VERSION, ",".join(str(d.pk) for d in districts))


def dashboard_cached(*, districts: list[District], everywhere: bool = False) -> Dashboard:
    """``dashboard_figures`` as of now, shared for CACHE_SECONDS by everyone with this scope."""
    key = dashboard_cache_key(districts)
    dashboard = cache.get(key)
    if dashboard is None:
        dashboard = dashboard_figures(
            districts=districts, now=timezone.now(), everywhere=everywhere
        )
        cache.set(key, dashboard, CACHE_SECONDS)
    return dashboard


class _Rows:
    """The rows of one grouping (by its ids), made when first counted into."""

    def __init__(self, empty_name: str = "unit"):
        self.rows: dict[int | None, Row] = {}
        self.empty_name = empty_name

    def __getitem__(self, pk: int | None) -> Figures:
        if pk not in self.rows:
            self.rows[pk] = Row(key="", group=None, empty_name=self.empty_name)
        return self.rows[pk].figures

    def named(self, groups: dict) -> list[Row]:
        """The rows with something to count, by code, the "none" row last."""
        for pk, row in self.rows.items():
            row.group = groups.get(pk)
            row.key = row.group.code if row.group is not None else ""
        rows = [row for row in self.rows.values() if not row.figures.is_empty]
        return sorted(rows, key=lambda row: (row.group is None, row.key))


def dashboard_figures(
    *, districts: list[District], now: datetime, everywhere: bool = False
) -> Dashboard:
    """The dashboard for ``districts`` as of ``now`` (definitions in the module docstring).
    ``everywhere``: ``districts`` are all the districts there are (headquarters' view), so
    the timeline's counts need not look up each step's referral for its district."""
    week_start, month_start, cohort_start = period_starts(now)
    ids = [district.pk for district in districts]
    by_district = {d.pk: Row(key=d.code, group=d) for d in districts}
    unit_types = {unit_type.pk: unit_type for unit_type in UnitType.objects.all()}
    by_sub_district, by_unit_type, by_unit = _Rows("sub_district"), _Rows(), _Rows()

    total = Figures()
    rows = {"sub_district": by_sub_district, "unit_type": by_unit_type, "unit": by_unit}
    periods = {"week_start": week_start, "month_start": month_start, "now": now}
    counted = caseload(ids, **periods, row_by_row=everywhere)
    for (grouping, pk), counts in counted.items():
        _figures(grouping, pk, by_district, total, rows).add_caseload(counts)
    for (grouping, pk), counts in decisions(ids, since=cohort_start, now=now).items():
        figures = _figures(grouping, pk, by_district, total, rows)
        figures.accepted, figures.rejected, figures.median_hours, figures.p90_hours = counts
    units = _units(by_unit.rows)
    for pk, row in by_unit.rows.items():  # a unit's caseload is its type's
        unit = units.get(pk)
        by_unit_type[unit.unit_type_id if unit else None].add_caseload(row.figures.caseload)

    return Dashboard(
        now=now,
        week_start=week_start,
        month_start=month_start,
        cohort_start=cohort_start,
        districts=list(by_district.values()),
        unit_types=by_unit_type.named(unit_types),
        total=total,
        top_needs=[
            NeedCount(need=need, referrals=need.referral_count)
            for need in top_needs(ids, since=cohort_start, now=now, limit=TOP_NEEDS)
        ],
        notices=notice_funnel(district_ids=ids, since=cohort_start),
        sub_districts=by_sub_district.named(_sub_districts(by_sub_district.rows)),
        units=by_unit.named(units),
        trend_start=trend_start(now),
        weeks=weekly_trends(ids, now=now, everywhere=everywhere),
        outcomes=add_reasons(
            closures(ids, since=cohort_start, now=now),
            None if everywhere else ids,
            since=cohort_start,
            now=now,
        ),
    )


def _figures(grouping: str, pk, by_district: dict, total: Figures, rows: dict) -> Figures:
    """The figures a counted group goes to."""
    if grouping == "district":
        return by_district[pk].figures
    if grouping == "total":
        return total
    return rows[grouping][pk]


# ``or [0]``: asked even when there is nothing to name, so that the page always costs the
# same number of queries (an empty ``__in`` would skip the query).


def _sub_districts(pks) -> dict[int, SubDistrict]:
    wanted = [pk for pk in pks if pk is not None] or [0]
    found = SubDistrict.objects.filter(pk__in=wanted).only("code", "name_en", "name_zh")
    return {sub_district.pk: sub_district for sub_district in found}


def _units(pks) -> dict[int, ServiceUnit]:
    wanted = [pk for pk in pks if pk is not None] or [0]
    found = ServiceUnit.objects.filter(pk__in=wanted).only(
        "code", "name_en", "name_zh", "unit_type_id"
    )
    return {unit.pk: unit for unit in found}


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
