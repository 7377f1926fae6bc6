"""Follow-up work written in the same transaction as the change that causes it."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One piece of follow-up work (route this referral, tell these people, send this
    delivery), stored with the change that needs it and sent to the broker once that
    commits. It stays undone until the job has run to the end, so work the broker lost (or
    a killed worker dropped) is sent again by ``referrals.tasks.sweep_outbox``. Jobs are
    idempotent: running one twice does the work once (``referrals/outbox.py``)."""

    job = models.CharField(_("job"), max_length=120)
    args = models.JSONField(_("arguments"), default=dict)
    queue = models.CharField(_("queue"), max_length=40)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    # When the job should have run by; the sweep sends the message again after it.
    due_at = models.DateTimeField(_("due"), default=timezone.now)
    sends = models.PositiveIntegerField(_("times sent"), default=0)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up job")
        verbose_name_plural = _("follow-up jobs")
        indexes = [
            models.Index(fields=["due_at"], name="outbox_waiting", condition=Q(done_at=None)),
            models.Index(fields=["done_at"], name="outbox_done", condition=~Q(done_at=None)),
        ]

    def __str__(self) -> str:
        arguments = ", ".join(f"{name}={value!r}" for name, value in self.args.items())
        return f"{self.job}({arguments})"
