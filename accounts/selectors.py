"""Reads about who a user is: their memberships and the scopes they grant."""

from dataclasses import dataclass, field

from django.db.models import Count, Q

from accounts.models import Membership, User
from districts.models import District, WelfareOffice
from services.models import ServiceUnit


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
