"""Two organisations end to end: referrals filed through the API, routed to A's unit and to
B's, webhooks registered by each through the API and called on real local listeners. Each
organisation hears of, sees and acts on its own referrals only."""

import json

import pytest

from referrals.models import AccessLog, Referral, Status
from tests import factories
from tests.referrals.api.test_intake import body
from tests.referrals.partners import bearer, partner_client, token_for
from tests.referrals.test_webhooks import LOOPBACK, PartnerEndpoint, verify

pytestmark = pytest.mark.django_db

URL = "/api/v1/referrals/"
EVERYTHING = "referrals:read referrals:write"


@pytest.fixture
def world(client, ssp_area, ifsc_unit, other_unit, settings):
    """A runs the IFSC (child and family), B the ICCMW (mental health); C's liaison system
    files referrals. Each of A and B has a listener registered through the API (on loopback,
    let through for the test: the portal calls public addresses only)."""
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = LOOPBACK
    hospital = factories.OrganisationFactory(code="hospital")
    liaison_team = factories.ServiceUnitFactory(code="hospital-liaison", organisation=hospital)
    liaison = partner_client(hospital, scopes=("referrals:write",), intake_team=liaison_team)
    orgs = {}
    with PartnerEndpoint() as listener_a, PartnerEndpoint() as listener_b:
        for name, unit, listener in (("a", ifsc_unit, listener_a), ("b", other_unit, listener_b)):
            application = partner_client(
                unit.organisation, scopes=("referrals:read", "referrals:write")
            )
            token = token_for(client, application, EVERYTHING)
            registered = client.post(
                "/api/v1/webhooks/",
                {"url": listener.url},
                content_type="application/json",
                **bearer(token),
            )
            assert registered.status_code == 201
            orgs[name] = {
                "unit": unit,
                "client_id": application.client_id,
                "token": token,
                "secret": registered.json()["secret"],
                "listener": listener,
            }
        yield {"liaison": token_for(client, liaison, "referrals:write"), **orgs}


def file(client, token, ssp_area, key, **overrides):
    response = client.post(
        URL,
        body(ssp_area, **overrides),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **bearer(token),
    )
    assert response.status_code == 201, response.content
    return response.json()["reference"]


def events(listener) -> list[tuple[str, str]]:
    return [
        (json.loads(call["body"])["type"], json.loads(call["body"])["data"]["reference"])
        for call in listener.received
    ]


def test_each_organisation_hears_sees_and_acts_on_its_own_referrals_only(
    client, world, ssp_area, eager_tasks, django_capture_on_commit_callbacks
):
    a, b = world["a"], world["b"]
    with django_capture_on_commit_callbacks(execute=True):
        for_a = file(client, world["liaison"], ssp_area, "family-1", needs=["child_family"])
    with django_capture_on_commit_callbacks(execute=True):
        for_b = file(
            client, world["liaison"], ssp_area, "mind-1", needs=["mental_health"], risk_factors=[]
        )
    assert Referral.objects.get(reference=for_a).assigned_unit == a["unit"]
    assert Referral.objects.get(reference=for_b).assigned_unit == b["unit"]

    # Webhooks: each listener was told of its own assignment, signed with its own secret
    # (checked with the stock Standard Webhooks library).
    assert events(a["listener"]) == [("referral.assigned", for_a)]
    assert events(b["listener"]) == [("referral.assigned", for_b)]
    assert verify(a["secret"], a["listener"].received[0])
    assert not verify(b["secret"], a["listener"].received[0])

    # Lists and details.
    for mine, theirs, org in ((for_a, for_b, a), (for_b, for_a, b)):
        listed = client.get(URL, **bearer(org["token"])).json()["results"]
        assert [row["reference"] for row in listed] == [mine]
        assert client.get(f"{URL}{theirs}/", **bearer(org["token"])).status_code == 404
        assert client.get(f"{URL}{mine}/", **bearer(org["token"])).status_code == 200

    # Actions: A cannot touch B's referral; its own acceptance reaches A's listener only.
    b_version = Referral.objects.get(reference=for_b).version
    refused = client.post(
        f"{URL}{for_b}/accept", HTTP_IF_MATCH=f'"{b_version}"', **bearer(a["token"])
    )
    assert refused.status_code == 404
    assert Referral.objects.get(reference=for_b).status == Status.ASSIGNED
    a_version = Referral.objects.get(reference=for_a).version
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(
            f"{URL}{for_a}/accept", HTTP_IF_MATCH=f'"{a_version}"', **bearer(a["token"])
        )
    assert accepted.status_code == 200
    assert events(a["listener"]) == [("referral.assigned", for_a), ("referral.updated", for_a)]
    assert events(b["listener"]) == [("referral.assigned", for_b)]

    # The access log: what A's client read is A's referral only.
    read_by_a = AccessLog.objects.filter(detail=f"client {a['client_id']}")
    assert set(read_by_a.values_list("referral__reference", flat=True)) == {for_a}
