"""Visits to a household, the referrals they led to, and who saw outreach's personal data."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from outreach.models.choices import NextStep, VisitOutcome
from outreach.models.household import Household, Person
from referrals.models import AccessLog


class Visit(models.Model):
    """A caring-team member's visit (or attempt) to a household."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    token = models.UUIDField(
        _("form token"),
        unique=True,
        editable=False,
        help_text=_("The form's idempotency token: a resent form records one visit."),
    )
    household = models.ForeignKey(
        Household, on_delete=models.CASCADE, related_name="visits", verbose_name=_("household")
    )
    team = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("caring team"),
    )
    visited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="outreach_visits",
        verbose_name=_("visited by"),
    )
    visited_at = models.DateTimeField(_("visited at"), default=timezone.now, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=VisitOutcome.choices)
    seen = models.ManyToManyField(
        Person, blank=True, related_name="visits_seen", verbose_name=_("who was seen")
    )
    needs = models.ManyToManyField(
        "services.NeedCategory", blank=True, related_name="+", verbose_name=_("needs")
    )
    emergency_link_application = models.BooleanField(
        _("personal emergency link (平安鐘) application"), default=False
    )
    note = models.TextField(_("note"), blank=True)
    next_step = models.CharField(
        _("next step"), max_length=10, choices=NextStep.choices, default=NextStep.NONE
    )
    revisit_on = models.DateField(_("revisit on"), null=True, blank=True)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["household", "visited_at", "id"]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [models.Index(fields=["team", "visited_at"], name="visit_team_week")]

    def __str__(self) -> str:
        return f"{self.household} · {self.get_outcome_display()}"


class VisitReferral(models.Model):
    """A referral made from a visit, for one person of the household."""

    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, related_name="referrals", verbose_name=_("visit")
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="referrals", verbose_name=_("person")
    )
    referral = models.OneToOneField(
        "referrals.Referral",
        on_delete=models.CASCADE,
        related_name="outreach_visit",
        verbose_name=_("referral"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("referral from a visit")
        verbose_name_plural = _("referrals from visits")
        constraints = [
            models.UniqueConstraint(fields=["visit", "person"], name="visit_referral_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.visit} → {self.referral_id}"


class OutreachAccessLog(models.Model):
    """Who saw a household's personal data, when and through which channel (outreach's
    counterpart of the referrals' access log: the people on a list asked for nothing)."""

    # The same channels as the referrals' access log: one vocabulary for both logs.
    Channel = AccessLog.Channel

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    client = models.ForeignKey(
        "accounts.PartnerClient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner API client"),
    )
    household = models.ForeignKey(
        Household,
        on_delete=models.CASCADE,
        related_name="access_logs",
        verbose_name=_("household"),
    )
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    detail = models.CharField(_("detail"), max_length=200, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("outreach access log entry")
        verbose_name_plural = _("outreach access log")

    def __str__(self) -> str:
        return f"{self.user or self.client} · {self.household_id} · {self.at:%Y-%m-%d %H:%M}"
