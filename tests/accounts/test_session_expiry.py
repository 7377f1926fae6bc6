"""Sessions end after SESSION_IDLE_SECONDS without a request, and SESSION_COOKIE_AGE after
sign-in whatever the activity."""

import time

import pytest
from django.urls import reverse

from accounts.middleware import SESSION_SEEN_KEY, SESSION_STARTED_KEY

pytestmark = pytest.mark.django_db


def _shift(client, key, seconds_ago):
    session = client.session
    session[key] = int(time.time()) - seconds_ago
    session.save()


def test_a_session_idle_longer_than_the_limit_is_logged_out(client, settings, district_officer):
    settings.SESSION_IDLE_SECONDS = 30 * 60
    client.force_login(district_officer)
    assert client.get("/queue/").status_code == 200
    _shift(client, SESSION_SEEN_KEY, 30 * 60 + 5)
    response = client.get("/queue/")
    assert response["Location"].startswith(reverse("login"))
    page = client.get(response["Location"])
    assert "logged out after a period of inactivity" in page.content.decode()
    assert not page.wsgi_request.user.is_authenticated


def test_activity_within_the_limit_keeps_the_session(client, settings, referrer):
    settings.SESSION_IDLE_SECONDS = 30 * 60
    client.force_login(referrer)
    _shift(client, SESSION_SEEN_KEY, 29 * 60)
    assert client.get(reverse("home")).status_code == 200
    # The request moved the stamp on, so another 29 minutes later the session is still open.
    assert int(time.time()) - client.session[SESSION_SEEN_KEY] < 5
    _shift(client, SESSION_SEEN_KEY, 29 * 60)
    assert client.get(reverse("home")).status_code == 200


def test_the_stamp_is_written_at_most_once_a_minute(client, referrer):
    client.force_login(referrer)
    _shift(client, SESSION_SEEN_KEY, 30)
    before = client.session[SESSION_SEEN_KEY]
    response = client.get(reverse("home"))
    assert not response.wsgi_request.session.modified
    assert client.session[SESSION_SEEN_KEY] == before


def test_the_absolute_cap_ends_even_an_active_session(client, settings, referrer):
    settings.SESSION_COOKIE_AGE = 8 * 60 * 60
    client.force_login(referrer)
    _shift(client, SESSION_STARTED_KEY, 8 * 60 * 60 + 5)
    assert client.get(reverse("home"))["Location"].startswith(reverse("login"))


@pytest.mark.real_2fa
def test_a_real_login_sets_the_stamps(client, referrer):
    from tests.factories import TEST_PASSWORD

    client.post(reverse("login"), {"username": "referrer", "password": TEST_PASSWORD})
    client.get(reverse("home"))
    session = client.session
    assert session[SESSION_STARTED_KEY] == pytest.approx(time.time(), abs=5)
    assert session[SESSION_SEEN_KEY] == pytest.approx(time.time(), abs=5)
