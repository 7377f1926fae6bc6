"""Sending: e-mails and partners' webhooks, one ``Delivery`` row each, retried until sent.

Who is told what is decided in ``referrals/notifications.py``; this module writes the
deliveries it asks for, signs webhook calls and sends. Every delivery is sent by the
``send_delivery`` job on the deliveries queue (``referrals/outbox.py``), so a slow SMTP
relay or a partner's hanging endpoint never delays routing.

A webhook call is signed as Standard Webhooks sign (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), so partners check it with a stock library; it goes only to a public
address, through ``welfare_portal/outbound.py``, and follows no redirect. The call is made
outside any transaction: the delivery is claimed (attempt counted, committed), sent, and
the result recorded in a second short transaction.
"""

import base64
import hashlib
import hmac
import json
import logging
import math
import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from referrals import outbox
from referrals.models import Delivery, ReferralEvent, WebhookEndpoint
from referrals.models.messaging import WEBHOOK_SECRET_PREFIX
from welfare_portal import outbound

logger = logging.getLogger(__name__)

MAX_RETRY_COUNTDOWN = 600  # below the broker's visibility timeout (settings)
CLAIM_MARGIN_SECONDS = 30
# Recorded on the delivery (the admin's delivery log), in English like the other errors.
GONE = "HTTP 410 Gone: the endpoint is switched off and called no more"
SWITCHED_OFF = "The endpoint is switched off: not sent"


def retry_countdown(attempts: int) -> int:
    """Seconds before the next try: the back-off doubled for each attempt made, at most ten
    minutes."""
    return min(settings.DELIVERY_RETRY_BACKOFF * 2 ** (attempts - 1), MAX_RETRY_COUNTDOWN)


def delivery_queue(delivery: Delivery) -> None:
    """Have ``send_delivery`` send this delivery once the current transaction commits."""
    outbox.enqueue(send_delivery, delivery_id=delivery.pk)


def email_delivery(*, key: str, to: str, subject: str, body: str, **fields) -> Delivery:
    """The e-mail delivery under ``key``, made (and queued) the first time only."""
    delivery, created = Delivery.objects.get_or_create(
        key=key, defaults={"to": to, "subject": subject, "body": body, **fields}
    )
    if created:
        delivery_queue(delivery)
    return delivery


def webhook_payload(event: ReferralEvent, event_type: str) -> dict:
    """What a partner is told: which referral, for which unit (and which of the referral's
    tasks: the unit's own, issue 16), and when to answer. No personal data; the partner
    reads the referral itself through the API."""
    referral, task = event.referral, event.task
    due = task.due_at if task is not None else referral.due_at
    return {
        "id": f"evt_{event.pk}",
        "type": event_type,
        "created": event.at.isoformat(),
        "data": {
            "reference": referral.reference,
            "public_id": str(referral.public_id),
            "task": str(task.public_id) if task is not None else None,
            "status": event.to_status,
            "unit": event.unit.code if event.unit else None,
            "risk_level": referral.risk_level,
            "due_at": due.isoformat() if due else None,
            **_transfer_of(event),
        },
    }


def _transfer_of(event: ReferralEvent) -> dict:
    """A transfer's own fields (issue 17): between which units, on which date, which step."""
    if event.kind != ReferralEvent.Kind.TRANSFER:
        return {}
    details = event.details
    return {
        "transfer": {
            "id": details.get("transfer"),
            "step": details.get("step"),
            "plan": details.get("plan"),
            "effective_on": details.get("effective_on"),
            "from_unit": details.get("from_unit_code"),
            "to_unit": details.get("to_unit_code"),
        }
    }


def webhook_deliveries(
    event: ReferralEvent, event_type: str, *, organisation_id: int | None = None
) -> list[Delivery]:
    """One delivery per active endpoint of the event's unit's organisation (or of
    ``organisation_id``: a transfer tells both sides) that wants this event type; safe to
    repeat (one per endpoint, event and type)."""
    if organisation_id is None:
        if event.unit is None:
            return []
        organisation_id = event.unit.organisation_id
    deliveries = []
    with transaction.atomic():
        for endpoint in WebhookEndpoint.objects.filter(
            organisation_id=organisation_id, is_active=True
        ):
            if not endpoint.wants(event_type):
                continue
            delivery, created = Delivery.objects.get_or_create(
                key=f"webhook:{endpoint.pk}:{event.pk}:{event_type}",
                defaults={
                    "channel": Delivery.Channel.WEBHOOK,
                    "endpoint": endpoint,
                    "to": endpoint.url,
                    "subject": event_type,
                    "body": json.dumps(webhook_payload(event, event_type), sort_keys=True),
                },
            )
            if created:
                delivery_queue(delivery)
            deliveries.append(delivery)
    return deliveries


def webhook_id(delivery: Delivery) -> str:
    """The ``webhook-id``: one per delivery (endpoint, event and type), the same on every
    retry, so the partner can drop a call it has already handled."""
    return f"msg_{delivery.pk}"


def webhook_signature(*, secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """Standard Webhooks' ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed with the
    bytes of a ``whsec_<base64>`` secret."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError("a webhook secret has the form whsec_<base64> (migration 0010)")
    key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def webhook_headers(delivery: Delivery, *, timestamp: int) -> dict[str, str]:
    msg_id = webhook_id(delivery)
    return {
        "Content-Type": "application/json",
        "User-Agent": "WelfarePortal-Webhook/2",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secret=delivery.endpoint.secret, msg_id=msg_id, timestamp=timestamp, body=delivery.body
        ),
        "X-Welfare-Event": delivery.subject,
    }


@dataclass(frozen=True)
class Attempt:
    """What one try came to, found outside any transaction and recorded afterwards."""

    status_code: int | None = None
    error: str = ""
    final: bool = False  # no use trying again: a refused address, a 410
    gone: bool = False  # the partner answered 410 Gone: switch its endpoint off


def _failure(error: BaseException, **fields) -> Attempt:
    return Attempt(error=f"{type(error).__name__}: {error}", **fields)


def _post_webhook(delivery: Delivery) -> Attempt:
    """One signed POST through the checked client (public addresses only, no redirects,
    ``WEBHOOK_TIMEOUT`` for the whole call). The answer's body is never read."""
    headers = webhook_headers(delivery, timestamp=int(time.time()))
    try:
        with (
            outbound.client(timeout=settings.WEBHOOK_TIMEOUT) as http,
            http.stream("POST", delivery.to, content=delivery.body.encode(), headers=headers) as r,
        ):
            status = r.status_code
    except outbound.OutboundRefused as error:
        return _failure(error, final=True)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        return _failure(error)
    if 200 <= status < 300:
        return Attempt(status_code=status)
    if status == 410:
        return Attempt(status_code=status, error=GONE, final=True, gone=True)
    if 300 <= status < 400:
        return Attempt(status_code=status, error=f"HTTP {status}: redirects are not followed")
    return Attempt(status_code=status, error=f"HTTP {status}")


def _send_email(delivery: Delivery) -> Attempt:
    try:
        EmailMessage(delivery.subject, delivery.body, to=[delivery.to]).send()
    except (smtplib.SMTPException, OSError) as error:
        return _failure(error)
    return Attempt()


def _claim_seconds(delivery: Delivery) -> int:
    """How long an attempt may take: the call's time limit and a margin for the DNS look-up
    (which has no timeout of its own) and the two transactions around it."""
    if delivery.channel == Delivery.Channel.WEBHOOK:
        limit = settings.WEBHOOK_TIMEOUT
    else:
        limit = settings.EMAIL_TIMEOUT or 60
    return limit + CLAIM_MARGIN_SECONDS


def delivery_claim(*, delivery_id: int) -> tuple[Delivery, bool]:
    """Take a pending delivery for one attempt: lock the row, count the attempt and mark it
    claimed until the attempt must be over, then commit, so that the call itself holds no
    lock and a duplicate job does not send at the same time. False when it is not pending,
    its endpoint is switched off, or another worker's claim has not expired."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .get(pk=delivery_id)
        )
        if delivery.state != Delivery.State.PENDING:
            return delivery, False
        if delivery.claimed_until is not None and delivery.claimed_until > now:
            return delivery, False
        if delivery.channel == Delivery.Channel.WEBHOOK and not delivery.endpoint.is_active:
            delivery.state, delivery.last_error = Delivery.State.FAILED, SWITCHED_OFF
            delivery.save(update_fields=["state", "last_error", "updated_at"])
            return delivery, False
        delivery.attempts += 1
        delivery.claimed_until = now + timedelta(seconds=_claim_seconds(delivery))
        delivery.save(update_fields=["attempts", "claimed_until", "updated_at"])
    return delivery, True


def delivery_record(*, delivery_id: int, claimed_until, attempt: Attempt) -> Delivery:
    """Write what an attempt came to, in a second short transaction. A failure whose claim
    expired and was taken again is left to the newer attempt; a success always counts."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update(of=("self",)).get(pk=delivery_id)
        if delivery.state != Delivery.State.PENDING:
            return delivery  # another attempt got it through (or gave up) meanwhile
        if attempt.error and delivery.claimed_until != claimed_until:
            return delivery
        delivery.claimed_until = None
        if attempt.status_code is not None:
            delivery.status_code = attempt.status_code
        if not attempt.error:
            delivery.state, delivery.sent_at, delivery.last_error = (
                Delivery.State.SENT,
                timezone.now(),
                "",
            )
        else:
            delivery.last_error = attempt.error[:300]
            if attempt.final or delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
                delivery.state = Delivery.State.FAILED
                logger.error("Gave up on delivery %s: %s", delivery.pk, delivery.last_error)
        if attempt.gone:
            # One more query, on a 410 only: the partner asked us to stop calling it.
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(is_active=False)
            logger.warning("Endpoint %s answered 410 Gone: switched off", delivery.endpoint_id)
        delivery.save()
    return delivery


def delivery_send(*, delivery_id: int) -> Delivery:
    """Send one pending delivery, the call outside any transaction (claim, commit, call,
    record): a partner's endpoint that hangs holds no row lock. On an SMTP, HTTP or network
    error the attempt is counted and the delivery stays pending until it runs out of
    attempts; a refused (private) address and a 410 Gone end it at once."""
    delivery, claimed = delivery_claim(delivery_id=delivery_id)
    if not claimed:
        return delivery
    if delivery.channel == Delivery.Channel.WEBHOOK:
        attempt = _post_webhook(delivery)
    else:
        attempt = _send_email(delivery)
    return delivery_record(
        delivery_id=delivery.pk, claimed_until=delivery.claimed_until, attempt=attempt
    )


@outbox.job(queue=outbox.DELIVERIES_QUEUE)
def send_delivery(*, delivery_id: int) -> str:
    """The job: send, and while the delivery is still pending, try again after the
    back-off (doubling per attempt). While another worker's claim runs, this message stays
    undone and looks again once the claim has expired: that worker may die mid-call."""
    delivery = delivery_send(delivery_id=delivery_id)
    if delivery.state == Delivery.State.PENDING:
        if delivery.claimed_until is not None:
            left = (delivery.claimed_until - timezone.now()).total_seconds()
            raise outbox.TryLater(max(1, math.ceil(left)))
        raise outbox.TryLater(retry_countdown(delivery.attempts))
    return delivery.state


def deliveries_send_again(*, deliveries) -> int:
    """Give failed (or stuck) deliveries a fresh set of attempts; sent ones are left alone."""
    ids = list(deliveries.exclude(state=Delivery.State.SENT).values_list("pk", flat=True))
    with transaction.atomic():
        Delivery.objects.filter(pk__in=ids).update(
            state=Delivery.State.PENDING, attempts=0, updated_at=timezone.now()
        )
        for delivery_id in ids:
            outbox.enqueue(send_delivery, delivery_id=delivery_id)
    return len(ids)
