"""Recording a visit and what it does to the household; the office reopening a closed one.

A visit is recorded once per form: the form's ``token`` names it (``Visit.token`` is unique),
so a form resent after a dropped signal, a double tap or two resends racing each other
reach the same row, and the second answer is the first visit, unchanged. The household row
is locked first, so two visits to one household (two members, one building) are taken one
after the other, each seeing the status the other left.

Outcome → household status:

* visited: next step none → no follow-up (closed); revisit → revisit due on the date;
  refer → referred (the referrals are made from the visit, ``referring.refer_person``);
* not at home: counted; still to visit until ``settings.OUTREACH_NOT_AT_HOME_LIMIT`` such
  visits, then unreachable (closed) unless the office reopens it;
* refused, moved, deceased, wrong address: that status, closed (a refusal's closing time
  starts the retention clock of ``privacy.remove_refused_details``).
"""

import uuid
from collections.abc import Iterable
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from outreach.errors import NotPermitted, OutreachError, stale_household
from outreach.events import record_event
from outreach.models import (
    CLOSED_HOUSEHOLD_STATUSES,
    Household,
    HouseholdEvent,
    HouseholdStatus,
    NextStep,
    Person,
    Visit,
    VisitOutcome,
)
from outreach.selectors import may_manage_list, team_ids_of
from services.models import NeedCategory

DEFAULT_NOT_AT_HOME_LIMIT = 3
REVISIT_DATE_REQUIRED = _("Choose the date of the revisit.")
REVISIT_DATE_PAST = _("The revisit date cannot be in the past.")
NEXT_STEP_ONLY_AFTER_VISIT = _("A next step follows a visit where the household was seen.")
CLOSED_ALREADY = _("This household is closed. The district office can reopen it.")
SEEN_NOT_IN_HOUSEHOLD = _("Choose only people of this household.")

# Outcomes other than "visited" and "not at home" close the household with that status.
CLOSING_OUTCOMES = {
    VisitOutcome.REFUSED: HouseholdStatus.REFUSED,
    VisitOutcome.MOVED: HouseholdStatus.MOVED,
    VisitOutcome.DECEASED: HouseholdStatus.DECEASED,
    VisitOutcome.WRONG_ADDRESS: HouseholdStatus.WRONG_ADDRESS,
}
AFTER_VISIT = {
    NextStep.NONE: HouseholdStatus.NO_FOLLOW_UP,
    NextStep.REVISIT: HouseholdStatus.REVISIT,
    NextStep.REFER: HouseholdStatus.REFERRED,
}


def not_at_home_limit() -> int:
    """Read at each visit, so a changed setting counts from the next one."""
    return getattr(settings, "OUTREACH_NOT_AT_HOME_LIMIT", DEFAULT_NOT_AT_HOME_LIMIT)


def revisit_date_errors(next_step: str, revisit_on: date | None) -> list:
    """The revisit date's rule, shared by the form (beside its field) and the service."""
    if next_step != NextStep.REVISIT:
        return []
    if revisit_on is None:
        return [REVISIT_DATE_REQUIRED]
    if revisit_on < timezone.localdate():
        return [REVISIT_DATE_PAST]
    return []


def record_visit(
    *,
    actor: User,
    household: Household,
    token,
    outcome: str,
    seen: Iterable[Person] = (),
    needs: Iterable[NeedCategory] = (),
    emergency_link_application: bool = False,
    note: str = "",
    next_step: str = NextStep.NONE,
    revisit_on: date | None = None,
    version: int | None = None,
) -> tuple[Visit, bool]:
    """Record the visit this form's ``token`` names, once. Returns (visit, created).

    The actor must be a member of the household's caring team (else ``NotPermitted``,
    answered as "not found"). A ``version`` other than the household's raises
    ``Conflict``; a resend of a visit already recorded returns it before that check (its
    own visit raised the version)."""
    token = token if isinstance(token, uuid.UUID) else uuid.UUID(str(token))
    if household.team_id is None or household.team_id not in team_ids_of(actor):
        raise NotPermitted(_("Household not found."))
    outcome, next_step = VisitOutcome(outcome), NextStep(next_step or NextStep.NONE)
    _check_values(outcome, next_step, revisit_on)
    seen, needs = list(seen), list(needs)
    with transaction.atomic():
        locked = Household.objects.select_for_update().get(pk=household.pk)
        existing = _visit_of_token(token, actor=actor, household=locked)
        if existing is not None:
            return existing, False
        if version is not None and int(version) != locked.version:
            raise stale_household()
        if locked.status in CLOSED_HOUSEHOLD_STATUSES:
            raise OutreachError(CLOSED_ALREADY)
        people = set(locked.people.values_list("pk", flat=True))
        if any(person.pk not in people for person in seen):
            raise OutreachError(SEEN_NOT_IN_HOUSEHOLD)
        try:
            with transaction.atomic():
                visit = Visit.objects.create(
                    token=token,
                    household=locked,
                    team_id=locked.team_id,
                    visited_by=actor,
                    outcome=outcome,
                    emergency_link_application=bool(emergency_link_application),
                    note=(note or "").strip(),
                    next_step=next_step,
                    revisit_on=revisit_on if next_step == NextStep.REVISIT else None,
                )
        except IntegrityError:
            # The token was used for another household meanwhile: not this form's visit.
            raise NotPermitted(_("Household not found.")) from None
        visit.seen.set(seen)
        visit.needs.set(needs)
        _apply_outcome(locked, visit, actor=actor)
    return visit, True


def _check_values(outcome: str, next_step: str, revisit_on: date | None) -> None:
    if outcome != VisitOutcome.VISITED and next_step != NextStep.NONE:
        raise OutreachError(NEXT_STEP_ONLY_AFTER_VISIT)
    errors = revisit_date_errors(next_step, revisit_on)
    if errors:
        raise OutreachError(errors[0])


def _visit_of_token(token: uuid.UUID, *, actor: User, household: Household) -> Visit | None:
    """The visit this token already recorded. A token is the visiting member's and names
    one household: the same value from anyone else, or for another household, is refused
    as "not found" (it would otherwise tell them about someone else's visit)."""
    visit = Visit.objects.filter(token=token).first()
    if visit is None:
        return None
    if visit.visited_by_id != actor.pk or visit.household_id != household.pk:
        raise NotPermitted(_("Household not found."))
    return visit


def _apply_outcome(household: Household, visit: Visit, *, actor: User) -> None:
    """The household's status after ``visit``, its timeline entries, its version raised."""
    now = timezone.now()
    household.revisit_on = None
    if visit.outcome == VisitOutcome.VISITED:
        household.status = AFTER_VISIT[visit.next_step]
        household.revisit_on = visit.revisit_on
    elif visit.outcome == VisitOutcome.NOT_AT_HOME:
        household.not_at_home_count += 1
        if household.not_at_home_count >= not_at_home_limit():
            household.status = HouseholdStatus.UNREACHABLE
        else:
            household.status = HouseholdStatus.TO_VISIT
    else:
        household.status = CLOSING_OUTCOMES[visit.outcome]
    closes = household.status in CLOSED_HOUSEHOLD_STATUSES
    household.closed_at = now if closes else None
    household.version += 1
    household.save(
        update_fields=[
            "status",
            "revisit_on",
            "not_at_home_count",
            "closed_at",
            "version",
            "updated_at",
        ]
    )
    record_event(household, HouseholdEvent.Kind.VISIT, actor=actor, visit=visit)
    if closes:
        record_event(household, HouseholdEvent.Kind.CLOSED, actor=actor, visit=visit)


def household_reopen(*, actor: User, household: Household, note: str, version: int) -> Household:
    """The office puts a closed household back on its team's list (an unreachable one
    found by other means, a refusal withdrawn), with the reason on the timeline."""
    if not may_manage_list(actor, household.visit_list):
        raise NotPermitted(_("Household not found."))
    note = (note or "").strip()
    if not note:
        raise OutreachError(_("Say why the household is reopened."))
    with transaction.atomic():
        locked = Household.objects.select_for_update().get(pk=household.pk)
        if int(version) != locked.version:
            raise stale_household()
        if locked.status not in CLOSED_HOUSEHOLD_STATUSES:
            raise OutreachError(_("This household is not closed."))
        if locked.personal_data_removed_at is not None:
            raise OutreachError(
                _("This household's personal details were removed; it cannot be reopened.")
            )
        locked.status = HouseholdStatus.TO_VISIT
        locked.not_at_home_count = 0
        locked.closed_at = None
        locked.revisit_on = None
        locked.status_note = note
        locked.version += 1
        locked.save(
            update_fields=[
                "status",
                "not_at_home_count",
                "closed_at",
                "revisit_on",
                "status_note",
                "version",
                "updated_at",
            ]
        )
        record_event(locked, HouseholdEvent.Kind.REOPENED, actor=actor, note=note)
    return locked
