"""Who sees which visit lists and households: the one home of outreach's visibility.

* A caring team sees the households assigned to it, and the lists that hold them.
* A district office sees the households in its districts, and the lists it made.
* Headquarters (administrators) see everything.
* Service units see nothing of a list: what they get is the referral a visit led to, through
  the referrals' own visibility.

Pages, the API, exports and figures all ask here.
"""

from datetime import date

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, User
from accounts.selectors import user_scope
from outreach.models import Household, HouseholdStatus, VisitList, VisitReferral
from referrals.models import Status
from services.models import ServiceUnit

CARING_TEAM_TYPE = "CARE_TEAM"
# A referral that came back: declined by every unit it was routed to (it waits in the
# office's queue as "declined by unit") or closed as failed. Its household goes back to the
# team's list.
CAME_BACK_STATUSES = (Status.REJECTED, Status.FAILED)


def caring_teams_of(user: User) -> QuerySet[ServiceUnit]:
    """The caring teams ``user`` is a member of (a caring-team member files referrals)."""
    if not (user.is_authenticated and user.is_active):
        return ServiceUnit.objects.none()
    return ServiceUnit.objects.filter(
        unit_type__code=CARING_TEAM_TYPE,
        memberships__user=user,
        memberships__role__in=Membership.UNIT_ROLES,
    ).distinct()


def team_ids_of(user: User) -> tuple[int, ...]:
    cached = getattr(user, "_outreach_team_ids", None)
    if cached is None:
        cached = tuple(caring_teams_of(user).order_by("pk").values_list("pk", flat=True))
        if user.is_authenticated:
            user._outreach_team_ids = cached
    return cached


def may_manage_lists(user: User) -> bool:
    """Creates visit lists, loads households, moves them between teams, reopens: a district
    office or headquarters."""
    scope = user_scope(user)
    return scope.reviews_districts


def lists_managed_by(user: User) -> QuerySet[VisitList]:
    """The lists ``user`` may load, move households of and reopen: headquarters all, a
    district officer those of their own office(s)."""
    if not (user.is_authenticated and user.is_active):
        return VisitList.objects.none()
    if user.is_administrator:
        return VisitList.objects.all()
    offices = Membership.objects.filter(user=user, role=Membership.Role.DISTRICT_OFFICER)
    return VisitList.objects.filter(welfare_office_id__in=offices.values("welfare_office_id"))


def may_manage_list(user: User, visit_list: VisitList) -> bool:
    return lists_managed_by(user).filter(pk=visit_list.pk).exists()


def households_visible_to(user: User) -> QuerySet[Household]:
    scope = user_scope(user)
    if scope.everywhere:
        return Household.objects.all()
    condition = Q(pk__in=[])
    teams = team_ids_of(user)
    if teams:
        condition |= Q(team_id__in=teams)
    if scope.district_ids:
        condition |= Q(district_id__in=scope.district_ids)
    return Household.objects.filter(condition)


def lists_visible_to(user: User) -> QuerySet[VisitList]:
    scope = user_scope(user)
    if scope.everywhere:
        return VisitList.objects.all()
    condition = Q(pk__in=[])
    if scope.district_ids:
        condition |= Q(welfare_office__districts__in=scope.district_ids)
    teams = team_ids_of(user)
    if teams:
        condition |= Exists(Household.objects.filter(visit_list=OuterRef("pk"), team_id__in=teams))
    return VisitList.objects.filter(condition).distinct()


def household_visible(user: User, household: Household) -> bool:
    return households_visible_to(user).filter(pk=household.pk).exists()


def live_referrals(household_ref="pk") -> QuerySet[VisitReferral]:
    """The referrals of a household still being worked on somewhere (not come back)."""
    return VisitReferral.objects.filter(visit__household=OuterRef(household_ref)).exclude(
        referral__status__in=CAME_BACK_STATUSES
    )


def came_back_q() -> Q:
    """A referred household all of whose referrals came back."""
    return Q(status=HouseholdStatus.REFERRED) & ~Exists(live_referrals())


def left_to_visit_q(today: date | None = None) -> Q:
    """In a team's list: not visited yet, a revisit that has come due, or a household whose
    referrals all came back."""
    today = today or timezone.localdate()
    return (
        Q(status=HouseholdStatus.TO_VISIT)
        | Q(status=HouseholdStatus.REVISIT, revisit_on__lte=today)
        | came_back_q()
    )


def team_households(team_id: int, *, today: date | None = None) -> QuerySet[Household]:
    """A team's list: what is left to visit, by priority, then by estate, block, floor and
    flat so a member can walk a building (the ``household_team_left`` index's order)."""
    return Household.objects.filter(left_to_visit_q(today), team_id=team_id).order_by(
        "-effective_priority", "estate_name", "block", "floor", "flat", "id"
    )
