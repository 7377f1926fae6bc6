"""Outreach's tables: visit lists, the households in them, their people, visits, and the
referrals visits led to. Every name is importable from here."""

from outreach.models.choices import (
    CLOSED_HOUSEHOLD_STATUSES,
    HIGH_LOAD_INDICATOR_THRESHOLD,
    OPEN_HOUSEHOLD_STATUSES,
    AgeBand,
    HouseholdStatus,
    ListingReason,
    ListSource,
    NextStep,
    PersonRole,
    Priority,
    VisitOutcome,
    priority_of,
)
from outreach.models.household import Estate, Household, HouseholdEvent, Person, VisitList
from outreach.models.visit import OutreachAccessLog, Visit, VisitReferral

__all__ = [
    "CLOSED_HOUSEHOLD_STATUSES",
    "HIGH_LOAD_INDICATOR_THRESHOLD",
    "OPEN_HOUSEHOLD_STATUSES",
    "AgeBand",
    "Estate",
    "Household",
    "HouseholdEvent",
    "HouseholdStatus",
    "ListSource",
    "ListingReason",
    "NextStep",
    "OutreachAccessLog",
    "Person",
    "PersonRole",
    "Priority",
    "Visit",
    "VisitList",
    "VisitOutcome",
    "VisitReferral",
    "priority_of",
]
