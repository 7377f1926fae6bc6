"""PostgreSQL unreachable: a 503 with Retry-After, the page for people, the JSON error shape
under /api/ — whether a view or a middleware met the error. (The real outage, a restarted
cluster under gunicorn, is in tests/integration/test_faults.py.)"""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(referrer):
    client = Client(raise_request_exception=False)
    client.force_login(referrer)
    return client


def down(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


@pytest.mark.parametrize(
    "error",
    [
        OperationalError,
        InterfaceError,
        # Unwrapped, as psycopg raises it when closing a server-side cursor fails (a form's
        # choices iterated by the template while PostgreSQL restarted: a 500 before).
        connection.Database.OperationalError,
        connection.Database.InterfaceError,
    ],
)
def test_a_view_meeting_a_database_error_answers_503_with_a_page(browser, error):
    with mock.patch("referrals.web.views.referrals_visible_to", side_effect=error("gone")):
        response = browser.get("/referrals/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("text/html")
    assert b"Briefly unavailable" in response.content
    assert b"<script" not in response.content


def test_the_page_is_in_the_readers_language(browser):
    with mock.patch("referrals.web.views.referrals_visible_to", side_effect=down):
        response = browser.get("/referrals/", HTTP_ACCEPT_LANGUAGE="zh-hant")

    assert response.status_code == 503
    assert b'lang="zh-Hant-HK"' in response.content


def test_a_middleware_meeting_a_database_error_answers_503_too(browser):
    """Sessions and authentication middleware run outside the view: handler500 sees it."""
    with mock.patch("accounts.middleware.SessionActivityMiddleware._check", side_effect=down):
        page = browser.get("/referrals/", HTTP_ACCEPT_LANGUAGE="zh-hant")
        api = browser.get("/api/v1/referrals/")

    assert page.status_code == api.status_code == 503
    assert b'lang="zh-Hant-HK"' in page.content
    assert api.json()["error"] == "unavailable" and api["Retry-After"] == "30"


def test_the_api_answers_503_in_its_error_shape(client):
    with mock.patch(
        "oauth2_provider.oauth2_validators.OAuth2Validator.validate_bearer_token", side_effect=down
    ):
        response = Client(raise_request_exception=False).get(
            "/api/v1/referrals/", HTTP_AUTHORIZATION="Bearer abc", HTTP_ACCEPT_LANGUAGE="en"
        )

    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"error", "message", "fields"} and body["error"] == "unavailable"
    assert body["message"] == "The service is briefly unavailable. Try again in a minute."
    assert response["Retry-After"] == "30"


def test_other_errors_are_still_500s(browser):
    with mock.patch("referrals.web.views.referrals_visible_to", side_effect=RuntimeError("bug")):
        response = browser.get("/referrals/")

    assert response.status_code == 500
