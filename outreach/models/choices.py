"""The vocabularies of outreach: why a household was listed, how a visit went, what next."""

from collections.abc import Iterable

from django.db import models
from django.utils.translation import gettext_lazy as _


class ListSource(models.TextChoices):
    HOUSING_DEPARTMENT = "housing", _("Housing Department data match")
    SWD = "swd", _("Social Welfare Department records")
    SOCIAL_SECURITY = "social_security", _("Social security recipients")
    LOW_INCOME_REGISTER = "low_income", _("Low-income households register")
    CARER_REGISTER = "carers", _("Carers register")
    OTHER = "other", _("Other")


class ListingReason(models.TextChoices):
    """Why a household was put on a list; each gives a priority (``PRIORITY_OF``)."""

    LIVING_ALONE = "living_alone", _("Elder living alone")
    ELDERLY_COUPLE = "elderly_couple", _("Elderly couple")
    CARER = "carer", _("Carer")
    DISABILITY = "disability", _("Person with disability")
    HIGH_LOAD_CARER = "high_load_carer", _("High-load carer indicators")
    LOW_INCOME = "low_income", _("Low-income household")


# The priority a listing reason gives (higher first). A carer meeting
# ``HIGH_LOAD_INDICATOR_THRESHOLD`` or more high-load indicators is a priority visit (the
# Taoyuan practice of the seed documents); the office can override any household's priority.
class Priority(models.IntegerChoices):
    ROUTINE = 0, _("Routine")
    RAISED = 1, _("Raised")
    HIGH = 2, _("High")
    PRIORITY_VISIT = 3, _("Priority visit")


PRIORITY_OF = {
    ListingReason.LIVING_ALONE: Priority.HIGH,
    ListingReason.ELDERLY_COUPLE: Priority.RAISED,
    ListingReason.CARER: Priority.HIGH,
    ListingReason.DISABILITY: Priority.HIGH,
    ListingReason.HIGH_LOAD_CARER: Priority.HIGH,
    ListingReason.LOW_INCOME: Priority.RAISED,
}
HIGH_LOAD_INDICATOR_THRESHOLD = 3


def priority_of(reasons: Iterable[str], high_load_indicators: int = 0) -> int:
    """The priority a household's listing reasons give it (the office may override)."""
    if high_load_indicators >= HIGH_LOAD_INDICATOR_THRESHOLD:
        return Priority.PRIORITY_VISIT
    return max((PRIORITY_OF.get(reason, Priority.ROUTINE) for reason in reasons), default=0)


class HouseholdStatus(models.TextChoices):
    TO_VISIT = "to_visit", _("To visit")
    REVISIT = "revisit", _("Revisit due")
    REFERRED = "referred", _("Referred")
    NO_FOLLOW_UP = "no_follow_up", _("Visited, no follow-up")
    UNREACHABLE = "unreachable", _("Unreachable")
    REFUSED = "refused", _("Refused")
    MOVED = "moved", _("Moved")
    DECEASED = "deceased", _("Deceased")
    WRONG_ADDRESS = "wrong_address", _("Wrong address")


# Left to visit: in the team's list.
OPEN_HOUSEHOLD_STATUSES = (HouseholdStatus.TO_VISIT, HouseholdStatus.REVISIT)
CLOSED_HOUSEHOLD_STATUSES = (
    HouseholdStatus.NO_FOLLOW_UP,
    HouseholdStatus.UNREACHABLE,
    HouseholdStatus.REFUSED,
    HouseholdStatus.MOVED,
    HouseholdStatus.DECEASED,
    HouseholdStatus.WRONG_ADDRESS,
)


class VisitOutcome(models.TextChoices):
    VISITED = "visited", _("Visited")
    NOT_AT_HOME = "not_at_home", _("Not at home")
    REFUSED = "refused", _("Refused")
    MOVED = "moved", _("Moved")
    DECEASED = "deceased", _("Deceased")
    WRONG_ADDRESS = "wrong_address", _("Wrong address")


class NextStep(models.TextChoices):
    NONE = "none", _("No follow-up")
    REVISIT = "revisit", _("Revisit on a date")
    REFER = "refer", _("Refer")


class AgeBand(models.TextChoices):
    UNDER_18 = "0-17", _("Under 18")
    ADULT = "18-59", _("18 to 59")
    SIXTIES = "60-69", _("60 to 69")
    SEVENTIES = "70-79", _("70 to 79")
    EIGHTY_PLUS = "80+", _("80 or above")
    UNKNOWN = "", _("Not known")


class PersonRole(models.TextChoices):
    ELDER = "elder", _("Elder")
    CARER = "carer", _("Carer")
    CARED_FOR = "cared_for", _("Person cared for")
    OTHER = "other", _("Other household member")
