"""One unit's part of a referral: a task per performer (issue 16).

The referral is the request (FHIR ServiceRequest); each unit asked to act on it holds a
``ReferralTask`` (FHIR Task) for the needs it serves, with its own status, deadline and
outcome. One task is the **lead** (the unit serving the main need); the others are
``part_of`` it, as FHIR's ``Task.partOf``. The referral's own status, unit and deadline are
derived from its tasks (``referrals.lifecycle.status_from_tasks``), written by
``referrals/services.py`` in the same transaction as the task.

A task is never reused: a unit that declines closes its task as ``rejected`` and the need
goes to a new task for the next unit, so every unit's part keeps its own history.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.models.choices import Status

# Where a task can be: a unit's statuses, and the referral's closing ones.
TASK_STATUSES = (
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.REJECTED,
    Status.IN_PROGRESS,
    Status.ON_HOLD,
    Status.COMPLETED,
    Status.FAILED,
    Status.CANCELLED,
    Status.ENTERED_IN_ERROR,
)
# The unit is working on it, or has yet to accept: the task is live.
OPEN_TASK_STATUSES = (Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS, Status.ON_HOLD)
# The unit declined it, or the office (or the referrer) took it away: the unit has left the
# referral, and no longer sees it through this task (``selectors.tasks_seen_by``).
LEFT_TASK_STATUSES = (Status.REJECTED, Status.CANCELLED)


class CodeList(models.Aggregate):
    """The codes of a to-many relation as one comma-separated text, in the same query:
    ``STRING_AGG`` on PostgreSQL, ``GROUP_CONCAT`` on SQLite."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = models.TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="GROUP_CONCAT", **extra_context)


class ReferralTaskQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_TASK_STATUSES)

    def with_need_codes(self):
        """Each task's need codes as ``need_codes`` (a list), read with the tasks: one query
        where prefetching the needs takes two (the partner API's answers)."""
        return self.annotate(need_code_list=CodeList("needs__code"))


class ReferralTask(models.Model):
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.CASCADE,
        related_name="tasks",
        verbose_name=_("referral"),
    )
    unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        related_name="referral_tasks",
        verbose_name=_("unit"),
    )
    needs = models.ManyToManyField(
        "services.NeedCategory", blank=True, related_name="+", verbose_name=_("needs served")
    )
    is_lead = models.BooleanField(
        _("lead unit"), default=False, help_text=_("Serves the main need; the others follow it.")
    )
    part_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="parts",
        verbose_name=_("part of"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ASSIGNED
    )
    version = models.PositiveIntegerField(
        _("version"), default=1, help_text=_("Raised by every change; detects concurrent edits.")
    )
    routing_rule = models.ForeignKey(
        "referrals.RoutingRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("routing rule"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="owned_tasks",
        verbose_name=_("case worker"),
        help_text=_("The unit's worker who owns the case; never shown to the referrer."),
    )
    owner_since = models.DateTimeField(_("owned since"), null=True, blank=True)
    shared_contact = models.CharField(
        _("contact shared with the referrer"),
        max_length=200,
        blank=True,
        default="",
        db_default="",  # rows written by SQL (migration 0016, the demo's COPY) need none
        help_text=_("Whom the referrer may contact at the unit, if the unit chooses to say."),
    )
    due_at = models.DateTimeField(_("acknowledge by"), null=True, blank=True)
    overdue_at = models.DateTimeField(_("marked overdue"), null=True, blank=True)
    outcome_summary = models.TextField(
        _("outcome summary"), blank=True, help_text=_("Shown to the referrer.")
    )
    services_provided = models.TextField(_("services provided"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    objects = ReferralTaskQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("referral task")
        verbose_name_plural = _("referral tasks")
        indexes = [
            models.Index(fields=["referral", "created_at"], name="task_of_referral"),
            models.Index(fields=["unit", "status"], name="task_unit_status"),
            # The parts a unit sees (``selectors.tasks_seen_by``, not the lead): the one
            # source of a partner's sync not read through the referral's own indexes.
            models.Index(
                fields=["unit", "referral"],
                condition=Q(is_lead=False) & ~Q(status__in=["rejected", "cancelled"]),
                name="task_part_seen",
            ),
            models.Index(
                fields=["owner", "status"],
                condition=Q(owner__isnull=False),
                name="task_owner_status",
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(status="assigned", overdue_at__isnull=True),
                name="task_awaiting_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="task_status_known",
                condition=Q(status__in=[str(status) for status in TASK_STATUSES]),
                violation_error_message=_("A task cannot have this status."),
            ),
            # One live lead per referral; and a unit holds at most one live task of a
            # referral (several needs it serves go on the same task).
            models.UniqueConstraint(
                fields=["referral"],
                condition=Q(is_lead=True)
                & Q(status__in=[str(status) for status in OPEN_TASK_STATUSES]),
                name="task_one_open_lead",
                violation_error_message=_("A referral has one lead unit."),
            ),
            models.UniqueConstraint(
                fields=["referral", "unit"],
                condition=Q(status__in=[str(status) for status in OPEN_TASK_STATUSES]),
                name="task_one_open_per_unit",
                violation_error_message=_("This unit already has an open task on the referral."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.referral} → {self.unit_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES

    @property
    def need_codes(self) -> list[str]:
        """The needs' codes, in code order: from ``with_need_codes`` when it was used."""
        if hasattr(self, "need_code_list"):
            return sorted(code for code in (self.need_code_list or "").split(",") if code)
        return sorted(need.code for need in self.needs.all())


class UnitMessage(models.Model):
    """A message between the units on a referral (issue 16): the lead coordinating the
    parts, a part asking the lead. Read by the units holding a task on it and the office;
    never by the referrer (``referrals/unit_messages.py``)."""

    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.CASCADE,
        related_name="unit_messages",
        verbose_name=_("referral"),
    )
    unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("from unit"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("written by"),
    )
    body = models.TextField(_("message"), max_length=2000)
    at = models.DateTimeField(_("at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("message between units")
        verbose_name_plural = _("messages between units")
        indexes = [models.Index(fields=["referral", "at"], name="unit_message_of_referral")]

    def __str__(self) -> str:
        return f"{self.referral} · {self.unit_id} · {self.at:%Y-%m-%d %H:%M}"
