"""Referrals: the record a caring team files, its timeline and who looked at it.

Workflow lives in ``referrals/services.py``; reads that encode rules (visibility, duplicates)
in ``referrals/selectors.py``. This module holds tables, choices and small invariants.
"""

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from referrals.identity import IdType
from referrals.sla import SlaUnit
from services.models import Language
from welfare_portal.bilingual import BilingualNameMixin


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
    RiskFactor.CARER_HOSPITALISED: RiskLevel.PRIORITY,
    RiskFactor.UNSAFE_HOME: RiskLevel.PRIORITY,
}
RISK_ORDER = [RiskLevel.ROUTINE, RiskLevel.PRIORITY, RiskLevel.URGENT]


def risk_level_of(factors) -> str:
    """The highest level any ticked factor carries; routine when none is ticked."""
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


class ReferralQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def with_list_relations(self):
        return self.select_related(
            "district", "sub_district", "assigned_unit", "referring_team", "referrer"
        )


class Referral(models.Model):
    """A request, made for one person or household, that a service unit take them on."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(
        _("reference"),
        max_length=24,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("Given on submission: office code, year and sequence, never reused."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    version = models.PositiveIntegerField(
        _("version"), default=1, help_text=_("Raised by every change; detects concurrent edits.")
    )
    submission_token = models.UUIDField(
        _("submission token"),
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("The form's idempotency token: one form, one referral."),
    )

    # Who referred, from where.
    referrer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="referrals_filed",
        verbose_name=_("referrer"),
    )
    referring_team = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        related_name="referrals_filed",
        verbose_name=_("referring team"),
    )
    referrer_contact = models.CharField(_("referrer's contact"), max_length=120, blank=True)
    district = models.ForeignKey(
        "districts.District",
        on_delete=models.PROTECT,
        related_name="referrals",
        verbose_name=_("district"),
    )
    sub_district = models.ForeignKey(
        "districts.SubDistrict",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("sub-district"),
    )

    # The subject: the person referred.
    subject_name_zh = models.CharField(_("name (Chinese)"), max_length=100, blank=True)
    subject_name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    age = models.PositiveSmallIntegerField(_("age"), null=True, blank=True)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    phone = PhoneNumberField(_("phone"), blank=True, db_index=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=3, choices=Language.choices, default=Language.CANTONESE
    )
    id_type = models.CharField(
        _("identity document"), max_length=4, choices=IdType.choices, blank=True
    )
    id_number_encrypted = models.TextField(_("identity number (encrypted)"), blank=True)
    id_number_hash = models.CharField(
        _("identity number (keyed hash)"), max_length=64, blank=True, db_index=True
    )
    id_number_masked = models.CharField(_("identity number (masked)"), max_length=16, blank=True)

    # Situation.
    household = models.CharField(
        _("household"), max_length=20, choices=Household.choices, blank=True
    )
    needs = models.ManyToManyField(
        "services.NeedCategory", blank=True, related_name="referrals", verbose_name=_("needs")
    )
    risk_factors = models.JSONField(_("risk factors"), default=list, blank=True)
    risk_level = models.CharField(
        _("risk level"), max_length=10, choices=RiskLevel.choices, default=RiskLevel.ROUTINE
    )
    # The risk level as a number (urgent 2, priority 1, routine 0), kept by the database, so
    # that "most urgent first" can be read in index order.
    urgency = models.GeneratedField(
        expression=models.Case(
            models.When(risk_level=RiskLevel.URGENT, then=models.Value(2)),
            models.When(risk_level=RiskLevel.PRIORITY, then=models.Value(1)),
            default=models.Value(0),
        ),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
        verbose_name=_("urgency"),
    )
    situation = models.TextField(_("situation"), blank=True)

    # Consent.
    consent_basis = models.CharField(
        _("consent"), max_length=20, choices=ConsentBasis.choices, blank=True
    )
    consent_given_by = models.CharField(
        _("consent given by"), max_length=10, choices=ConsentGivenBy.choices, blank=True
    )
    consent_method = models.CharField(
        _("how consent was given"), max_length=10, choices=ConsentMethod.choices, blank=True
    )
    consent_given_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    consent_exemption_reason = models.TextField(_("reason for acting without consent"), blank=True)

    # Where it went and how it ended.
    assigned_unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals_assigned",
        verbose_name=_("assigned unit"),
    )
    routing_rule = models.ForeignKey(
        "referrals.RoutingRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("routing rule"),
    )
    due_at = models.DateTimeField(
        _("acknowledge by"),
        null=True,
        blank=True,
        help_text=_("The assigned unit should accept or decline by then (business time)."),
    )
    overdue_at = models.DateTimeField(_("marked overdue"), null=True, blank=True)
    escalated_at = models.DateTimeField(
        _("escalated to the district office"), null=True, blank=True
    )
    outcome_summary = models.TextField(
        _("outcome summary"), blank=True, help_text=_("Shown to the referrer.")
    )
    services_provided = models.TextField(
        _("services provided"), blank=True, help_text=_("Recorded by the unit when it closes.")
    )
    duplicate_note = models.TextField(_("note on possible duplicates"), blank=True)
    possible_duplicates = models.ManyToManyField(
        "self", symmetrical=False, blank=True, verbose_name=_("possible duplicates")
    )

    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    is_demo_data = models.BooleanField(
        _("synthetic demo record"),
        default=False,
        help_text=_("Invented by seed_demo; not a real person."),
    )

    # Privacy (``referrals/privacy.py``): when it closed (the retention clock), when its
    # personal data was removed, and a withdrawal of consent.
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    anonymised_at = models.DateTimeField(
        _("personal data removed"),
        null=True,
        blank=True,
        help_text=_("Set when the retention period passed and the personal data was removed."),
    )
    consent_withdrawn_at = models.DateTimeField(_("consent withdrawn at"), null=True, blank=True)
    consent_withdrawal_method = models.CharField(
        _("how consent was withdrawn"),
        max_length=10,
        choices=ConsentWithdrawalMethod.choices,
        blank=True,
        default="",
        db_default="",
    )
    consent_withdrawal_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("consent withdrawal recorded by"),
    )

    objects = ReferralQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        indexes = [
            models.Index(fields=["referrer", "-created_at"], name="referral_referrer_recent"),
            models.Index(fields=["district", "-created_at"], name="referral_district_recent"),
            models.Index(fields=["assigned_unit", "-created_at"], name="referral_unit_recent"),
            models.Index(fields=["status", "submitted_at"], name="referral_status_submitted"),
            models.Index(fields=["status", "due_at"], name="referral_status_due"),
            # Partner sync passes: pages in (updated_at, id) order, filtered by organisation.
            models.Index(fields=["updated_at", "id"], name="referral_sync"),
            # The district office's queue in index order, most urgent first or by age; the
            # included columns let the queue's filters run on the index alone.
            models.Index(
                fields=["district", "-urgency", "due_at", "id"],
                include=["status", "overdue_at", "escalated_at"],
                condition=~Q(status="draft"),
                name="referral_queue_urgency",
            ),
            models.Index(
                fields=["district", "submitted_at", "id"],
                include=["status", "urgency", "overdue_at", "escalated_at", "assigned_unit"],
                condition=~Q(status="draft"),
                name="referral_queue_age",
            ),
            # The dashboard's open caseload, read from the index alone.
            models.Index(
                fields=["district"],
                include=["status", "assigned_unit", "overdue_at", "escalated_at"],
                condition=Q(
                    status__in=[
                        "submitted",
                        "triage",
                        "assigned",
                        "accepted",
                        "rejected",
                        "in_progress",
                        "on_hold",
                    ]
                ),
                name="referral_open_caseload",
            ),
            # The retention sweep: closed referrals whose personal data is still held.
            models.Index(
                fields=["closed_at"],
                condition=Q(anonymised_at__isnull=True)
                & Q(status__in=["completed", "failed", "cancelled", "entered_in_error"]),
                name="referral_retention",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="referral_reference_once_submitted",
                condition=Q(status="draft") | Q(reference__isnull=False),
                violation_error_message=_("A submitted referral needs a reference."),
            ),
            models.CheckConstraint(
                name="referral_consent_or_exemption",
                condition=Q(status__in=["draft", "entered_in_error"])
                | Q(anonymised_at__isnull=False)
                | Q(consent_basis="consent", consent_given_at__isnull=False)
                & ~Q(consent_given_by="")
                & ~Q(consent_method="")
                | Q(consent_basis="urgent_protection") & ~Q(consent_exemption_reason=""),
                violation_error_message=_(
                    "A referral needs recorded consent, or the urgent-protection exemption "
                    "with a reason."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.reference or str(_("Draft referral"))

    @property
    def subject_name(self) -> str:
        names = [self.subject_name_zh, self.subject_name_en]
        return " / ".join(name for name in names if name)

    def risk_factor_labels(self) -> list[str]:
        return [RiskFactor(code).label for code in self.risk_factors]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ReferenceSequence(models.Model):
    """The last reference number handed out per office and year (never goes back)."""

    office = models.ForeignKey(
        "districts.WelfareOffice", on_delete=models.PROTECT, verbose_name=_("welfare office")
    )
    year = models.PositiveSmallIntegerField(_("year"))
    last_value = models.PositiveIntegerField(_("last number given"), default=0)

    class Meta:
        verbose_name = _("reference sequence")
        verbose_name_plural = _("reference sequences")
        constraints = [
            models.UniqueConstraint(fields=["office", "year"], name="reference_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.office.code.upper()}-{self.year}: {self.last_value}"


class ReferralEvent(models.Model):
    """One step in a referral's life: who moved it from which status to which, and why."""

    class Kind(models.TextChoices):
        STATUS = "status", _("Status change")
        ROUTING = "routing", _("Routing")
        ESCALATION = "escalation", _("Escalation")
        OVERDUE = "overdue", _("Overdue")
        CONSENT = "consent", _("Consent withdrawn")

    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="events", verbose_name=_("referral")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("Empty when the system acted (routing, sweeps)."),
    )
    at = models.DateTimeField(_("at"), default=timezone.now, editable=False)
    from_status = models.CharField(_("from"), max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=Status.choices)
    reason = models.TextField(_("reason"), blank=True)
    note = models.TextField(_("note"), blank=True)
    unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("unit"),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.STATUS)
    details = models.JSONField(
        _("details"),
        default=dict,
        blank=True,
        help_text=_("For routing: the rule, the reasons and the candidates, as decided."),
    )

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("referral event")
        verbose_name_plural = _("referral events")
        indexes = [
            models.Index(fields=["referral", "at"], name="referral_event_timeline"),
            # The dashboard's decisions of the last 90 days.
            models.Index(
                fields=["at"],
                include=["referral", "to_status", "unit"],
                condition=Q(kind="status", to_status__in=["accepted", "rejected"]),
                name="referral_event_decisions",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.referral} {self.from_status or '-'} → {self.to_status}"


class AccessLog(models.Model):
    """Who saw a referral's personal data, when and through which channel."""

    class Channel(models.TextChoices):
        PAGE = "page", _("Web page")
        EXPORT = "export", _("Export")
        API = "api", _("API")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="access_logs", verbose_name=_("referral")
    )
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    detail = models.CharField(_("detail"), max_length=200, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data access log")
        indexes = [models.Index(fields=["user", "-at"], name="access_log_user_recent")]

    def __str__(self) -> str:
        return f"{self.user} · {self.referral} · {self.at:%Y-%m-%d %H:%M}"


class ApiIntake(models.Model):
    """A referral filed by a partner system, under the ``Idempotency-Key`` it sent.

    The same key again with the same body answers with the same referral; with another body
    it is refused. ``fingerprint`` is the SHA-256 of the request body in canonical JSON.
    """

    client = models.ForeignKey(
        "accounts.PartnerClient",
        on_delete=models.PROTECT,
        related_name="intakes",
        verbose_name=_("partner API client"),
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    referral = models.OneToOneField(
        Referral, on_delete=models.CASCADE, related_name="api_intake", verbose_name=_("referral")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral filed through the API")
        verbose_name_plural = _("referrals filed through the API")
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="api_intake_key_once")
        ]

    def __str__(self) -> str:
        return f"{self.client_id} · {self.key}"


@deconstructible
class ChoiceListValidator:
    """For JSON lists whose items must be among ``allowed``."""

    def __init__(self, allowed):
        self.allowed = tuple(allowed)

    def __call__(self, value) -> None:
        if not isinstance(value, list):
            raise ValidationError(_("Give a list."))
        unknown = sorted({str(item) for item in value if item not in self.allowed})
        if unknown:
            raise ValidationError(
                _("Unknown value(s): %(values)s."), params={"values": ", ".join(unknown)}
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, ChoiceListValidator) and self.allowed == other.allowed


class RoutingRule(BilingualNameMixin):
    """Which kind of unit a referral goes to, how fast it must be acknowledged, and what
    happens when it is not. Data, edited by headquarters in the admin.

    A rule matches a referral when every criterion it names matches (an empty criterion
    matches anything): one of its needs, one of its risk levels, one of its risk factors,
    one of its household types, and its district if it names one. Rules are tried in
    ``priority`` order; the first that finds a unit wins (``referrals/routing.py``).
    """

    class WhenOverdue(models.TextChoices):
        REROUTE = "reroute", _("Re-route to the next candidate unit")
        ESCALATE = "escalate", _("Escalate to the district office")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower numbers are tried first.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    needs = models.ManyToManyField(
        "services.NeedCategory", blank=True, related_name="+", verbose_name=_("needs (any of)")
    )
    risk_levels = models.JSONField(
        _("risk levels (any of)"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(RiskLevel.values)],
    )
    risk_factors = models.JSONField(
        _("risk factors (any of)"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(RiskFactor.values)],
    )
    households = models.JSONField(
        _("households (any of)"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(Household.values)],
    )
    district = models.ForeignKey(
        "districts.District",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only in district"),
    )
    unit_types = models.ManyToManyField(
        "services.UnitType", related_name="+", verbose_name=_("route to unit types")
    )
    sla_amount = models.PositiveSmallIntegerField(_("time to acknowledge"), default=2)
    sla_unit = models.CharField(
        _("counted in"), max_length=16, choices=SlaUnit.choices, default=SlaUnit.BUSINESS_DAYS
    )
    escalate_at_once = models.BooleanField(
        _("alert the district office at once"),
        default=False,
        help_text=_("For referrals the district office must know about as soon as they arrive."),
    )
    when_overdue = models.CharField(
        _("when not acknowledged in time"),
        max_length=10,
        choices=WhenOverdue.choices,
        default=WhenOverdue.REROUTE,
    )

    class Meta:
        ordering = ["priority", "code"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")


class Notification(models.Model):
    """An in-app message to one person about one referral. It names the referral and what
    happened, never personal data; the page it links to applies the visibility rule."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("New referral for your unit")
        TRIAGE = "triage", _("Referral waiting for triage")
        ESCALATED = "escalated", _("Referral escalated to the district office")
        OVERDUE = "overdue", _("Referral not acknowledged in time")
        STATUS = "status", _("Your referral changed status")
        CONSENT = "consent", _("Consent withdrawn for a referral")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="+", verbose_name=_("referral")
    )
    event = models.ForeignKey(
        ReferralEvent, on_delete=models.CASCADE, related_name="+", verbose_name=_("event")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            # A task delivered twice tells each person once.
            models.UniqueConstraint(
                fields=["recipient", "event", "kind"], name="notification_once_per_event"
            )
        ]
        indexes = [
            models.Index(
                fields=["recipient", "-created_at"],
                name="notification_unread",
                condition=Q(read_at__isnull=True),
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} · {self.get_kind_display()} · {self.referral}"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """Where a partner organisation wants to be told about its units' referrals. Each body
    is signed with the endpoint's secret (HMAC-SHA256 over ``timestamp.body``)."""

    class Event(models.TextChoices):
        ASSIGNED = "referral.assigned", _("A referral was assigned to one of our units")
        UPDATED = "referral.updated", _("A referral of one of our units changed status")
        CANCELLED = "referral.cancelled", _("A referral of one of our units was withdrawn")

    organisation = models.ForeignKey(
        "services.Organisation",
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("organisation"),
    )
    url = models.URLField(
        _("URL"), max_length=500, validators=[URLValidator(schemes=["https", "http"])]
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=new_webhook_secret,
        help_text=_("Shared with the partner; used to sign every delivery."),
    )
    events = models.JSONField(
        _("events"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(Event.values)],
        help_text=_("Empty: every event."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["organisation", "url"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return f"{self.organisation} → {self.url}"

    def wants(self, event_type: str) -> bool:
        return self.is_active and (not self.events or event_type in self.events)


class Delivery(models.Model):
    """One outgoing message (an e-mail or a signed webhook call), rendered once (an e-mail
    in its recipient's language) and sent by a task that retries until it succeeds or runs
    out of attempts."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Webhook")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Gave up")

    key = models.CharField(
        _("idempotency key"), max_length=120, unique=True, help_text=_("One message per key.")
    )
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.EMAIL
    )
    notification = models.ForeignKey(
        Notification,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("notification"),
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("webhook endpoint"),
    )
    to = models.CharField(_("to"), max_length=500)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    updated_at = models.DateTimeField(_("last attempt"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [models.Index(fields=["state", "created_at"], name="delivery_pending")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.to}: {self.get_state_display()}"
