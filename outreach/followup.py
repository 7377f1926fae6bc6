"""Follow-through on a team's list: revisits that came due or are overdue, and households
whose referrals came back (declined everywhere, or closed as failed) with the reason why.

The list page asks for a page of households at a time; ``follow_up_for`` reads the reasons
for all of them in one query, whatever the page's size."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from outreach.models import Household, HouseholdStatus
from outreach.selectors import CAME_BACK_STATUSES
from referrals.models import ReferralEvent, Status


@dataclass(frozen=True)
class CameBack:
    """The newest decline or failure among a household's referrals: the note its row shows."""

    status: str
    reason: str
    at: datetime

    @property
    def status_label(self) -> str:
        return Status(self.status).label


@dataclass(frozen=True)
class FollowUp:
    revisit_due: bool = False
    revisit_overdue: bool = False
    came_back: CameBack | None = None


def revisit_overdue(household: Household, today: date | None = None) -> bool:
    today = today or timezone.localdate()
    return (
        household.status == HouseholdStatus.REVISIT
        and household.revisit_on is not None
        and household.revisit_on < today
    )


def came_back_notes(household_ids: Iterable[int]) -> dict[int, CameBack]:
    """Per household, the newest decline or failure of its referrals (one query). Only
    households whose referrals all came back are on a team's list as "came back"; the caller
    asks for those (``selectors.came_back_q``)."""
    ids = list(household_ids)
    if not ids:
        return {}
    rows = (
        ReferralEvent.objects.filter(
            referral__outreach_visit__visit__household_id__in=ids,
            to_status__in=CAME_BACK_STATUSES,
        )
        .order_by("-at", "-pk")
        .values_list("referral__outreach_visit__visit__household_id", "to_status", "reason", "at")
    )
    notes: dict[int, CameBack] = {}
    for household_id, status, reason, at in rows:
        notes.setdefault(household_id, CameBack(status=status, reason=reason, at=at))
    return notes


def follow_up_for(
    households: Sequence[Household], *, today: date | None = None
) -> dict[int, FollowUp]:
    """What each household's row on the team's list flags: revisit due today or overdue, and
    the came-back note of a referred household (all its referrals came back: otherwise it
    would not be on the list). One query, for the referred ones only."""
    today = today or timezone.localdate()
    notes = came_back_notes(h.pk for h in households if h.status == HouseholdStatus.REFERRED)
    result = {}
    for household in households:
        is_revisit = household.status == HouseholdStatus.REVISIT and household.revisit_on
        result[household.pk] = FollowUp(
            revisit_due=bool(is_revisit and household.revisit_on <= today),
            revisit_overdue=revisit_overdue(household, today),
            came_back=notes.get(household.pk),
        )
    return result
