"""A scope taken from a partner client stops its tokens already issued at once (issue 14
item 8), rather than when they expire up to an hour later."""

import pytest
from django.urls import reverse
from oauth2_provider.models import AccessToken, RefreshToken

from accounts.models import PartnerClient
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

LIST = "api:referral-list"
UNITS = "/api/v1/units/"


def admin_sets_scopes(client, admin_user, application, scopes):
    partner = application.partner
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:accounts_partnerclient_change", args=[partner.pk]),
        {
            "application": application.pk,
            "organisation": partner.organisation_id,
            "scopes": scopes,
            "intake_team": "",
        },
    )
    assert response.status_code == 302, response.content
    client.logout()


def test_a_scope_removed_in_the_admin_stops_the_token_at_once(client, ifsc_unit, admin_user):
    application = partner_client(ifsc_unit.organisation, scopes=("referrals:read",))
    token = token_for(client, application, scope="referrals:read")
    assert client.get(reverse(LIST), **bearer(token)).status_code == 200

    admin_sets_scopes(client, admin_user, application, ["directory:read"])

    assert client.get(reverse(LIST), **bearer(token)).status_code in (401, 403)
    assert PartnerClient.objects.get().scopes == ["directory:read"]


def test_tokens_without_the_removed_scope_keep_working(client, ifsc_unit):
    application = partner_client(
        ifsc_unit.organisation, scopes=("referrals:read", "directory:read")
    )
    reader = token_for(client, application, scope="referrals:read")
    directory = token_for(client, application, scope="directory:read")

    partner = application.partner
    partner.scopes = ["directory:read"]
    partner.save()

    assert client.get(reverse(LIST), **bearer(reader)).status_code == 401
    assert client.get(UNITS, **bearer(directory)).status_code == 200
    assert AccessToken.objects.count() == 1


def test_widening_the_scopes_revokes_nothing(client, ifsc_unit):
    application = partner_client(ifsc_unit.organisation, scopes=("referrals:read",))
    token = token_for(client, application, scope="referrals:read")

    partner = application.partner
    partner.scopes = ["referrals:read", "referrals:write"]
    partner.save()

    assert client.get(reverse(LIST), **bearer(token)).status_code == 200


def test_refresh_tokens_of_a_revoked_token_are_revoked_too(client, ifsc_unit):
    application = partner_client(ifsc_unit.organisation, scopes=("referrals:read",))
    token_for(client, application, scope="referrals:read")
    access = AccessToken.objects.get()
    refresh = RefreshToken.objects.create(
        application=application,
        access_token=access,
        user=factories.UserFactory(),
        token="refresh-0123456789",
    )

    partner = application.partner
    partner.scopes = []
    partner.save()

    refresh.refresh_from_db()
    assert refresh.revoked is not None
    assert not AccessToken.objects.exists()


def test_other_clients_tokens_are_untouched(client, ifsc_unit, other_unit):
    mine = partner_client(ifsc_unit.organisation, scopes=("referrals:read",))
    theirs = partner_client(other_unit.organisation, scopes=("referrals:read",))
    token_for(client, mine, scope="referrals:read")
    their_token = token_for(client, theirs, scope="referrals:read")

    partner = mine.partner
    partner.scopes = []
    partner.save()

    assert client.get(reverse(LIST), **bearer(their_token)).status_code == 200
