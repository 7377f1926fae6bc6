"""Times the offices closed: typhoon signal No. 8, the black rainstorm warning (issue 16).

An administrator records each closure; business-time clocks pause through it
(``sla.add_business_time``'s ``closures``), clock-time (urgent) work does not."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class OfficeClosure(models.Model):
    class Reason(models.TextChoices):
        TYPHOON_SIGNAL_8 = "typhoon_signal_8", _("Typhoon signal No. 8 or above")
        BLACK_RAINSTORM = "black_rainstorm", _("Black rainstorm warning")
        OTHER = "other", _("Other closure")

    starts_at = models.DateTimeField(_("closed from"))
    ends_at = models.DateTimeField(_("closed until"))
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("office closure")
        verbose_name_plural = _("office closures")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="office_closure_ends_after_start",
                violation_error_message=_("A closure must end after it starts."),
            )
        ]
        indexes = [models.Index(fields=["ends_at"], name="office_closure_ends_at")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"
