"""Which caring team visits a household: the team of its sub-district when it is loaded, or
another the office moves it (or its whole block) to; and the priority the office sets.

A move or a priority change is the office's step: the actor must manage the household's
list (``selectors.may_manage_list``) and see the household; anything else is refused as
"not found" (``NotPermitted``), so a step one may not take tells nothing about the list.
"""

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from outreach.errors import NotPermitted, OutreachError, stale_household
from outreach.events import record_event
from outreach.models import Household, HouseholdEvent, Priority, VisitList
from outreach.selectors import CARING_TEAM_TYPE, households_visible_to, may_manage_list
from services.models import ServiceUnit


def caring_teams() -> QuerySet[ServiceUnit]:
    return ServiceUnit.objects.filter(unit_type__code=CARING_TEAM_TYPE, is_active=True)


def team_for(sub_district) -> ServiceUnit | None:
    """The active caring team whose catchment includes ``sub_district`` (a sub-district or
    its id); the lowest code if several do, so the answer does not change between loads."""
    area_id = getattr(sub_district, "pk", sub_district)
    return caring_teams().filter(catchment_sub_districts=area_id).order_by("code").first()


def teams_for_office(welfare_office_id: int) -> QuerySet[ServiceUnit]:
    """The caring teams a list of this office may be given to: active, with a catchment in
    one of the office's districts."""
    inside = Q(catchment_sub_districts__district__welfare_office_id=welfare_office_id) | Q(
        catchment_districts__welfare_office_id=welfare_office_id
    )
    return caring_teams().filter(pk__in=ServiceUnit.objects.filter(inside).values("pk"))


def _check_team(team: ServiceUnit, visit_list: VisitList) -> None:
    if (
        team is None
        or not teams_for_office(visit_list.welfare_office_id).filter(pk=team.pk).exists()
    ):
        raise OutreachError(_("Choose an active caring team that serves this list's districts."))


def move_households(*, actor: User, households, team: ServiceUnit) -> int:
    """Give ``households`` (a queryset or a list) to ``team``; returns how many changed team.
    Every household must be one the actor sees and whose list they manage (otherwise
    ``NotPermitted``, and nothing moves); the team must serve the list's districts."""
    if isinstance(households, QuerySet):
        ids = set(households.values_list("pk", flat=True))
    else:
        ids = {household.pk for household in households}
    if not ids:
        raise OutreachError(_("Choose the households to move."))
    with transaction.atomic():
        rows = list(
            households_visible_to(actor)
            .select_for_update(of=("self",))
            .filter(pk__in=ids)
            .select_related("visit_list", "team")
            .order_by("pk")
        )
        if len(rows) != len(ids):
            raise NotPermitted(_("Not found, or not yours."))
        for visit_list in {row.visit_list_id: row.visit_list for row in rows}.values():
            if not may_manage_list(actor, visit_list):
                raise NotPermitted(_("Not found, or not yours."))
            _check_team(team, visit_list)
        moving = [row for row in rows if row.team_id != team.pk]
        Household.objects.filter(pk__in=[row.pk for row in moving]).update(
            team=team, version=F("version") + 1
        )
        HouseholdEvent.objects.bulk_create(
            HouseholdEvent(
                household_id=row.pk,
                kind=HouseholdEvent.Kind.MOVED,
                actor=actor,
                note=f"{row.team.name if row.team else '—'} → {team.name}",
            )
            for row in moving
        )
    return len(moving)


def move_block(
    *, actor: User, visit_list: VisitList, estate_name: str, block: str, team: ServiceUnit
) -> int:
    """Give every household of ``visit_list`` at one estate and block (as the list writes
    them, any case) to ``team``: a building walked by one team."""
    if not may_manage_list(actor, visit_list):
        raise NotPermitted(_("Not found, or not yours."))
    households = Household.objects.filter(
        visit_list=visit_list,
        estate_name__iexact=estate_name.strip(),
        block__iexact=block.strip(),
    )
    if not households.exists():
        raise OutreachError(_("This list has no household at that estate and block."))
    return move_households(actor=actor, households=households, team=team)


def set_priority(
    *, actor: User, household: Household, priority: int | None, version: int
) -> Household:
    """The office's priority for ``household`` (None: back to the one its reasons give).
    ``version`` is the one the caller read; another means someone changed it meanwhile
    (``Conflict``)."""
    visit_list = VisitList.objects.get(pk=household.visit_list_id)
    visible = households_visible_to(actor).filter(pk=household.pk).exists()
    if not (visible and may_manage_list(actor, visit_list)):
        raise NotPermitted(_("Not found, or not yours."))
    if priority is not None and priority not in Priority.values:
        raise OutreachError(_("Choose one of the priorities."))
    with transaction.atomic():
        changed = Household.objects.filter(pk=household.pk, version=version).update(
            priority_override=priority, version=F("version") + 1
        )
        if not changed:
            raise stale_household()
        household.refresh_from_db()
        label = Priority(priority).label if priority is not None else _("As the reasons give")
        record_event(household, HouseholdEvent.Kind.PRIORITY, actor=actor, note=str(label))
    return household
