"""The partner API: OAuth2 client credentials, organisation scope, errors, sync, schema."""

import base64
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from accounts.models import PartnerClient
from referrals.models import AccessLog, Referral, Status
from tests import factories

pytestmark = pytest.mark.django_db

SECRET = "partner-test-secret-0123456789"


def partner_client(organisation, scopes=("referrals:read",)) -> Application:
    application = Application.objects.create(
        name=f"{organisation.code} case system",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=SECRET,
    )
    PartnerClient.objects.create(
        application=application, organisation=organisation, scopes=list(scopes)
    )
    return application


def token_for(client, application, scope="referrals:read") -> str:
    basic = base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()
    response = client.post(
        reverse("oauth2_token"),
        {"grant_type": "client_credentials", "scope": scope},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def two_organisations(ssp_area, referrer, caring_team):
    """Organisation A runs ``unit_a``, B runs ``unit_b``; each has two referrals."""
    unit_a = factories.ServiceUnitFactory(code="ifsc-a", catchment_sub_districts=[ssp_area])
    unit_b = factories.ServiceUnitFactory(code="ifsc-b", catchment_sub_districts=[ssp_area])

    def referrals(unit, prefix):
        return [
            factories.ReferralFactory(
                referrer=referrer,
                referring_team=caring_team,
                assigned_unit=unit,
                status=Status.ASSIGNED,
                reference=f"{prefix}-2026-00000{n}",
            )
            for n in (1, 2)
        ]

    return {
        "a": (unit_a.organisation, referrals(unit_a, "AAA")),
        "b": (unit_b.organisation, referrals(unit_b, "BBB")),
    }


def test_a_partner_sees_only_its_own_units_referrals(client, two_organisations):
    organisation, mine = two_organisations["a"]
    token = token_for(client, partner_client(organisation))
    response = client.get(reverse("api:referral-list"), **bearer(token))
    assert response.status_code == 200
    assert {row["reference"] for row in response.json()["results"]} == {r.reference for r in mine}
    assert AccessLog.objects.filter(channel="api", user=None).count() == 2


def test_another_organisations_reference_is_404(client, two_organisations):
    organisation, _mine = two_organisations["a"]
    _other, theirs = two_organisations["b"]
    token = token_for(client, partner_client(organisation))
    response = client.get(
        reverse("api:referral-detail", args=[theirs[0].reference]), **bearer(token)
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "Not found, or not yours.",
        "fields": {},
    }
    assert not AccessLog.objects.exists()


def test_the_detail_is_full_masked_and_logged(client, two_organisations):
    organisation, mine = two_organisations["a"]
    mine[0].id_type, mine[0].id_number_masked = "hkid", "G123***(A)"
    mine[0].save()
    token = token_for(client, partner_client(organisation))
    response = client.get(reverse("api:referral-detail", args=[mine[0].reference]), **bearer(token))
    body = response.json()
    assert body["subject_name_en"] == "Chan Tai Man"
    assert body["identity_number"] == "G123***(A)"
    assert "id_number_encrypted" not in body and "id_number_hash" not in body
    log = AccessLog.objects.get(referral=mine[0])
    assert log.channel == "api" and log.detail.startswith("client ")


def test_no_token_a_bad_token_or_an_expired_one_is_401(client, two_organisations):
    organisation, _mine = two_organisations["a"]
    url = reverse("api:referral-list")
    assert client.get(url).status_code == 401
    assert client.get(url, **bearer("not-a-token")).status_code == 401
    token = token_for(client, partner_client(organisation))
    assert client.get(url, **bearer(token)).status_code == 200
    expired = AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert expired == 1
    response = client.get(url, **bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_a_token_without_the_scope_is_403(client, two_organisations):
    organisation, _mine = two_organisations["a"]
    application = partner_client(organisation, scopes=("directory:read", "referrals:read"))
    token = token_for(client, application, scope="directory:read")
    response = client.get(reverse("api:referral-list"), **bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_a_client_cannot_get_a_scope_it_was_not_given(client, two_organisations):
    organisation, _mine = two_organisations["a"]
    application = partner_client(organisation, scopes=("directory:read",))
    basic = base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()
    response = client.post(
        reverse("oauth2_token"),
        {"grant_type": "client_credentials", "scope": "referrals:read"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_an_application_without_an_organisation_sees_nothing(client, two_organisations):
    application = Application.objects.create(
        name="orphan",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=SECRET,
    )
    basic = base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()
    response = client.post(
        reverse("oauth2_token"),
        {"grant_type": "client_credentials", "scope": "referrals:read"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 400


def test_cursor_pages_give_every_row_once_and_updated_after_picks_up_changes(
    client, two_organisations, referrer, caring_team
):
    organisation, mine = two_organisations["a"]
    unit = mine[0].assigned_unit
    factories.ReferralFactory.create_batch(
        5, referrer=referrer, referring_team=caring_team, assigned_unit=unit, status="accepted"
    )
    token = token_for(client, partner_client(organisation))
    seen, url = [], reverse("api:referral-list") + "?page_size=3"
    while url:
        body = client.get(url, **bearer(token)).json()
        seen += [row["reference"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 7
    last_sync = Referral.objects.order_by("-updated_at").first().updated_at

    Referral.objects.filter(pk=mine[0].pk).update(
        status=Status.ACCEPTED, updated_at=last_sync + timedelta(seconds=5)
    )
    body = client.get(
        reverse("api:referral-list"),
        {"updated_after": last_sync.isoformat()},
        **bearer(token),
    ).json()
    assert [row["reference"] for row in body["results"]] == [mine[0].reference]
    assert body["results"][0]["status"] == "accepted"


def test_staff_use_the_browsable_api_with_their_own_visibility(
    client, unit_worker, assigned_referral, two_organisations
):
    client.force_login(unit_worker)
    body = client.get(reverse("api:referral-list")).json()
    assert [row["reference"] for row in body["results"]] == [assigned_referral.reference]


def test_a_bad_filter_is_a_400_with_field_messages(client, two_organisations):
    organisation, _mine = two_organisations["a"]
    token = token_for(client, partner_client(organisation))
    response = client.get(reverse("api:referral-list"), {"status": "bogus"}, **bearer(token))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and "status" in body["fields"]


def test_the_schema_and_the_docs_are_served_locally(client, admin_user):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/referrals/{reference}/" in schema.json()["paths"]
    docs = client.get(reverse("api-docs")).content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()
