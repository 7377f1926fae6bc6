"""The referral, its reference numbers and its timeline."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from referrals.identity import IdType
from referrals.models.choices import (
    OPEN_STATUSES,
    ConsentBasis,
    ConsentGivenBy,
    ConsentMethod,
    ConsentWithdrawalMethod,
    Household,
    RiskFactor,
    RiskLevel,
    Sex,
    Status,
)
from referrals.models.lead_organisation import KeepsLeadOrganisation
from services.models import Language


class ReferralQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def with_list_relations(self):
        return self.select_related(
            "district", "sub_district", "assigned_unit", "referring_team", "referrer"
        )


class Referral(KeepsLeadOrganisation, models.Model):
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
    institution = models.ForeignKey(
        "services.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("kindergarten or child care centre"),
        help_text=_("The child's pre-primary institution: routes to its matched team."),
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
    # The lead unit's organisation and whether it changed (``lead_organisation.py``).
    organisation = models.ForeignKey(
        "services.Organisation", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", db_index=False, editable=False,
        verbose_name=_("lead unit's organisation"),
    )  # fmt: skip
    lead_moved = models.BooleanField(
        _("lead moved between organisations"), default=False, db_default=False, editable=False
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
    notice = models.ForeignKey(
        "referrals.UrgentNotice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("urgent notice"),
        help_text=_("The notice (a carer admitted to hospital) this referral was opened for."),
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
            # A partner's sync: each source in page order (``selectors.partner_sync_sources``).
            models.Index(
                fields=["organisation", "updated_at", "id"],
                condition=~Q(status="draft"),
                name="referral_partner_sync",
            ),  # fmt: skip
            models.Index(
                fields=["referrer", "updated_at", "id"],
                condition=~Q(status="draft"),
                name="referral_referrer_sync",
            ),  # fmt: skip
            models.Index(
                fields=["updated_at", "id"],
                name="referral_lead_moved_sync",
                condition=Q(lead_moved=True) & ~Q(status="draft"),
            ),  # fmt: skip
            # The district office's queue in index order, most urgent first or by age; the
            # included columns let the queue's views, filters and capped count run on the
            # index alone (issue 20: risk level, submission and due times included).
            models.Index(
                fields=["district", "-urgency", "due_at", "id"],
                include=[
                    "status",
                    "overdue_at",
                    "escalated_at",
                    "risk_level",
                    "assigned_unit",
                    "submitted_at",
                ],
                condition=~Q(status="draft"),
                name="referral_queue_urgency",
            ),
            models.Index(
                fields=["district", "submitted_at", "id"],
                include=[
                    "status",
                    "overdue_at",
                    "escalated_at",
                    "risk_level",
                    "assigned_unit",
                    "urgency",
                    "due_at",
                    "sub_district",
                ],
                condition=~Q(status="draft"),
                name="referral_queue_age",
            ),
            # The dashboard's open caseload, read from the index alone.
            models.Index(
                fields=["district"],
                include=["status", "assigned_unit", "due_at", "escalated_at", "sub_district"],
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
            # The dashboard's closures and completions of the last weeks, from the index alone.
            models.Index(
                fields=["district", "closed_at"],
                include=["status", "submitted_at"],
                condition=Q(status__in=["completed", "failed"]),
                name="referral_closed_outcomes",
            ),
            # A district's referral ids, for the dashboard's timeline counts to join with.
            models.Index(fields=["district", "id"], name="referral_district_ids"),
            # The retention sweep: closed referrals whose personal data is still held.
            models.Index(
                fields=["closed_at"],
                condition=Q(anonymised_at__isnull=True)
                & Q(status__in=["completed", "failed", "cancelled", "entered_in_error"]),
                name="referral_retention",
            ),
            # "My referrals", newest first, in index order whoever reads it (issue 20): the
            # included columns let the visibility rules and the list's filters run on the
            # index alone, so a page reads its rows' entries, not a district's 55k rows.
            models.Index(
                fields=["-created_at", "-id"],
                include=["district", "referrer", "status", "risk_level", "assigned_unit"],
                name="referral_recent",
            ),
        ]
        constraints = [
            # A token names a form of its referrer's only: nobody can take (or block)
            # another account's token, a partner's included (issue 14 item 5).
            models.UniqueConstraint(
                fields=["referrer", "submission_token"], name="referral_token_per_referrer"
            ),
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
        CONTACT = "contact", _("Contact attempt")
        MESSAGE = "message", _("Message between units")
        ALLOCATION = "allocation", _("Case worker allocated")
        TRANSFER = "transfer", _("Transfer")
        NOTE = "note", _("Case note")

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
    task = models.ForeignKey(
        "referrals.ReferralTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("task"),
        help_text=_("The unit's task the step was taken on, if any."),
    )
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
            # The dashboard's declines and failures of the last 90 days (their reasons).
            models.Index(
                fields=["at"],
                include=["referral", "to_status"],
                condition=Q(kind="status", to_status__in=["rejected", "failed"]),
                name="referral_event_refusals",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.referral} {self.from_status or '-'} → {self.to_status}"
