"""Lockout (django-axes): repeated failed passwords or codes lock out the username from any
address, and the address whatever usernames it tries."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from tests.factories import TEST_PASSWORD, UserFactory
from tests.two_factor import authenticator, totp_code

pytestmark = [pytest.mark.django_db, pytest.mark.real_2fa]

LIMIT = 5
LOGIN = "/login/"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def attempt(client, username, password, ip="203.0.113.1", **extra):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def test_five_wrong_passwords_lock_the_username_out_even_from_other_addresses(client, referrer):
    for n in range(LIMIT - 1):
        response = attempt(client, "referrer", "wrong", ip=f"203.0.113.{n + 1}")
        assert response.status_code == 200  # the form again, with its error
    response = attempt(client, "referrer", "wrong", ip="203.0.113.50")
    assert response.status_code == 429
    # Now even the right password, from a fresh address, is refused.
    response = attempt(client, "referrer", TEST_PASSWORD, ip="198.51.100.7")
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert "Try again in 15 minutes." in response.content.decode()
    assert not client.get(reverse("home")).wsgi_request.user.is_authenticated


def test_five_failures_from_one_address_lock_it_out_whatever_the_username(client, referrer):
    for n in range(LIMIT):
        attempt(client, f"someone-{n}", "wrong", ip="203.0.113.9")
    assert attempt(client, "referrer", TEST_PASSWORD, ip="203.0.113.9").status_code == 429
    # The person is not locked out elsewhere: the address is.
    response = attempt(client, "referrer", TEST_PASSWORD, ip="198.51.100.7")
    assert response.status_code == 302


def test_the_lockout_page_is_in_the_readers_language(client, referrer):
    for _ in range(LIMIT):
        attempt(client, "referrer", "wrong")
    response = attempt(client, "referrer", "wrong", HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert response.status_code == 429
    html = response.content.decode()
    assert '<html lang="zh-Hant-HK">' in html
    assert 'id="lockout"' in html


def test_a_success_before_the_limit_lets_the_person_in_but_clears_no_failures(client, referrer):
    victim = UserFactory(username="victim")
    for _ in range(LIMIT - 1):
        attempt(client, victim.username, "wrong", ip="203.0.113.9")
    # Signing in to one's own account from the same address works...
    assert attempt(client, "referrer", TEST_PASSWORD, ip="203.0.113.9").status_code == 302
    client.post(reverse("logout"))
    # ...but does not wipe the address's (or the victim's) failures: one more locks it.
    assert attempt(client, victim.username, "wrong", ip="203.0.113.9").status_code == 429
    assert attempt(client, victim.username, TEST_PASSWORD, ip="198.51.100.7").status_code == 429


def test_a_few_typos_then_the_right_password_signs_in(client, referrer):
    for _ in range(2):
        attempt(client, "referrer", "wrong")
    response = attempt(client, "referrer", TEST_PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_wrong_two_factor_codes_count_towards_the_lockout(client, settings, district_officer):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the device's own back-off is tested elsewhere
    device = authenticator(district_officer)
    attempt(client, district_officer.username, TEST_PASSWORD)
    verify = reverse("two_factor:verify")
    for _ in range(LIMIT - 1):
        response = client.post(verify, {"token": "000000"}, REMOTE_ADDR="203.0.113.1")
        assert response.status_code == 200
    response = client.post(verify, {"token": "000000"}, REMOTE_ADDR="203.0.113.1")
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    # The half-signed-in session is gone, and the right code no longer helps.
    assert client.get(reverse("home"))["Location"].startswith(LOGIN)
    response = attempt(client, district_officer.username, TEST_PASSWORD, ip="198.51.100.7")
    assert response.status_code == 429
    assert AccessAttempt.objects.filter(username=district_officer.username).exists()
    assert totp_code(device)  # the device itself is untouched


def test_the_partner_token_endpoint_is_not_counted(client):
    for _ in range(LIMIT + 1):
        response = client.post("/o/token/", {"grant_type": "client_credentials"})
        assert response.status_code in (400, 401)
    assert not AccessAttempt.objects.exists()
