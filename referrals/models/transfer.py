"""Planned transfers of open cases (issue 17): a plan moves a set of cases from one unit to
another (the office's move) or from one worker to another inside a unit (a supervisor's),
on its effective date, with a handover note per case and a record of the family being
told. Written by ``referrals/transfers.py``.

A moved case keeps its task: the unit's task changes hands (unit, owner), so the case keeps
its status, needs and whole timeline. Until the receiving unit accepts, the sending unit
still sees the case (``TransferCase.State.MOVED``, the overlap window); a declined case
goes back to the sending unit with the reason.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# What a new worker needs to know; the note of every case starts from it.
HANDOVER_TEMPLATE = _(
    "Situation now:\n"
    "Risks and safety plan:\n"
    "Services in place and who provides them:\n"
    "Next steps and dates:\n"
    "People to contact (family, other units):\n"
    "The family's view of the change:"
)


class TransferPlan(models.Model):
    class Kind(models.TextChoices):
        UNIT = "unit", _("Unit to unit (district office)")
        WORKER = "worker", _("Worker to worker (inside a unit)")

    class Reason(models.TextChoices):
        WORKER_LEFT = "worker_left", _("A social worker left")
        REMATCHING = "rematching", _("Re-matching of pre-primary institutions")
        REORGANISATION = "reorganisation", _("Service reorganisation")
        CASELOAD = "caseload", _("Balancing caseloads")
        OTHER = "other", _("Other")

    class State(models.TextChoices):
        PLANNED = "planned", _("Planned")
        RUNNING = "running", _("Moving cases")
        DONE = "done", _("Cases moved")
        CANCELLED = "cancelled", _("Cancelled")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    reason = models.CharField(
        _("reason"), max_length=16, choices=Reason.choices, default=Reason.REORGANISATION
    )
    title = models.CharField(_("title"), max_length=200)
    from_unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("sending unit"),
    )
    effective_on = models.DateField(_("effective date"))
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PLANNED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("planned by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    ran_at = models.DateTimeField(_("cases moved at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("transfer plan")
        verbose_name_plural = _("transfer plans")
        indexes = [
            models.Index(
                fields=["effective_on"], condition=Q(state="planned"), name="transfer_plan_due"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.effective_on:%Y-%m-%d})"


class TransferCase(models.Model):
    """One case of a plan: which task moves, to which unit and worker, with its handover."""

    class State(models.TextChoices):
        PLANNED = "planned", _("Planned")
        MOVED = "moved", _("Moved, awaiting acceptance")
        ACCEPTED = "accepted", _("Accepted")
        RETURNED = "returned", _("Declined and returned")
        SKIPPED = "skipped", _("Not moved")
        REMOVED = "removed", _("Taken out of the plan")

    plan = models.ForeignKey(
        TransferPlan, on_delete=models.CASCADE, related_name="cases", verbose_name=_("plan")
    )
    task = models.ForeignKey(
        "referrals.ReferralTask",
        on_delete=models.CASCADE,
        related_name="transfers",
        verbose_name=_("task"),
    )
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.CASCADE,
        related_name="transfers",
        verbose_name=_("referral"),
    )
    from_unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("sending unit"),
    )
    to_unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("receiving unit"),
    )
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sending worker"),
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("receiving worker"),
    )
    handover_note = models.TextField(_("handover note"), blank=True)
    family_informed_at = models.DateTimeField(_("family informed"), null=True, blank=True)
    not_informed_reason = models.TextField(_("why the family was not informed"), blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PLANNED
    )
    answer_reason = models.TextField(_("reason"), blank=True)
    moved_at = models.DateTimeField(_("moved"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        ordering = ["plan", "pk"]
        verbose_name = _("case in a transfer plan")
        verbose_name_plural = _("cases in transfer plans")
        indexes = [
            models.Index(fields=["plan", "state"], name="transfer_case_plan_state"),
            models.Index(
                fields=["from_unit", "referral"],
                condition=Q(state="moved"),
                name="transfer_case_overlap",
            ),
            models.Index(fields=["to_unit", "state"], name="transfer_case_incoming"),
        ]
        constraints = [
            # A task is in at most one plan that has yet to finish with it.
            models.UniqueConstraint(
                fields=["task"],
                condition=Q(state__in=["planned", "moved"]),
                name="transfer_case_one_pending_per_task",
                violation_error_message=_("This case is already in another transfer plan."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} · {self.referral_id} → {self.to_unit_id} ({self.state})"

    @property
    def family_ready(self) -> bool:
        """The family was told (on or before the effective date), or why not is recorded."""
        if self.not_informed_reason.strip():
            return True
        if self.family_informed_at is None:
            return False
        return timezone.localdate(self.family_informed_at) <= self.plan.effective_on

    @property
    def handover_ready(self) -> bool:
        note = self.handover_note.strip()
        return bool(note) and note != str(HANDOVER_TEMPLATE).strip()
