"""Signed webhooks to a partner organisation, against a real HTTP listener on loopback."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from referrals.deliveries import delivery_send
from referrals.models import Delivery, ReferralEvent, WebhookEndpoint
from referrals.notifications import notify_assignment
from referrals.services import referral_route
from services.models import NeedCategory
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db


class PartnerEndpoint:
    """A partner's webhook receiver: answers with the queued status codes, then 200."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                outer.received.append({"headers": dict(self.headers), "body": body})
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/welfare"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner():
    with PartnerEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def routed(referrer, caring_team, ssp_area, ifsc_unit):
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area
    )
    referral.needs.set([NeedCategory.objects.get(code="child_family")])
    referral_route(referral_id=referral.pk)
    return ReferralEvent.objects.get(referral=referral, kind=ReferralEvent.Kind.ROUTING)


def verify(secret: str, received: dict) -> bool:
    """What a partner does: recompute the signature over ``timestamp.body``."""
    parts = dict(
        item.split("=", 1) for item in received["headers"]["X-Welfare-Signature"].split(",")
    )
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.{received['body']}".encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_the_units_organisation_gets_a_signed_call_retried_after_a_500(partner, routed, ifsc_unit):
    endpoint = WebhookEndpoint.objects.create(organisation=ifsc_unit.organisation, url=partner.url)
    notify_assignment(event_id=routed.pk)
    delivery = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)

    partner.statuses = [500]
    delivery = delivery_send(delivery_id=delivery.pk)
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("pending", 1, 500)

    delivery = delivery_send(delivery_id=delivery.pk)
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("sent", 2, 200)
    assert len(partner.received) == 2
    call = partner.received[-1]
    assert verify(endpoint.secret, call)
    assert not verify("another-secret", call)
    payload = json.loads(call["body"])
    assert payload["type"] == "referral.assigned"
    assert payload["id"] == f"evt_{routed.pk}"
    assert payload["data"]["reference"] == routed.referral.reference
    assert payload["data"]["unit"] == ifsc_unit.code
    assert routed.referral.subject_name_en not in call["body"]  # no personal data
    assert routed.referral.phone.as_e164 not in call["body"]

    delivery_send(delivery_id=delivery.pk)  # already sent: nothing more
    assert len(partner.received) == 2


def test_a_repeated_notification_makes_no_second_call(partner, routed, ifsc_unit):
    WebhookEndpoint.objects.create(organisation=ifsc_unit.organisation, url=partner.url)
    notify_assignment(event_id=routed.pk)
    notify_assignment(event_id=routed.pk)
    assert Delivery.objects.filter(channel=Delivery.Channel.WEBHOOK).count() == 1


def test_other_organisations_and_inactive_endpoints_are_not_called(partner, routed):
    WebhookEndpoint.objects.create(organisation=factories.OrganisationFactory(), url=partner.url)
    notify_assignment(event_id=routed.pk)
    assert not Delivery.objects.filter(channel=Delivery.Channel.WEBHOOK).exists()


def test_an_inactive_endpoint_is_not_called(partner, routed, ifsc_unit):
    WebhookEndpoint.objects.create(
        organisation=ifsc_unit.organisation, url=partner.url, is_active=False
    )
    notify_assignment(event_id=routed.pk)
    assert not Delivery.objects.filter(channel=Delivery.Channel.WEBHOOK).exists()


def test_an_unreachable_endpoint_stays_pending_and_gives_up_after_the_last_attempt(
    routed, ifsc_unit, settings
):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    with PartnerEndpoint() as gone:
        url = gone.url  # the port is closed once the listener stops
    WebhookEndpoint.objects.create(organisation=ifsc_unit.organisation, url=url)
    notify_assignment(event_id=routed.pk)
    delivery = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    delivery = delivery_send(delivery_id=delivery.pk)
    assert delivery.state == "pending"
    assert delivery.last_error
    assert delivery_send(delivery_id=delivery.pk).state == "failed"


# --- Registration through the API, and the update / cancel events -------------------------


def test_a_partner_registers_an_endpoint_and_gets_the_secret_once(client, ifsc_unit, partner):
    token = token_for(client, partner_client(ifsc_unit.organisation))
    created = client.post(
        "/api/v1/webhooks/",
        {"url": partner.url, "events": ["referral.updated"]},
        content_type="application/json",
        **bearer(token),
    )
    assert created.status_code == 201
    body = created.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret
    assert endpoint.organisation == ifsc_unit.organisation
    listed = client.get("/api/v1/webhooks/", **bearer(token)).json()
    assert [e["url"] for e in listed] == [partner.url]
    assert "secret" not in listed[0]

    other = token_for(client, partner_client(factories.OrganisationFactory()))
    assert client.get(f"/api/v1/webhooks/{endpoint.pk}/", **bearer(other)).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{endpoint.pk}/", **bearer(other)).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{endpoint.pk}/", **bearer(token)).status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_an_invalid_registration_is_a_400_with_fields(client, ifsc_unit):
    token = token_for(client, partner_client(ifsc_unit.organisation))
    response = client.post(
        "/api/v1/webhooks/",
        {"url": "file:///etc/passwd", "events": ["referral.exploded"]},
        content_type="application/json",
        **bearer(token),
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"url", "events.0"}  # the first event is bad
    assert not WebhookEndpoint.objects.exists()


def test_status_changes_and_withdrawals_reach_the_units_organisation(
    partner,
    routed,
    ifsc_unit,
    unit_worker,
    referrer,
    eager_tasks,
    django_capture_on_commit_callbacks,
    settings,
):
    from referrals.services import referral_accept, referral_cancel

    WebhookEndpoint.objects.create(organisation=ifsc_unit.organisation, url=partner.url)
    referral = routed.referral
    with django_capture_on_commit_callbacks(execute=True):
        referral_accept(referral_id=referral.pk, actor=unit_worker)
    with django_capture_on_commit_callbacks(execute=True):
        referral_cancel(referral_id=referral.pk, actor=referrer, reason="moved away")
    types = [json.loads(call["body"])["type"] for call in partner.received]
    assert types == ["referral.updated", "referral.cancelled"]
    assert [json.loads(call["body"])["data"]["status"] for call in partner.received] == [
        "accepted",
        "cancelled",
    ]
