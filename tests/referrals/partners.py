"""Helpers for partner API tests: an OAuth2 client for an organisation, and its token."""

import base64

from django.urls import reverse
from oauth2_provider.models import Application

from accounts.models import PartnerClient

SECRET = "partner-test-secret-0123456789"


def partner_client(organisation, scopes=("referrals:read",), intake_team=None) -> Application:
    application = Application.objects.create(
        name=f"{organisation.code} case system",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=SECRET,
    )
    PartnerClient.objects.create(
        application=application,
        organisation=organisation,
        scopes=list(scopes),
        intake_team=intake_team,
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
