"""How a webhook delivery is sent: to public addresses only, no redirects, a 410 switches the
endpoint off, the call made outside the transaction that claims the delivery, and secrets of
before still sign with the same key bytes. Real listeners on loopback (tests/referrals/
test_webhooks.py); the loopback address is let through except where a test says not."""

import base64
import importlib
import json
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from referrals import deliveries, outbox
from referrals.models import Delivery, WebhookEndpoint, new_webhook_secret
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for
from tests.referrals.test_webhooks import LOOPBACK, PartnerEndpoint, verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = LOOPBACK


@pytest.fixture
def partner():
    with PartnerEndpoint() as endpoint:
        yield endpoint


def a_webhook(url: str, *, organisation=None, key="webhook:test", **endpoint_fields) -> Delivery:
    endpoint = WebhookEndpoint.objects.create(
        organisation=organisation or factories.OrganisationFactory(), url=url, **endpoint_fields
    )
    return Delivery.objects.create(
        key=key,
        channel=Delivery.Channel.WEBHOOK,
        endpoint=endpoint,
        to=url,
        subject="referral.assigned",
        body=json.dumps({"id": "evt_1", "type": "referral.assigned"}),
    )


def test_new_secrets_are_standard_webhooks_secrets():
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_webhook_secret() != secret


# --- Private addresses ----------------------------------------------------------------------


def test_a_loopback_endpoint_is_refused_at_registration_and_at_send_time(
    client, ifsc_unit, partner, settings
):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    token = token_for(client, partner_client(ifsc_unit.organisation))
    for url in (partner.url, "http://localhost/hook", "http://169.254.169.254/latest/"):
        refused = client.post(
            "/api/v1/webhooks/", {"url": url}, content_type="application/json", **bearer(token)
        )
        assert refused.status_code == 400, url
        [message] = refused.json()["fields"]["url"]
        assert "is not a public internet address" in message
    assert not WebhookEndpoint.objects.exists()

    # One registered before the rule, or a name that has resolved to loopback since.
    delivery = a_webhook(partner.url, organisation=ifsc_unit.organisation)
    sent = deliveries.delivery_send(delivery_id=delivery.pk)
    assert (sent.state, sent.attempts, sent.status_code) == ("failed", 1, None)
    assert sent.last_error == "OutboundRefused: 127.0.0.1 is not a public internet address"
    assert partner.received == []  # no connection reached the listener


def test_the_admin_refuses_a_private_address(client, admin_user, settings):
    from django.urls import reverse

    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:referrals_webhookendpoint_add"),
        {"organisation": factories.OrganisationFactory().pk, "url": "http://192.168.1.1/"},
    )
    assert response.status_code == 200
    assert "192.168.1.1 is not a public internet address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


# --- Answers: redirects, 410 ----------------------------------------------------------------


def test_a_redirect_is_not_followed_but_counted_as_a_failed_attempt(partner):
    partner.statuses = [302]
    delivery = a_webhook(partner.url)
    tried = deliveries.delivery_send(delivery_id=delivery.pk)
    assert (tried.state, tried.attempts, tried.status_code) == ("pending", 1, 302)
    assert "redirects are not followed" in tried.last_error
    assert [call["path"] for call in partner.received] == ["/hooks/welfare"]  # not /moved
    assert tried.claimed_until is None


def test_a_410_switches_the_endpoint_off_and_stops_its_deliveries(partner):
    partner.statuses = [410]
    delivery = a_webhook(partner.url)
    other = Delivery.objects.create(
        key="webhook:other",
        channel=Delivery.Channel.WEBHOOK,
        endpoint=delivery.endpoint,
        to=partner.url,
        subject="referral.updated",
        body="{}",
    )

    gone = deliveries.delivery_send(delivery_id=delivery.pk)

    assert (gone.state, gone.attempts, gone.status_code) == ("failed", 1, 410)
    assert gone.last_error == deliveries.GONE
    assert WebhookEndpoint.objects.get(pk=delivery.endpoint_id).is_active is False
    # Not retried, and the endpoint's other pending deliveries are not sent either.
    assert deliveries.send_delivery(delivery_id=delivery.pk) == "failed"
    assert deliveries.send_delivery(delivery_id=other.pk) == "failed"
    assert Delivery.objects.get(pk=other.pk).last_error == deliveries.SWITCHED_OFF
    assert len(partner.received) == 1


def test_other_errors_are_retried(partner):
    partner.statuses = [404, 503]
    delivery = a_webhook(partner.url)
    for status in (404, 503):
        tried = deliveries.delivery_send(delivery_id=delivery.pk)
        assert (tried.state, tried.status_code, tried.last_error) == (
            "pending",
            status,
            f"HTTP {status}",
        )
    assert deliveries.delivery_send(delivery_id=delivery.pk).state == "sent"
    assert WebhookEndpoint.objects.get(pk=delivery.endpoint_id).is_active is True


# --- The claim ------------------------------------------------------------------------------


def test_a_claimed_delivery_is_not_sent_again_until_the_claim_expires(partner, settings):
    settings.WEBHOOK_TIMEOUT = 10
    delivery = a_webhook(partner.url)
    claimed, ok = deliveries.delivery_claim(delivery_id=delivery.pk)  # another worker's
    assert ok and claimed.attempts == 1
    assert claimed.claimed_until - timezone.now() > timedelta(seconds=10 + 25)

    assert deliveries.delivery_send(delivery_id=delivery.pk).attempts == 1
    with pytest.raises(outbox.TryLater) as later:
        deliveries.send_delivery(delivery_id=delivery.pk)
    assert 35 <= later.value.seconds <= 41  # looks again when that claim runs out
    assert partner.received == []

    # That worker died mid-call: once its claim has expired, the delivery is taken again.
    Delivery.objects.filter(pk=delivery.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    sent = deliveries.delivery_send(delivery_id=delivery.pk)
    assert (sent.state, sent.attempts, sent.claimed_until) == ("sent", 2, None)
    assert len(partner.received) == 1


def test_a_late_failure_does_not_overwrite_the_attempt_that_took_the_claim_over(partner):
    delivery = a_webhook(partner.url)
    first, _ = deliveries.delivery_claim(delivery_id=delivery.pk)
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now())
    second, ok = deliveries.delivery_claim(delivery_id=delivery.pk)
    assert ok and second.attempts == 2

    late = deliveries.Attempt(error="ConnectTimeout: too slow")
    kept = deliveries.delivery_record(
        delivery_id=delivery.pk, claimed_until=first.claimed_until, attempt=late
    )
    assert (kept.claimed_until, kept.last_error) == (second.claimed_until, "")
    done = deliveries.delivery_record(
        delivery_id=delivery.pk, claimed_until=second.claimed_until, attempt=deliveries.Attempt()
    )
    assert done.state == "sent"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_call_holds_no_lock_and_a_duplicate_job_does_not_call_too(partner):
    """While the partner's endpoint hangs, the delivery row is not locked, and the same
    delivery's job run again meanwhile makes no second call."""
    delivery = a_webhook(partner.url)
    partner.release.clear()
    results = {}

    def worker():
        try:
            results["sent"] = deliveries.delivery_send(delivery_id=delivery.pk)
        finally:
            connection.close()

    sending = threading.Thread(target=worker)
    sending.start()
    try:
        assert partner.arrived.wait(10), "the call never reached the listener"
        with transaction.atomic():  # would raise if the sending worker held the row
            Delivery.objects.select_for_update(nowait=True).get(pk=delivery.pk)
        with pytest.raises(outbox.TryLater):
            deliveries.send_delivery(delivery_id=delivery.pk)
    finally:
        partner.release.set()
        sending.join(10)
    assert results["sent"].state == "sent"
    assert len(partner.received) == 1
    assert verify(delivery.endpoint.secret, partner.received[0])


# --- Secrets of before ----------------------------------------------------------------------


def test_the_migration_keeps_the_key_bytes_of_old_secrets(partner):
    migration = importlib.import_module("referrals.migrations.0010_webhook_standard_signatures")
    old = "Xv3_9k-old-token-urlsafe-secret-of-43-chars"
    delivery = a_webhook(partner.url, secret=old)
    fresh = WebhookEndpoint.objects.create(organisation=delivery.endpoint.organisation, url="x")

    migration.to_standard_secrets(apps, None)

    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    assert endpoint.secret == "whsec_" + base64.b64encode(old.encode()).decode()
    assert WebhookEndpoint.objects.get(pk=fresh.pk).secret == fresh.secret  # already whsec_
    deliveries.delivery_send(delivery_id=delivery.pk)
    assert verify(endpoint.secret, partner.received[0])
    # The HMAC key is the old secret's bytes: a partner holding only the old string can check.
    assert verify(base64.b64encode(old.encode()).decode(), partner.received[0])

    migration.to_old_secrets(apps, None)
    assert WebhookEndpoint.objects.get(pk=delivery.endpoint_id).secret == old
    assert WebhookEndpoint.objects.get(pk=fresh.pk).secret == fresh.secret
