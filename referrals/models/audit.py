"""Who saw what (the access log) and what partners filed (idempotent intake)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from referrals.models.referral import Referral


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
    # A partner system's read (API, client credentials: no user): which client it was. Kept
    # like ``user``: a client that read personal data cannot be deleted from under its log.
    client = models.ForeignKey(
        "accounts.PartnerClient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner API client"),
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
