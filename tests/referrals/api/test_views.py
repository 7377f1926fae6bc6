"""The partner API: OAuth2 client credentials, organisation scope, errors, sync, schema."""

import base64
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from referrals.models import AccessLog, Referral, Status
from tests import factories
from tests.referrals.partners import SECRET, bearer, partner_client, token_for

pytestmark = pytest.mark.django_db


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
    partner = partner_client(organisation)
    token = token_for(client, partner)
    before = timezone.now()
    response = client.get(reverse("api:referral-list"), **bearer(token))
    assert response.status_code == 200
    assert {row["reference"] for row in response.json()["results"]} == {r.reference for r in mine}
    # One row per referral shown, as the page's one INSERT wrote them (unnest on PostgreSQL).
    logs = AccessLog.objects.filter(channel="api", user=None)
    assert sorted(logs.values_list("referral_id", flat=True)) == sorted(r.pk for r in mine)
    assert {log.client_id for log in logs} == {partner.partner.pk}
    assert all(log.detail.startswith("client ") for log in logs)
    assert all(before <= log.at <= timezone.now() for log in logs)


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
    mine[0].id_type, mine[0].id_number_masked = "hkid", "G12****(*)"
    mine[0].save()
    token = token_for(client, partner_client(organisation))
    response = client.get(reverse("api:referral-detail", args=[mine[0].reference]), **bearer(token))
    body = response.json()
    assert body["subject_name_en"] == "Chan Tai Man"
    assert body["identity_number"] == "G12****(*)"
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
    last_sync = body["until"]

    changed = Referral.objects.get(pk=mine[0].pk)
    changed.status = Status.ACCEPTED
    changed.save()
    body = client.get(
        reverse("api:referral-list"), {"updated_after": last_sync}, **bearer(token)
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


# --- Actions -------------------------------------------------------------------------------


@pytest.fixture
def writer(client, two_organisations):
    organisation, mine = two_organisations["a"]
    application = partner_client(organisation, scopes=("referrals:read", "referrals:write"))
    return bearer(token_for(client, application, scope="referrals:read referrals:write")), mine


def test_the_partner_accepts_with_the_version_it_saw(client, writer):
    auth, mine = writer
    referral = mine[0]
    url = reverse("api:accept", args=[referral.reference])
    response = client.post(url, HTTP_IF_MATCH=f'"{referral.version}"', **auth)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    assert response["ETag"] == f'"{referral.version + 1}"'
    event = referral.events.get()
    assert event.actor is None and event.details["via"].startswith("api client ")

    stale = client.post(
        reverse("api:decline", args=[referral.reference]),
        {"reason": "full", "version": referral.version},
        content_type="application/json",
        **auth,
    )
    assert stale.status_code == 409
    assert stale.json()["error"] == "conflict"
    assert Referral.objects.get(pk=referral.pk).status == Status.ACCEPTED


def test_decline_needs_a_reason_and_then_moves_on(client, writer):
    auth, mine = writer
    referral = mine[0]
    url = reverse("api:decline", args=[referral.reference])
    missing = client.post(
        url, {"version": referral.version}, content_type="application/json", **auth
    )
    assert missing.status_code == 400
    assert "reason" in missing.json()["fields"]
    response = client.post(
        url,
        {"version": referral.version, "reason": "no capacity"},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200
    assert Referral.objects.get(pk=referral.pk).status == Status.REJECTED


def test_status_updates_follow_the_lifecycle(client, writer):
    auth, mine = writer
    referral = mine[0]

    def status(body):
        current = Referral.objects.get(pk=referral.pk)
        return client.post(
            reverse("api:status", args=[referral.reference]),
            {"version": current.version, **body},
            content_type="application/json",
            **auth,
        )

    assert status({"status": "in_progress"}).status_code == 400  # not accepted yet
    client.post(
        reverse("api:accept", args=[referral.reference]),
        {"version": referral.version},
        content_type="application/json",
        **auth,
    )
    assert status({"status": "in_progress"}).json()["status"] == "in_progress"
    assert status({"status": "on_hold"}).status_code == 400  # a reason is needed
    assert status({"status": "on_hold", "reason": "in hospital"}).json()["status"] == "on_hold"
    assert status({"status": "in_progress"}).json()["status"] == "in_progress"
    # Only completion writes the summary the referrer reads (issue 14 item 3).
    early = status({"status": "on_hold", "reason": "away", "outcome": "Case closed, all done"})
    assert early.status_code == 400
    assert early.json()["error"] == "outcome_not_allowed"
    unchanged = Referral.objects.get(pk=referral.pk)
    assert (unchanged.status, unchanged.outcome_summary) == (Status.IN_PROGRESS, "")
    done = status({"status": "completed", "outcome": "Meals arranged", "services_provided": "x"})
    assert done.json()["status"] == "completed"
    assert Referral.objects.get(pk=referral.pk).outcome_summary == "Meals arranged"


def test_writing_needs_the_write_scope_and_never_reaches_other_organisations(
    client, two_organisations, writer
):
    auth, _mine = writer
    _other, theirs = two_organisations["b"]
    response = client.post(
        reverse("api:accept", args=[theirs[0].reference]),
        {"version": theirs[0].version},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 404
    organisation, mine = two_organisations["a"]
    reader = bearer(token_for(client, partner_client(organisation)))
    response = client.post(
        reverse("api:accept", args=[mine[1].reference]),
        {"version": mine[1].version},
        content_type="application/json",
        **reader,
    )
    assert response.status_code == 403
    assert Referral.objects.get(pk=mine[1].pk).status == Status.ASSIGNED
    assert Referral.objects.get(pk=theirs[0].pk).status == Status.ASSIGNED


def test_a_write_without_a_version_is_refused(client, writer):
    auth, mine = writer
    response = client.post(reverse("api:accept", args=[mine[0].reference]), **auth)
    assert response.status_code == 400
    assert "version" in response.json()["fields"]


def test_each_client_has_its_own_rate_limit(client, two_organisations, settings):
    settings.API_RATE_LIMIT = "3/min"
    organisation_a, _mine = two_organisations["a"]
    organisation_b, _theirs = two_organisations["b"]
    token_a = token_for(client, partner_client(organisation_a))
    token_b = token_for(client, partner_client(organisation_b))
    url = reverse("api:referral-list")
    assert [client.get(url, **bearer(token_a)).status_code for _ in range(3)] == [200] * 3
    limited = client.get(url, **bearer(token_a))
    assert limited.status_code == 429
    assert limited.json()["error"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["message"].startswith("Too many requests. Try again in ")
    in_chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hant", **bearer(token_a))
    assert in_chinese.json()["message"].startswith("請求過多")  # DRF's own has no zh-Hant
    assert client.get(url, **bearer(token_b)).status_code == 200


def test_the_detail_reads_the_referral_once_whatever_its_timeline(
    client, two_organisations, django_assert_num_queries
):
    from referrals.models import ReferralEvent

    organisation, mine = two_organisations["a"]
    auth = bearer(token_for(client, partner_client(organisation)))
    url = reverse("api:referral-detail", args=[mine[0].reference])
    client.get(url, **auth)
    # The token, the referral, its needs, its tasks with their need codes (issue 16), its
    # events, the access log: the same for any timeline.
    with django_assert_num_queries(7) as few:
        client.get(url, **auth)
    ReferralEvent.objects.bulk_create(
        ReferralEvent(referral=mine[0], to_status="assigned", unit=mine[0].assigned_unit)
        for _ in range(10)
    )
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(url, **auth).json()["timeline"]) == 10


@pytest.mark.parametrize(
    ("forged", "status"),
    [
        ("p=garbage", 404),
        ("p=2026-11-23 10:00:00", 404),  # no offset
        ("p=0001-01-01T00:00:00+08:00", 404),  # before the first representable UTC time
        ("p=5349-11-06 10:02:26-17:20", 200),  # odd, but a time: compared in UTC, no rows
    ],
)
def test_a_forged_cursor_is_refused_or_read_never_a_server_error(
    client, two_organisations, forged, status
):
    organisation, _mine = two_organisations["a"]
    token = token_for(client, partner_client(organisation))
    cursor = base64.b64encode(forged.encode()).decode()
    response = client.get(reverse("api:referral-list"), {"cursor": cursor}, **bearer(token))
    assert response.status_code == status
    if status == 404:
        assert response.json()["error"] == "not_found"
    else:
        assert response.json()["results"] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("updated_after", "5349-11-06T10:02:26-17:20"),
        ("updated_after", "0001-01-01T00:00:00+08:00"),
        ("until", "0001-01-01T00:00:00+08:00"),
        ("until", "2026-02-30T00:00:00Z"),
    ],
)
def test_an_unusable_time_filter_is_a_400(client, two_organisations, name, value):
    organisation, _mine = two_organisations["a"]
    token = token_for(client, partner_client(organisation))
    response = client.get(reverse("api:referral-list"), {name: value}, **bearer(token))
    if value.startswith("5349"):  # far future, odd offset: valid, and simply matches nothing
        assert response.status_code == 200 and response.json()["results"] == []
        return
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [name]
