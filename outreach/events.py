"""A household's timeline and the access log of outreach's personal data."""

from collections.abc import Iterable

from accounts.models import PartnerClient, User
from outreach.models import Household, HouseholdEvent, OutreachAccessLog


def record_event(
    household: Household,
    kind: str,
    *,
    actor: User | None = None,
    note: str = "",
    visit=None,
    referral=None,
) -> HouseholdEvent:
    return HouseholdEvent.objects.create(
        household=household, kind=kind, actor=actor, note=note, visit=visit, referral=referral
    )


def log_household_access(
    *,
    user: User | None,
    household: Household,
    channel: str,
    detail: str = "",
    client: PartnerClient | None = None,
) -> None:
    """Every face that shows a household's people (page, API, export, admin) records it."""
    OutreachAccessLog.objects.create(
        user=user, client=client, household=household, channel=channel, detail=detail[:200]
    )


def log_household_access_many(
    *,
    user: User | None,
    households: Iterable[Household],
    channel: str,
    detail: str = "",
    client: PartnerClient | None = None,
) -> None:
    """One row per household shown (a team's list page, an API answer), in one INSERT."""
    OutreachAccessLog.objects.bulk_create(
        OutreachAccessLog(
            user=user, client=client, household=household, channel=channel, detail=detail[:200]
        )
        for household in households
    )
