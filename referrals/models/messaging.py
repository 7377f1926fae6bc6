"""Notifications, partners' webhook endpoints and outgoing deliveries."""

import base64
import secrets

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.models.referral import Referral, ReferralEvent
from referrals.models.routing import ChoiceListValidator
from welfare_portal.outbound import PublicURLValidator


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
        MESSAGE = "message", _("Message from another unit on a referral")
        TRANSFER = "transfer", _("A case moved to or from your unit")

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


WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_webhook_secret() -> str:
    """32 random bytes in the Standard Webhooks form ``whsec_<base64>``, which the partners'
    stock libraries (``standardwebhooks``, Svix) take as it is."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """Where a partner organisation wants to be told about its units' referrals. Each call
    is signed as Standard Webhooks sign (HMAC-SHA256 over ``id.timestamp.body``, keyed with
    the secret's bytes); the URL must be a public internet address (no SSRF)."""

    class Event(models.TextChoices):
        ASSIGNED = "referral.assigned", _("A referral was assigned to one of our units")
        UPDATED = "referral.updated", _("A referral of one of our units changed status")
        CANCELLED = "referral.cancelled", _("A referral of one of our units was withdrawn")
        TRANSFER_PLANNED = (
            "referral.transfer_planned",
            _("A case of one of our units is planned to move to another unit"),
        )
        TRANSFERRED = "referral.transferred", _("A case moved between units")

    organisation = models.ForeignKey(
        "services.Organisation",
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("organisation"),
    )
    url = models.URLField(
        _("URL"),
        max_length=500,
        validators=[URLValidator(schemes=["https", "http"]), PublicURLValidator()],
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=200,  # room for any secret of before, base64-encoded (migration 0010)
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
    # Set while one worker is sending (outside any transaction), so a duplicate job does not
    # send it at the same time; a claim past this time (its worker died) may be taken again.
    claimed_until = models.DateTimeField(_("being sent until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("last attempt"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [models.Index(fields=["state", "created_at"], name="delivery_pending")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.to}: {self.get_state_display()}"
