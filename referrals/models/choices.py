"""Choices a referral is made of: statuses and their groups, risk, consent."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    """FHIR Task statuses, as used by the SDOH referral implementation guide."""

    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    TRIAGE = "triage", _("Awaiting triage")
    ASSIGNED = "assigned", _("Assigned")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Declined by unit")
    IN_PROGRESS = "in_progress", _("In progress")
    ON_HOLD = "on_hold", _("On hold")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    ENTERED_IN_ERROR = "entered_in_error", _("Entered in error")


OPEN_STATUSES = (
    Status.SUBMITTED,
    Status.TRIAGE,
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.REJECTED,
    Status.IN_PROGRESS,
    Status.ON_HOLD,
)
CLOSED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.ENTERED_IN_ERROR)
# A unit is serving the referral: it counts in that unit's load, and the unit keeps the
# person's later referrals (continuity, ``selectors.serving_units_of``).
SERVING_STATUSES = (Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS, Status.ON_HOLD)


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Not stated")


class Household(models.TextChoices):
    LIVES_ALONE = "lives_alone", _("Lives alone")
    ELDERLY_COUPLE = "elderly_couple", _("Elderly couple (both aged 60 or above)")
    CARER_OF_ELDER = "carer_of_elder", _("Carer of an elder")
    CARER_OF_DISABLED = "carer_of_disabled", _("Carer of a person with disability")
    YOUNG_CHILDREN = "young_children", _("Family with young children")
    OTHER = "other", _("Other")


class RiskLevel(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    PRIORITY = "priority", _("Priority")
    URGENT = "urgent", _("Urgent")


class RiskFactor(models.TextChoices):
    """The screening checklist; each ticked factor raises the risk level (see RISK_OF)."""

    SUICIDAL_TALK = "suicidal_talk", _("Talks about suicide or self-harm")
    ABUSE_OR_NEGLECT = "abuse_or_neglect", _("Signs of abuse or neglect")
    NO_FOOD_OR_MONEY = "no_food_or_money", _("No food or money today")
    CARER_BREAKING_POINT = "carer_breaking_point", _("Carer at breaking point")
    CARER_HOSPITALISED = "carer_hospitalised", _("Carer recently hospitalised")
    UNSAFE_HOME = "unsafe_home", _("Home unsafe (falls, fire, hoarding)")


RISK_OF = {
    RiskFactor.SUICIDAL_TALK: RiskLevel.URGENT,
    RiskFactor.ABUSE_OR_NEGLECT: RiskLevel.URGENT,
    RiskFactor.NO_FOOD_OR_MONEY: RiskLevel.URGENT,
    RiskFactor.CARER_BREAKING_POINT: RiskLevel.PRIORITY,
    RiskFactor.CARER_HOSPITALISED: RiskLevel.URGENT,
    RiskFactor.UNSAFE_HOME: RiskLevel.PRIORITY,
}
RISK_ORDER = [RiskLevel.ROUTINE, RiskLevel.PRIORITY, RiskLevel.URGENT]


def risk_level_of(factors, consent_basis: str | None = None) -> str:
    """The highest level any ticked factor carries; routine when none is ticked. A referral
    made without consent under the urgent-protection exemption is urgent whatever is ticked:
    the exemption is for danger that cannot wait (issue 16)."""
    if consent_basis == ConsentBasis.URGENT_PROTECTION:
        return RiskLevel.URGENT
    levels = [RISK_OF[RiskFactor(code)] for code in factors]
    return max(levels, key=RISK_ORDER.index, default=RiskLevel.ROUTINE)


class ConsentBasis(models.TextChoices):
    CONSENT = "consent", _("Consent given")
    URGENT_PROTECTION = "urgent_protection", _("No consent: urgent protection needed")


class ConsentGivenBy(models.TextChoices):
    SUBJECT = "subject", _("The person referred")
    FAMILY = "family", _("A family member")
    GUARDIAN = "guardian", _("A guardian or appointed representative")


class ConsentMethod(models.TextChoices):
    VERBAL = "verbal", _("Verbal")
    SIGNED = "signed", _("Signed form")


class ConsentWithdrawalMethod(models.TextChoices):
    VERBAL = "verbal", _("Verbal")
    WRITTEN = "written", _("In writing")
    OTHER = "other", _("Other")
