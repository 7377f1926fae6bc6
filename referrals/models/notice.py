"""Urgent notices and the contact they call for: the carer-admitted pathway (issue 16).

When a carer is admitted to hospital, the hospital side tells the Social Welfare Department,
and the carers' hotline (182183) and the local unit contact the person cared for at once.
A partner system sends the ``UrgentNotice`` (``POST /api/v1/notices/``); it opens an urgent
referral per person cared for (``referrals/notices.py``). Whoever holds a task on such a
referral records each try to reach the person as a ``ContactAttempt``.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField


class UrgentNotice(models.Model):
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(
        "accounts.PartnerClient",
        on_delete=models.PROTECT,
        related_name="urgent_notices",
        verbose_name=_("sent by"),
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    received_at = models.DateTimeField(_("received"), default=timezone.now, editable=False)
    carer_name = models.CharField(_("carer's name"), max_length=100)
    carer_phone = PhoneNumberField(_("carer's phone"), blank=True)
    admitted_at = models.DateTimeField(_("admitted to hospital"), null=True, blank=True)
    hospital = models.CharField(_("hospital"), max_length=120, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("urgent notice")
        verbose_name_plural = _("urgent notices")
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="notice_key_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.carer_name} · {self.received_at:%Y-%m-%d %H:%M}"


class ContactOutcome(models.TextChoices):
    REACHED_NO_NEED = "reached_no_need", _("Reached – no urgent need")
    REACHED_URGENT = "reached_urgent", _("Reached – urgent support given")
    NOT_REACHED = "not_reached", _("Not reached")


class NoNeedReason(models.TextChoices):
    """Why a person reached needs no urgent support: the reason list of the one-tap close."""

    FAMILY_CARING = "family_caring", _("Family or friends are caring for them")
    CARER_HOME = "carer_home", _("The carer is already home")
    MANAGING = "managing", _("Managing on their own for now")
    HAS_SERVICES = "has_services", _("Already receiving services")
    DECLINED = "declined", _("Declined any help")
    OTHER = "other", _("Other")


class ContactAttempt(models.Model):
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.CASCADE,
        related_name="contact_attempts",
        verbose_name=_("referral"),
    )
    task = models.ForeignKey(
        "referrals.ReferralTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("task"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now, editable=False)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    outcome = models.CharField(_("outcome"), max_length=20, choices=ContactOutcome.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=NoNeedReason.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    retry_at = models.DateTimeField(_("try again at"), null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("contact attempt")
        verbose_name_plural = _("contact attempts")
        indexes = [models.Index(fields=["referral", "at"], name="contact_of_referral")]

    def __str__(self) -> str:
        return f"{self.referral} · {self.get_outcome_display()}"
