"""Signed webhooks to a partner organisation, against a real HTTP listener on loopback.

The listeners are on 127.0.0.1, which the portal refuses to call (welfare_portal/outbound.py):
``loopback_allowed`` lets that one address through, as the setting would a partner's private
link; tests/referrals/test_webhook_delivery.py shows what happens without it."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from referrals.deliveries import delivery_send
from referrals.models import Delivery, ReferralEvent, WebhookEndpoint, new_webhook_secret
from referrals.notifications import notify_assignment
from referrals.services import referral_route
from services.models import NeedCategory
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

LOOPBACK = ["127.0.0.1/32"]


class PartnerEndpoint:
    """A partner's webhook receiver: answers with the queued status codes, then 200. A 3xx
    points back at the receiver (``/moved``), so a redirect that was followed would show.
    Clear ``release`` and each call waits until it is set again: a hanging endpoint."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.release.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                outer.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                outer.arrived.set()
                outer.release.wait(30)
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # noqa: N815 - a followed 302/303 would come as a GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/welfare"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = LOOPBACK


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
    """What a partner does: check the call with the stock Standard Webhooks library."""
    try:
        Webhook(secret).verify(received["body"], received["headers"])
    except WebhookVerificationError:
        return False
    return True


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
    first, call = partner.received
    assert verify(endpoint.secret, first) and verify(endpoint.secret, call)
    assert not verify(new_webhook_secret(), call)
    # One webhook-id for the delivery, on every try: the partner can drop a replay.
    assert first["headers"]["webhook-id"] == call["headers"]["webhook-id"] == f"msg_{delivery.pk}"
    assert call["headers"]["X-Welfare-Event"] == "referral.assigned"
    assert "X-Welfare-Signature" not in call["headers"]
    tampered = {**call, "body": call["body"].replace("referral.assigned", "referral.cancelled")}
    assert not verify(endpoint.secret, tampered)
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
    assert endpoint.secret.startswith("whsec_")  # Standard Webhooks' form
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
