"""Outreach's figures: per visit list, per caring team and by week, and the conversion from
visits to referrals (the first pilot's 5,000 visits → 400 referrals).

Who sees what: exactly the households ``selectors.households_visible_to`` gives the user (an
office its districts', a caring team its own, headquarters all); someone with no outreach
role (a unit's staff) has no figures (``has_outreach_scope``).

What is counted, over the households in scope (and in the list or team chosen):

- households: on the lists;
- visited: households with at least one visit whose outcome was "visited";
- unreachable, refused: households in that status now;
- visits: every visit recorded, whatever the outcome (attempts included);
- visits that reached someone: visits with the outcome "visited";
- referrals made: referrals made from a visit (``VisitReferral``) that were submitted, i.e.
  whose referral is not a draft; a referral withdrawn later still counts as made;
- 平安鐘 applications: visits that recorded a personal emergency link application;
- conversion: referrals made per 100 visits that reached someone.

A household counts under its list and its current team: a household moved to another team
takes its visits and referrals with it, so the rows add up to the total. By week (ISO weeks,
Monday 00:00 Hong Kong time, the last ``weeks`` including the current one): visits by the
time of the visit, referrals by the time they were submitted.

Queries: the counts per (list, team) in one statement of three parts (households, visits,
referrals) grouped in the database, the weeks in another of two, then the lists and the
teams by id: four, whatever the number of households.
"""

from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from accounts.selectors import user_scope
from outreach.models import (
    Household,
    HouseholdStatus,
    Visit,
    VisitList,
    VisitOutcome,
    VisitReferral,
)
from outreach.selectors import households_visible_to, lists_visible_to, team_ids_of
from referrals.models import Status
from services.models import ServiceUnit

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
DEFAULT_WEEKS = 12
PANEL_CACHE_SECONDS = 60  # as the office's dashboard around the panel


@dataclass
class Counts:
    """The figures of one row (a list, a team, a week, or the total)."""

    households: int = 0
    visited: int = 0
    unreachable: int = 0
    refused: int = 0
    visits: int = 0
    visited_visits: int = 0
    referrals: int = 0
    emergency_links: int = 0

    @property
    def conversion(self) -> float | None:
        """Referrals made per 100 visits that reached someone; None before any such visit."""
        return 100 * self.referrals / self.visited_visits if self.visited_visits else None

    def add(self, row: dict) -> None:
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + (row.get(name) or 0))


COUNTED = tuple(item.name for item in fields(Counts))
WEEKLY = ("visits", "visited_visits", "referrals", "emergency_links")


@dataclass
class ListRow:
    visit_list: VisitList
    counts: Counts = field(default_factory=Counts)


@dataclass
class TeamRow:
    """A caring team, or (``team`` None) the households no team was found for yet."""

    team: ServiceUnit | None
    counts: Counts = field(default_factory=Counts)

    @property
    def name(self) -> str:
        return self.team.name if self.team is not None else gettext("No team yet")


@dataclass
class WeekRow:
    start: date  # the Monday
    counts: Counts = field(default_factory=Counts)

    @property
    def label(self) -> str:
        year, week, _day = self.start.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass
class Figures:
    since: datetime  # the first week's Monday 00:00, Hong Kong time
    lists: list[ListRow] = field(default_factory=list)
    teams: list[TeamRow] = field(default_factory=list)
    weeks: list[WeekRow] = field(default_factory=list)
    total: Counts = field(default_factory=Counts)


def has_outreach_scope(user: User) -> bool:
    """An office, headquarters or a caring-team member: someone with outreach figures."""
    return user_scope(user).reviews_districts or bool(team_ids_of(user))


def first_week(now: datetime, weeks: int) -> datetime:
    """Monday 00:00 (Hong Kong) of the earliest of the last ``weeks`` weeks up to ``now``."""
    local = timezone.localtime(now, HONG_KONG)
    monday = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=local.weekday()
    )
    return monday - timedelta(weeks=max(weeks, 1) - 1)


def figures_for(
    user: User,
    *,
    visit_list: VisitList | None = None,
    team: ServiceUnit | None = None,
    weeks: int = DEFAULT_WEEKS,
    now: datetime | None = None,
) -> Figures:
    """The figures of the households ``user`` may see, optionally of one list and/or one
    team (definitions in the module docstring). Nothing in scope: empty figures."""
    since = first_week(now or timezone.now(), weeks)
    figures = Figures(
        since=since,
        weeks=[WeekRow(start=(since + timedelta(weeks=n)).date()) for n in range(max(weeks, 1))],
    )
    if not has_outreach_scope(user):
        return figures
    households = households_visible_to(user)
    if visit_list is not None:
        households = households.filter(visit_list=visit_list)
    if team is not None:
        households = households.filter(team=team)

    by_list: dict[int, Counts] = {}
    by_team: dict[int | None, Counts] = {}
    for row in grouped_counts(households):
        by_list.setdefault(row["list_key"], Counts()).add(row)
        by_team.setdefault(row["team_key"], Counts()).add(row)
        figures.total.add(row)

    by_week = {week.start: week.counts for week in figures.weeks}
    for row in _weekly(households, since=since):
        start = timezone.localtime(row["week"], HONG_KONG).date()
        if start in by_week:
            by_week[start].add(row)

    figures.lists = [
        ListRow(visit_list=item, counts=by_list.get(item.pk, Counts()))
        for item in _lists(user, list_ids=by_list, visit_list=visit_list, team=team)
    ]
    teams = ServiceUnit.objects.in_bulk([pk for pk in by_team if pk is not None])
    figures.teams = sorted(
        (TeamRow(team=teams.get(pk), counts=counts) for pk, counts in by_team.items()),
        key=lambda row: (row.team is None, row.name),
    )
    return figures


def made_referrals(households: QuerySet[Household]) -> QuerySet[VisitReferral]:
    """Referrals made from visits to ``households`` that were submitted (never drafts)."""
    return VisitReferral.objects.filter(visit__household__in=households).exclude(
        referral__status=Status.DRAFT
    )


def grouped_counts(households: QuerySet[Household]) -> QuerySet:
    """Counts per (list, team) of ``households``, their visits and their referrals made, in
    one statement of three grouped parts; each row carries zeros for the others' columns."""
    zero = Value(0)
    visited_visit = Visit.objects.filter(household=OuterRef("pk"), outcome=VisitOutcome.VISITED)
    people = (
        households.values(list_key=F("visit_list_id"), team_key=F("team_id"))
        .annotate(
            households=Count("pk"),
            visited=Count("pk", filter=Exists(visited_visit)),
            unreachable=Count("pk", filter=Q(status=HouseholdStatus.UNREACHABLE)),
            refused=Count("pk", filter=Q(status=HouseholdStatus.REFUSED)),
            visits=zero,
            visited_visits=zero,
            referrals=zero,
            emergency_links=zero,
        )
        .order_by()
    )
    visits = (
        Visit.objects.filter(household__in=households)
        .values(list_key=F("household__visit_list_id"), team_key=F("household__team_id"))
        .annotate(
            households=zero,
            visited=zero,
            unreachable=zero,
            refused=zero,
            visits=Count("pk"),
            visited_visits=Count("pk", filter=Q(outcome=VisitOutcome.VISITED)),
            referrals=zero,
            emergency_links=Count("pk", filter=Q(emergency_link_application=True)),
        )
        .order_by()
    )
    referrals = (
        made_referrals(households)
        .values(
            list_key=F("visit__household__visit_list_id"),
            team_key=F("visit__household__team_id"),
        )
        .annotate(
            households=zero,
            visited=zero,
            unreachable=zero,
            refused=zero,
            visits=zero,
            visited_visits=zero,
            referrals=Count("pk"),
            emergency_links=zero,
        )
        .order_by()
    )
    return people.union(visits, referrals, all=True)


def _weekly(households: QuerySet[Household], *, since: datetime) -> QuerySet:
    """Visits and referrals made per ISO week since ``since``, in one statement."""
    zero = Value(0)
    visits = (
        Visit.objects.filter(household__in=households, visited_at__gte=since)
        .annotate(week=TruncWeek("visited_at", tzinfo=HONG_KONG))
        .values("week")
        .annotate(
            visits=Count("pk"),
            visited_visits=Count("pk", filter=Q(outcome=VisitOutcome.VISITED)),
            referrals=zero,
            emergency_links=Count("pk", filter=Q(emergency_link_application=True)),
        )
        .order_by()
    )
    referrals = (
        made_referrals(households)
        .filter(referral__submitted_at__gte=since)
        .annotate(week=TruncWeek("referral__submitted_at", tzinfo=HONG_KONG))
        .values("week")
        .annotate(visits=zero, visited_visits=zero, referrals=Count("pk"), emergency_links=zero)
        .order_by()
    )
    return visits.union(referrals, all=True)


def _lists(user: User, *, list_ids, visit_list, team) -> QuerySet[VisitList]:
    """The lists counted, and (with no team chosen) the user's lists that hold no household
    yet, so an office sees its new list at zero rather than not at all."""
    condition = Q(pk__in=list(list_ids))
    if team is None:
        visible = lists_visible_to(user)
        if visit_list is not None:
            visible = visible.filter(pk=visit_list.pk)
        condition |= Q(pk__in=visible.values("pk"))
    return VisitList.objects.filter(condition).order_by("-created_at", "pk")


def office_totals(*, district_ids: list[int]) -> Counts:
    """The totals of the households in ``district_ids`` for the office's dashboard: one
    query, then cached a minute per set of districts like the dashboard around it. The
    districts are already the viewer's (``referrals.dashboard.dashboard_districts``), and an
    office sees every household of its districts, so no other scope applies."""
    key = "outreach:office-totals:v1:" + ",".join(str(pk) for pk in sorted(district_ids))
    totals = cache.get(key)
    if totals is None:
        totals = Counts()
        for row in grouped_counts(Household.objects.filter(district_id__in=district_ids)):
            totals.add(row)
        cache.set(key, totals, PANEL_CACHE_SECONDS)
    return totals
