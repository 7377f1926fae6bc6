"""Messages between the units on a referral (issue 16; 004's networked referrals): the lead
unit coordinates the units serving the other needs, and they answer it.

A unit holding a task on the referral that it has not left (``LEFT_TASK_STATUSES``) writes;
the units holding such tasks and the district office read. The referrer never does: these
are the units' case communication, as their notes are. Each message tells the other units'
staff (an in-app notification and an e-mail naming the referral, not the text).
"""

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import user_scope
from referrals import outbox
from referrals.errors import NotPermitted, ReasonRequired
from referrals.lifecycle import Actor
from referrals.models import (
    LEFT_TASK_STATUSES,
    Notification,
    Referral,
    ReferralEvent,
    UnitMessage,
)
from referrals.notifications import notify, unit_staff
from referrals.services import lock, record_change
from referrals.task_steps import acting_task

MAX_LENGTH = 2000


def may_write(referral: Referral, *, user: User) -> bool:
    """Whether ``user`` writes for a unit holding a task on ``referral`` (prefetched)."""
    mine = set(user_scope(user).unit_ids)
    return any(
        t.unit_id in mine and t.status not in LEFT_TASK_STATUSES for t in referral.tasks.all()
    )


def may_read(referral: Referral, *, user: User, roles) -> bool:
    return bool(roles & {Actor.OFFICE, Actor.ADMIN}) or may_write(referral, user=user)


def referral_message_units(*, referral_id: int, actor: User, body: str) -> UnitMessage:
    """Write to the other units on the referral, as the actor's unit."""
    body = body.strip()
    with transaction.atomic():
        referral = lock(referral_id)
        task = acting_task(referral, actor=actor)
        if task is None or task.status in LEFT_TASK_STATUSES:
            raise NotPermitted(_("You may not do this to this referral."))
        if not body:
            raise ReasonRequired(_("Write the message."))
        if len(body) > MAX_LENGTH:
            raise ReasonRequired(
                _("Keep the message to %(count)s characters.") % {"count": MAX_LENGTH}
            )
        message = UnitMessage.objects.create(
            referral=referral, unit_id=task.unit_id, author=actor, body=body
        )
        event = record_change(
            referral,
            actor=actor,
            to_status=referral.status,
            kind=ReferralEvent.Kind.MESSAGE,
            unit=task.unit,
            details={"message": message.pk},
            task=task,
            step=(task.status, task.status),
        )
        outbox.enqueue(notify_units, event_id=event.pk)
    return message


@outbox.job()
def notify_units(*, event_id: int) -> list[Notification]:
    """Tell the staff of the other units holding a task on the referral."""
    event = ReferralEvent.objects.select_related("referral").get(pk=event_id)
    units = {
        task.unit_id
        for task in event.referral.tasks.exclude(status__in=LEFT_TASK_STATUSES)
        if task.unit_id != event.unit_id
    }
    recipients = [user for unit_id in sorted(units) for user in unit_staff(unit_id)]
    return notify(event, recipients, Notification.Kind.MESSAGE)
