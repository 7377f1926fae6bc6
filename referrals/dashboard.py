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

Queries. Nine, whatever the number of referrals or districts (``dashboard_counts`` and
``dashboard_trends``): the unit types, the caseload grouped by (district, sub-district,
assigned unit, its type), the decisions (on PostgreSQL counted and their percentiles taken
with ``percentile_cont`` over grouping sets by district, unit type, unit and overall, in the
database; elsewhere the same rows reduced in Python), the top needs, the names of the
sub-districts and units counted, the weekly trends, the closures and the reasons. The result
holds no translated text (names are resolved through ``.name`` when shown), so one cache
entry per scope serves both languages for ``CACHE_SECONDS``.
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
from referrals.dashboard_counts import caseload, decisions, top_needs
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

    def add_caseload(self, group: dict) -> None:
        for name in CASELOAD:
            setattr(self, name, getattr(self, name) + group[name])


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


def dashboard_cached(*, districts: list[District]) -> Dashboard:
    """``dashboard_figures`` as of now, shared for CACHE_SECONDS by everyone with this scope."""
    key = "dashboard:v{}:{}".format(CACHE_VERSION, ",".join(str(d.pk) for d in districts))
    dashboard = cache.get(key)
    if dashboard is None:
        dashboard = dashboard_figures(districts=districts, now=timezone.now())
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


def dashboard_figures(*, districts: list[District], now: datetime) -> Dashboard:
    """The dashboard for ``districts`` as of ``now`` (definitions in the module docstring)."""
    week_start, month_start, cohort_start = period_starts(now)
    ids = [district.pk for district in districts]
    by_district = {d.pk: Row(key=d.code, group=d) for d in districts}
    unit_types = {unit_type.pk: unit_type for unit_type in UnitType.objects.all()}
    by_sub_district, by_unit_type, by_unit = _Rows("sub_district"), _Rows(), _Rows()

    total = Figures()
    for group in caseload(ids, week_start=week_start, month_start=month_start, now=now):
        for figures in (
            by_district[group["district_id"]].figures,
            by_sub_district[group["sub_district_id"]],
            by_unit_type[group["unit_type"]],
            by_unit[group["assigned_unit_id"]],
            total,
        ):
            figures.add_caseload(group)

    rows = {"district": by_district, "unit_type": by_unit_type, "unit": by_unit}
    for (grouping, pk), counted in decisions(ids, since=cohort_start, now=now).items():
        if grouping == "district":
            figures = by_district[pk].figures
        elif grouping == "total":
            figures = total
        else:
            figures = rows[grouping][pk]
        figures.accepted, figures.rejected, figures.median_hours, figures.p90_hours = counted

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
        units=by_unit.named(_units(by_unit.rows)),
        trend_start=trend_start(now),
        weeks=weekly_trends(ids, now=now),
        outcomes=add_reasons(
            closures(ids, since=cohort_start, now=now), ids, since=cohort_start, now=now
        ),
    )


# ``or [0]``: asked even when there is nothing to name, so that the page always costs the
# same number of queries (an empty ``__in`` would skip the query).


def _sub_districts(pks) -> dict[int, SubDistrict]:
    wanted = [pk for pk in pks if pk is not None] or [0]
    found = SubDistrict.objects.filter(pk__in=wanted).only("code", "name_en", "name_zh")
    return {sub_district.pk: sub_district for sub_district in found}


def _units(pks) -> dict[int, ServiceUnit]:
    wanted = [pk for pk in pks if pk is not None] or [0]
    found = ServiceUnit.objects.filter(pk__in=wanted).only("code", "name_en", "name_zh")
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
