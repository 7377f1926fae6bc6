"""Who is told what: the unit, the district office, the referrer and the partner's system.

Each ``notify_*`` is a follow-up job (``referrals/outbox.py``), queued by the services with
the event that calls for it, and safe to repeat: a person gets one notification per event
and kind, an endpoint one delivery per event and type. In-app notifications and e-mails
name the referral and what happened, never personal data; the page they link to applies
the visibility rule.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, User
from districts.models import WelfareOffice
from referrals import outbox
from referrals.deliveries import email_delivery, webhook_deliveries
from referrals.lifecycle import visible_event
from referrals.models import (
    OPEN_STATUSES,
    Delivery,
    Notification,
    Referral,
    ReferralEvent,
    Status,
    WebhookEndpoint,
)
from referrals.selectors import overdue_q


def unit_staff(unit_id: int, roles=Membership.STAFF_ROLES):
    return User.objects.filter(
        is_active=True, memberships__service_unit_id=unit_id, memberships__role__in=roles
    ).distinct()


def office_officers(office_id: int):
    return User.objects.filter(
        is_active=True,
        memberships__welfare_office_id=office_id,
        memberships__role=Membership.Role.DISTRICT_OFFICER,
    ).distinct()


@outbox.job()
def notify_assignment(*, event_id: int) -> list[Notification]:
    """Tell the assigned unit's staff about a routing event, and call the webhooks the
    unit's organisation registered."""
    event = ReferralEvent.objects.select_related("referral", "unit", "task").get(pk=event_id)
    if event.to_status != Status.ASSIGNED or event.unit_id is None:
        return []
    notifications = notify(event, unit_staff(event.unit_id), Notification.Kind.ASSIGNED)
    webhook_deliveries(event, WebhookEndpoint.Event.ASSIGNED)
    return notifications


@outbox.job()
def notify_partner(*, event_id: int) -> list[Delivery]:
    """Tell the unit's organisation (its webhooks) that a referral it holds or held changed
    status: ``referral.cancelled`` when withdrawn or entered in error, else
    ``referral.updated``."""
    event = ReferralEvent.objects.select_related("referral", "unit", "task").get(pk=event_id)
    closed_by_others = (Status.CANCELLED, Status.ENTERED_IN_ERROR)
    event_type = (
        WebhookEndpoint.Event.CANCELLED
        if event.to_status in closed_by_others
        else WebhookEndpoint.Event.UPDATED
    )
    return webhook_deliveries(event, event_type)


@outbox.job()
def notify_office(*, event_id: int) -> list[Notification]:
    """Tell the district office (and, for an overdue assignment, the unit's supervisors)."""
    event = ReferralEvent.objects.select_related("referral__district").get(pk=event_id)
    recipients = list(office_officers(event.referral.district.welfare_office_id))
    if event.kind == ReferralEvent.Kind.OVERDUE:
        kind = Notification.Kind.OVERDUE
        if event.unit_id:
            supervisors = unit_staff(event.unit_id, roles=[Membership.Role.UNIT_SUPERVISOR])
            recipients += [user for user in supervisors if user not in recipients]
    elif event.kind == ReferralEvent.Kind.ESCALATION:
        kind = Notification.Kind.ESCALATED
    elif event.to_status == Status.TRIAGE:
        kind = Notification.Kind.TRIAGE
    else:
        return []
    return notify(event, recipients, kind)


@outbox.job()
def notify_referrer(*, event_id: int) -> list[Notification]:
    """Tell the referrer their referral moved on (assigned, accepted, closed)."""
    event = ReferralEvent.objects.select_related("referral__referrer", "unit").get(pk=event_id)
    referrer = event.referral.referrer
    if not referrer.is_active or event.actor_id == referrer.pk:
        return []
    return notify(event, [referrer], Notification.Kind.STATUS)


def notify(event: ReferralEvent, recipients, kind: str) -> list[Notification]:
    """One in-app notification per recipient, and an e-mail to those who have an address.
    The one place every notification is made: nobody is told of their own action. All the
    recipients' notifications are written in one statement, safe to repeat: a row already
    there (the job run twice, even at once) is kept (``ON CONFLICT``)."""
    users = list({user.pk: user for user in recipients if user.pk != event.actor_id}.values())
    if not users:
        return []
    with transaction.atomic(savepoint=False):
        notifications = Notification.objects.bulk_create(
            [
                Notification(recipient=user, event=event, kind=kind, referral=event.referral)
                for user in users
            ],
            update_conflicts=True,
            unique_fields=["recipient", "event", "kind"],
            update_fields=["kind"],
        )
        for notification, user in zip(notifications, users, strict=True):
            notification.recipient = user
            if user.email:
                email_delivery(
                    key=f"notification:{notification.pk}:email",
                    to=user.email,
                    notification=notification,
                    **render_email(notification, user),
                )
    return notifications


# What a step did, said by who did it (issue 19): a unit's own steps by the unit's name, the
# rest by the referrer, the district office or the portal (a rule, a sweep).
UNIT_DID = {
    Status.ACCEPTED: _("%(who)s accepted it"),
    Status.REJECTED: _("%(who)s declined it"),
    Status.ON_HOLD: _("%(who)s put it on hold"),
    Status.COMPLETED: _("%(who)s completed it"),
    Status.FAILED: _("%(who)s closed it as failed"),
}
OTHERS_DID = {
    Status.CANCELLED: _("%(who)s withdrew it"),
    Status.ENTERED_IN_ERROR: _("%(who)s marked it as entered in error"),
    Status.TRIAGE: _("%(who)s sent it to the district office's triage queue"),
}
KIND_DID = {
    ReferralEvent.Kind.ESCALATION: _("%(who)s flagged it as escalated"),
    ReferralEvent.Kind.OVERDUE: _("It was not accepted or declined in time"),
    ReferralEvent.Kind.CONSENT: _("Consent was withdrawn"),
    ReferralEvent.Kind.MESSAGE: _("%(who)s wrote to the other units on it"),
    ReferralEvent.Kind.TRANSFER: _("The case moved between units"),
}
# The kinds the referrer gets: they read no one's reasons but their own (lifecycle's policy).
REFERRER_KINDS = (Notification.Kind.STATUS, Notification.Kind.TRANSFER)


def what_changed(notification: Notification, *, in_email: bool = False) -> str:
    """ "R-2026-000123: Sham Shui Po IFSC 1 accepted it (Assigned → Accepted)", with the
    step's reason for a recipient who reads reasons, never in an e-mail (it leaves the
    portal). Reads the notification's referral and its event's unit (select them)."""
    event, referral = notification.event, notification.referral
    change = _change(event, referral)
    if event.from_status and event.from_status != event.to_status:
        change = _("%(change)s (%(from)s → %(to)s)") % {
            "change": change,
            "from": event.get_from_status_display(),
            "to": event.get_to_status_display(),
        }
    line = _("%(reference)s: %(change)s") % {"reference": referral.reference, "change": change}
    if event.reason and not in_email and notification.kind not in REFERRER_KINDS:
        line = _("%(line)s. Reason: %(reason)s") % {"line": line, "reason": event.reason}
    return str(line)


def _change(event: ReferralEvent, referral: Referral) -> str:
    unit = event.unit.name if event.unit_id else ""
    if event.actor_id is None:
        who = _("The portal")
    elif event.actor_id == referral.referrer_id:
        who = _("The referrer")
    else:
        who = _("The district office")
    if event.kind in KIND_DID:
        unit_kind = event.kind == ReferralEvent.Kind.MESSAGE and unit
        return KIND_DID[event.kind] % {"who": unit if unit_kind else who}
    if event.kind == ReferralEvent.Kind.ROUTING and event.to_status == Status.ASSIGNED:
        return _("%(who)s assigned it to %(unit)s") % {
            "who": who if event.actor_id else _("The routing rules"),
            "unit": unit,
        }
    to_status, unit_step = event.to_status, bool(unit) and event.actor_id != referral.referrer_id
    if to_status == Status.IN_PROGRESS and unit:
        text = _("%(who)s resumed work on it") if event.from_status == Status.ON_HOLD else None
        return (text or _("%(who)s started work on it")) % {"who": unit}
    if to_status in UNIT_DID and unit_step:
        return UNIT_DID[to_status] % {"who": unit}
    if to_status in OTHERS_DID:
        return OTHERS_DID[to_status] % {"who": who}
    return _("It is now “%(status)s”") % {"status": event.get_to_status_display()}


def language_of(user: User) -> str:
    return user.preferred_language or settings.LANGUAGE_CODE


def render_email(notification: Notification, user: User) -> dict:
    """Subject and body in the recipient's language. No personal data: the reference, the
    risk level and a link to the page, which checks who may see what. The event is shown as
    every reader of the referral may see it (``lifecycle.visible_event`` with no roles: the
    step and the unit, never a reason or a note), since an e-mail leaves the portal."""
    referral = notification.referral
    event = visible_event(notification.event, roles=frozenset())
    with translation.override(language_of(user)):
        context = {
            "notification": notification,
            "kind": notification.get_kind_display(),
            "referral": referral,
            "event": event,
            "unit": event.unit,
            "what_changed": what_changed(notification, in_email=True),
            "link": settings.SITE_URL.rstrip("/")
            + reverse("referrals:detail", kwargs={"public_id": referral.public_id}),
            "user": user,
        }
        subject = render_to_string("referrals/email/notification_subject.txt", context)
        body = render_to_string("referrals/email/notification_body.txt", context)
    return {"subject": " ".join(subject.split())[:200], "body": body}


def notification_mark_read(*, user: User, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


def office_digest_counts(office: WelfareOffice, *, now: datetime) -> dict[str, int]:
    open_in_office = Referral.objects.filter(
        district__welfare_office=office, status__in=OPEN_STATUSES
    )
    return open_in_office.aggregate(
        triage=Count("pk", filter=Q(status=Status.TRIAGE)),
        overdue=Count("pk", filter=overdue_q(now)),
        escalated=Count("pk", filter=Q(escalated_at__isnull=False)),
        received=Count("pk", filter=Q(submitted_at__gte=now - timedelta(days=1))),
    )


def send_office_digests(*, now: datetime | None = None) -> list[Delivery]:
    """Once a day, each district officer with an e-mail gets their office's figures:
    waiting for triage, overdue, escalated and received in the last day. One per day."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    deliveries = []
    for office in WelfareOffice.objects.filter(
        memberships__role=Membership.Role.DISTRICT_OFFICER
    ).distinct():
        counts = office_digest_counts(office, now=now)
        for user in office_officers(office.pk).exclude(email=""):
            with translation.override(language_of(user)):
                context = {
                    "office": office,
                    "counts": counts,
                    "date": today,
                    "user": user,
                    "link": settings.SITE_URL.rstrip("/") + reverse("referrals:list"),
                }
                subject = render_to_string("referrals/email/digest_subject.txt", context)
                body = render_to_string("referrals/email/digest_body.txt", context)
            deliveries.append(
                email_delivery(
                    key=f"digest:{office.code}:{today.isoformat()}:{user.pk}",
                    to=user.email,
                    subject=" ".join(subject.split()),
                    body=body,
                )
            )
    return deliveries
