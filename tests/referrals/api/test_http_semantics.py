"""The API speaks HTTP as designed: the detail's ``ETag`` is the version writes expect in
``If-Match`` (issue 14 item 20), and each partner read names its client in the access log
(issue 14 item 13)."""

import pytest
from django.urls import reverse

from accounts.models import PartnerClient
from referrals.models import AccessLog, Referral, Status
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def assigned(ssp_area, referrer, caring_team, ifsc_unit):
    return factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        assigned_unit=ifsc_unit,
        status=Status.ASSIGNED,
        reference="SSP-2026-000101",
    )


@pytest.fixture
def application(ifsc_unit):
    return partner_client(ifsc_unit.organisation, scopes=("referrals:read", "referrals:write"))


@pytest.fixture
def auth(client, application):
    return bearer(token_for(client, application, scope="referrals:read referrals:write"))


def detail(client, referral, auth, **headers):
    return client.get(reverse("api:referral-detail", args=[referral.reference]), **auth, **headers)


# --- ETag, If-None-Match, If-Match -----------------------------------------------------------


def test_the_detail_sends_the_version_as_its_etag(client, assigned, auth):
    response = detail(client, assigned, auth)
    assert response.status_code == 200
    assert response["ETag"] == f'"{assigned.version}"'
    assert response.json()["version"] == assigned.version


def test_the_etag_is_what_if_match_takes_and_a_write_answers_the_next_one(client, assigned, auth):
    tag = detail(client, assigned, auth)["ETag"]
    accepted = client.post(
        reverse("api:accept", args=[assigned.reference]), HTTP_IF_MATCH=tag, **auth
    )
    assert accepted.status_code == 200, accepted.content
    new_tag = accepted["ETag"]
    assert new_tag == f'"{Referral.objects.get(pk=assigned.pk).version}"' != tag
    assert detail(client, assigned, auth)["ETag"] == new_tag
    started = client.post(
        reverse("api:status", args=[assigned.reference]),
        {"status": "in_progress"},
        content_type="application/json",
        HTTP_IF_MATCH=new_tag,
        **auth,
    )
    assert started.status_code == 200, started.content
    assert started["ETag"] == f'"{Referral.objects.get(pk=assigned.pk).version}"'
    stale = client.post(
        reverse("api:decline", args=[assigned.reference]),
        {"reason": "full"},
        content_type="application/json",
        HTTP_IF_MATCH=tag,
        **auth,
    )
    assert stale.status_code == 409


@pytest.mark.parametrize("form", ['"{v}"', 'W/"{v}"', '"0", "{v}"', "*"])
def test_if_none_match_with_the_current_etag_is_a_304_and_logs_no_read(
    client, assigned, auth, form
):
    response = detail(client, assigned, auth, HTTP_IF_NONE_MATCH=form.format(v=assigned.version))
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == f'"{assigned.version}"'
    assert not AccessLog.objects.exists()  # nothing was shown: a 304 reveals nothing new


def test_if_none_match_with_an_old_etag_answers_in_full_and_logs_it(client, assigned, auth):
    response = detail(client, assigned, auth, HTTP_IF_NONE_MATCH=f'"{assigned.version - 1}"')
    assert response.status_code == 200
    assert response.json()["reference"] == assigned.reference
    assert AccessLog.objects.filter(referral=assigned).count() == 1


def test_if_none_match_never_reveals_another_organisations_referral(client, assigned, ssp_area):
    other = factories.ServiceUnitFactory(code="ifsc-other", catchment_sub_districts=[ssp_area])
    outsider = bearer(token_for(client, partner_client(other.organisation)))
    response = detail(client, assigned, outsider, HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 404
    assert not response.has_header("ETag")


@pytest.mark.parametrize("tag", ['"²"', '""', "W/", '"12345678901"', '"\u0663"'])
def test_an_if_match_that_names_no_version_is_a_400(client, assigned, auth, tag):
    response = client.post(
        reverse("api:accept", args=[assigned.reference]), HTTP_IF_MATCH=tag, **auth
    )
    assert response.status_code == 400, (tag, response.content)
    assert "If-Match" in response.json()["fields"]
    assert Referral.objects.get(pk=assigned.pk).status == Status.ASSIGNED


# --- The access log's client column ----------------------------------------------------------


def test_list_and_detail_reads_name_the_partner_client(client, assigned, auth, application):
    partner = PartnerClient.objects.get(application=application)
    client.get(reverse("api:referral-list"), **auth)
    detail(client, assigned, auth)
    logs = AccessLog.objects.filter(referral=assigned)
    assert logs.count() == 2
    assert {(log.user_id, log.client_id) for log in logs} == {(None, partner.pk)}


def test_a_signed_in_persons_read_has_no_client(client, assigned, unit_worker):
    client.force_login(unit_worker)
    assert detail(client, assigned, {}).status_code == 200
    log = AccessLog.objects.get(referral=assigned)
    assert (log.user, log.client) == (unit_worker, None)


def test_the_admin_finds_a_clients_reads_by_client_id_and_filters_by_client(
    client, assigned, auth, application, admin_user
):
    detail(client, assigned, auth)
    client.force_login(admin_user)
    AccessLog.objects.create(user=admin_user, referral=assigned, channel="page", detail="admin")
    url = reverse("admin:referrals_accesslog_changelist")
    found = client.get(url, {"q": application.client_id})
    assert found.status_code == 200
    assert found.context["cl"].result_count == 1
    partner = PartnerClient.objects.get(application=application)
    filtered = client.get(url, {"client__id__exact": partner.pk})
    assert filtered.status_code == 200
    assert filtered.context["cl"].result_count == 1


def test_the_migration_fills_the_client_of_earlier_reads_from_detail(assigned, application):
    from importlib import import_module

    from django.apps import apps

    partner = PartnerClient.objects.get(application=application)
    named = f"client {application.client_id}"
    rows = [
        AccessLog.objects.create(referral=assigned, channel="api", detail=named),
        AccessLog.objects.create(
            referral=assigned, channel="api", detail=f"{named}, identity number in full"
        ),
        AccessLog.objects.create(referral=assigned, channel="api", detail=f"{named}0"),
        AccessLog.objects.create(referral=assigned, channel="api", detail="session"),
    ]
    migration = import_module("referrals.migrations.0012_access_log_client")
    migration.client_from_detail(apps, None)
    filled = [AccessLog.objects.get(pk=row.pk).client_id for row in rows]
    assert filled == [partner.pk, partner.pk, None, None]
