"""Reads about who a user is: their memberships and the scopes they grant.

The one home of "which districts an officer covers": a district officer covers the districts
of the welfare office(s) they are a member of; headquarters (administrators) cover every
district. Visibility, the queue, the dashboard, the lifecycle's OFFICE role and the
navigation all ask ``user_scope`` (or, for a list of districts, ``districts_covered_by``).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from accounts.models import Membership, User
from districts.models import District, WelfareOffice
from services.models import ServiceUnit

# The membership columns a scope is computed from: one row per membership, and per district
# of an officer's office. The districts come as values, not as a subquery: callers put them
# in ``district_id IN (…)``, which PostgreSQL answers from the district index (a subquery
# OR-ed with other clauses made it read every referral).
SCOPE_COLUMNS = ("role", "service_unit_id", "welfare_office__districts__id")


@dataclass(frozen=True)
class UserScope:
    """What a user's memberships grant, read in one query."""

    unit_ids: tuple[int, ...] = ()  # the units they work for (staff and supervisors)
    supervised_unit_ids: tuple[int, ...] = ()  # the units they supervise (issue 17)
    district_ids: tuple[int, ...] = ()  # the districts their welfare offices cover
    everywhere: bool = False  # headquarters: every district

    @property
    def reviews_districts(self) -> bool:
        """Has the district office's work (the queue): headquarters, or an office."""
        return self.everywhere or bool(self.district_ids)


def scope_from_rows(rows: Iterable[tuple], *, is_administrator: bool = False) -> UserScope:
    """The scope from ``SCOPE_COLUMNS`` rows, for a caller that reads them inside a query of
    its own (the page context reads them with the unread count)."""
    unit_ids, district_ids, supervised = set(), set(), set()
    for role, unit_id, district_id in rows:
        if role in Membership.STAFF_ROLES and unit_id is not None:
            unit_ids.add(unit_id)
            if role == Membership.Role.UNIT_SUPERVISOR:
                supervised.add(unit_id)
        elif role == Membership.Role.DISTRICT_OFFICER and district_id is not None:
            district_ids.add(district_id)
    return UserScope(
        unit_ids=tuple(sorted(unit_ids)),
        district_ids=tuple(sorted(district_ids)),
        supervised_unit_ids=tuple(sorted(supervised)),
        everywhere=is_administrator,
    )


def user_scope(user: User) -> UserScope:
    """The units and districts ``user`` works in, in one query (none for someone signed out
    or deactivated). Kept on the user object, as Django keeps permissions (``_perm_cache``):
    a request's visibility check and the capacities it then reads cost one query together;
    a new request loads a new user, so a changed membership counts from the next request."""
    if not (user.is_authenticated and user.is_active):
        return UserScope()
    scope = getattr(user, "_scope_cache", None)
    if scope is None:
        rows = Membership.objects.filter(user=user).values_list(*SCOPE_COLUMNS)
        scope = user._scope_cache = scope_from_rows(rows, is_administrator=user.is_administrator)
    return scope


def districts_covered_by(*, user: User) -> QuerySet[District]:
    """``user_scope(user).district_ids`` (or every district for headquarters) as districts,
    by code, in one query: for a caller that needs the rows, not only their ids. The same
    rule as ``scope_from_rows``: the districts of the offices of their officer memberships."""
    if not (user.is_authenticated and user.is_active):
        return District.objects.none()
    districts = District.objects.order_by("code")
    if user.is_administrator:
        return districts
    offices = Membership.objects.filter(user=user, role=Membership.Role.DISTRICT_OFFICER)
    return districts.filter(welfare_office_id__in=offices.values("welfare_office_id"))


@dataclass
class RoleOverview:
    """What the home page shows a user, grouped by the roles they hold."""

    referrer_teams: list[ServiceUnit] = field(default_factory=list)
    staffed_units: list[tuple[ServiceUnit, str]] = field(default_factory=list)
    offices: list[WelfareOffice] = field(default_factory=list)
    is_administrator: bool = False

    @property
    def has_role(self) -> bool:
        return bool(
            self.referrer_teams or self.staffed_units or self.offices or self.is_administrator
        )


def user_memberships(*, user: User) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user)
        .select_related(
            "service_unit__unit_type",
            "service_unit__district",
            "service_unit__organisation",
            "welfare_office",
        )
        .order_by("role", "pk")
    )


def role_overview(*, user: User) -> RoleOverview:
    overview = RoleOverview(is_administrator=user.is_administrator)
    for membership in user_memberships(user=user):
        if membership.role == Membership.Role.REFERRER:
            overview.referrer_teams.append(membership.service_unit)
        elif membership.role == Membership.Role.DISTRICT_OFFICER:
            overview.offices.append(membership.welfare_office)
        else:
            overview.staffed_units.append((membership.service_unit, membership.get_role_display()))
    return overview


def office_districts_with_unit_counts(*, offices: list[WelfareOffice]) -> list[District]:
    """The districts the offices cover, each annotated with its count of active units."""
    return list(
        District.objects.filter(welfare_office__in=offices)
        .select_related("welfare_office")
        .annotate(active_units=Count("units", filter=Q(units__is_active=True)))
        .order_by("code")
    )


def unit_workers(unit_id: int) -> QuerySet[Membership]:
    """The people who work a unit's cases (staff and supervisors) and may own one: active
    accounts only, one row each (a supervisor who is also staff counts once), by name. The
    one home of "who may be a case's worker" (issue 17)."""
    return (
        Membership.objects.filter(
            service_unit_id=unit_id, role__in=Membership.STAFF_ROLES, user__is_active=True
        )
        .select_related("user")
        .order_by("user__first_name", "user__last_name", "user__username", "-role")
    )
