"""Lockout (django-axes): repeated failed passwords or codes lock out the address that made
them, whatever usernames it tries, and the username from that address only: whoever knows
a username cannot keep its owner out (issue 14 item 12)."""

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


def test_an_attacker_locks_the_username_out_from_the_attackers_address_only(client, referrer):
    for _ in range(LIMIT - 1):
        response = attempt(client, "referrer", "wrong", ip="203.0.113.66")
        assert response.status_code == 200  # the form again, with its error
    response = attempt(client, "referrer", "wrong", ip="203.0.113.66")
    assert response.status_code == 429
    # From the attacker's address even the right password is refused...
    response = attempt(client, "referrer", TEST_PASSWORD, ip="203.0.113.66")
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert "Try again in 15 minutes." in response.content.decode()
    assert not client.get(reverse("home")).wsgi_request.user.is_authenticated
    # ...but the real person, from an address that has not failed, signs in.
    response = attempt(client, "referrer", TEST_PASSWORD, ip="198.51.100.7")
    assert response.status_code == 302
    assert client.get(reverse("home"), REMOTE_ADDR="198.51.100.7").status_code == 200


def test_failures_spread_over_addresses_lock_no_address_and_not_the_person(client, referrer):
    for ip in ("203.0.113.1", "203.0.113.2"):
        for _ in range(LIMIT - 1):
            assert attempt(client, "referrer", "wrong", ip=ip).status_code == 200
    # 2 × (limit - 1) failures for the username: below the limit at each address.
    assert attempt(client, "referrer", TEST_PASSWORD, ip="198.51.100.7").status_code == 302


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
    assert attempt(client, victim.username, TEST_PASSWORD, ip="203.0.113.9").status_code == 429
    # The victim, from their own address, is not locked out.
    assert attempt(client, victim.username, TEST_PASSWORD, ip="198.51.100.7").status_code == 302


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
    # The half-signed-in session is gone, and from that address the password no longer helps.
    assert client.get(reverse("home"))["Location"].startswith(LOGIN)
    response = attempt(client, district_officer.username, TEST_PASSWORD, ip="203.0.113.1")
    assert response.status_code == 429
    assert AccessAttempt.objects.filter(username=district_officer.username).exists()
    # From another address the password leads to the code step again, nothing further.
    response = attempt(client, district_officer.username, TEST_PASSWORD, ip="198.51.100.7")
    assert response.status_code == 302
    assert client.get("/queue/", REMOTE_ADDR="198.51.100.7")["Location"].startswith(verify)
    assert totp_code(device)  # the device itself is untouched


def test_wrong_backup_codes_count_towards_the_lockout(client, settings, district_officer):
    from accounts.two_factor import issue_backup_codes

    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    authenticator(district_officer)
    issue_backup_codes(user=district_officer)
    attempt(client, district_officer.username, TEST_PASSWORD)
    verify = reverse("two_factor:verify")
    for _ in range(LIMIT - 1):
        response = client.post(verify, {"backup_code": "aaaa-aaaa"}, REMOTE_ADDR="203.0.113.1")
        assert "That backup code is not right" in response.content.decode()
    response = client.post(verify, {"backup_code": "aaaa-aaaa"}, REMOTE_ADDR="203.0.113.1")
    assert response.status_code == 429
    assert client.get(reverse("home"))["Location"].startswith(LOGIN)


def test_wrong_enrolment_codes_count_towards_the_lockout(client, district_officer):
    from accounts.two_factor import reset_two_factor

    reset_two_factor(user=district_officer, issued_by=None)
    attempt(client, district_officer.username, TEST_PASSWORD)
    setup = reverse("two_factor:setup")
    wrong = {"enrolment_code": "AAAA-AAAA-AAAA-AAAA"}
    for _ in range(LIMIT - 1):
        response = client.post(setup, wrong, REMOTE_ADDR="203.0.113.1")
        assert "That enrolment code is not right" in response.content.decode()
    assert client.post(setup, wrong, REMOTE_ADDR="203.0.113.1").status_code == 429
    assert client.get(reverse("home"))["Location"].startswith(LOGIN)


def test_the_partner_token_endpoint_is_not_counted(client):
    for _ in range(LIMIT + 1):
        response = client.post("/o/token/", {"grant_type": "client_credentials"})
        assert response.status_code in (400, 401)
    assert not AccessAttempt.objects.exists()
