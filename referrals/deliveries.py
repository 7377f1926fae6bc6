"""Sending: e-mails and partners' webhooks, one ``Delivery`` row each, retried until sent.

Who is told what is decided in ``referrals/notifications.py``; this module writes the
deliveries it asks for, signs webhook bodies and sends. Every delivery is sent by the
``send_delivery`` job on the deliveries queue (``referrals/outbox.py``), so a slow SMTP
relay or a partner's hanging endpoint never delays routing.
"""

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from referrals import outbox
from referrals.models import Delivery, ReferralEvent, WebhookEndpoint

logger = logging.getLogger(__name__)

MAX_RETRY_COUNTDOWN = 600  # below the broker's visibility timeout (settings)


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
    """What a partner is told: which referral, for which unit, and when to answer. No
    personal data; the partner reads the referral itself through the API."""
    referral = event.referral
    return {
        "id": f"evt_{event.pk}",
        "type": event_type,
        "created": event.at.isoformat(),
        "data": {
            "reference": referral.reference,
            "public_id": str(referral.public_id),
            "status": event.to_status,
            "unit": event.unit.code if event.unit else None,
            "risk_level": referral.risk_level,
            "due_at": referral.due_at.isoformat() if referral.due_at else None,
        },
    }


def webhook_deliveries(event: ReferralEvent, event_type: str) -> list[Delivery]:
    """One delivery per active endpoint of the event's unit's organisation that wants this
    event type; safe to repeat (one per endpoint, event and type)."""
    if event.unit is None:
        return []
    deliveries = []
    with transaction.atomic():
        for endpoint in WebhookEndpoint.objects.filter(
            organisation_id=event.unit.organisation_id, is_active=True
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


def webhook_signature(secret: str, timestamp: str, body: str) -> str:
    """``v1=`` HMAC-SHA256 of ``timestamp.body`` with the endpoint's secret, hex."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class WebhookRefused(Exception):
    """The partner's endpoint answered with something other than 2xx."""


def _post_webhook(delivery: Delivery) -> int:
    timestamp = str(int(timezone.now().timestamp()))
    request = urllib.request.Request(  # noqa: S310 - the URL is an https/http URLField
        delivery.to,
        data=delivery.body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "WelfarePortal-Webhook/1",
            "X-Welfare-Event": delivery.subject,
            "X-Welfare-Delivery": delivery.key,
            "X-Welfare-Signature": webhook_signature(
                delivery.endpoint.secret, timestamp, delivery.body
            ),
        },
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.WEBHOOK_TIMEOUT
        ) as response:
            return response.status
    except urllib.error.HTTPError as error:
        delivery.status_code = error.code
        raise WebhookRefused(f"HTTP {error.code}") from error


def delivery_send(*, delivery_id: int) -> Delivery:
    """Send one pending delivery. On an SMTP, HTTP or network error the attempt is counted
    and the delivery stays pending until it runs out of attempts."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .get(pk=delivery_id)
        )
        if delivery.state != Delivery.State.PENDING:
            return delivery
        delivery.attempts += 1
        try:
            if delivery.channel == Delivery.Channel.WEBHOOK:
                delivery.status_code = _post_webhook(delivery)
            else:
                EmailMessage(delivery.subject, delivery.body, to=[delivery.to]).send()
        except (smtplib.SMTPException, OSError, WebhookRefused) as error:
            delivery.last_error = f"{type(error).__name__}: {error}"[:300]
            if delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
                delivery.state = Delivery.State.FAILED
                logger.error("Gave up on delivery %s: %s", delivery.pk, delivery.last_error)
        else:
            delivery.state = Delivery.State.SENT
            delivery.sent_at = timezone.now()
            delivery.last_error = ""
        delivery.save()
    return delivery


@outbox.job(queue=outbox.DELIVERIES_QUEUE)
def send_delivery(*, delivery_id: int) -> str:
    """The job: send, and while the delivery is still pending, try again after the
    back-off (doubling per attempt)."""
    delivery = delivery_send(delivery_id=delivery_id)
    if delivery.state == Delivery.State.PENDING:
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
