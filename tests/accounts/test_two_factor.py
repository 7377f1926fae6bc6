"""Two-factor authentication: compulsory for officers, supervisors and administrators, optional
for the others; the code step after the password and the set-up page."""

import re
from base64 import b32decode

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor import reset_two_factor
from tests.factories import TEST_PASSWORD
from tests.two_factor import authenticator, totp_code

pytestmark = [pytest.mark.django_db, pytest.mark.real_2fa]

REQUIRED = ["district_officer", "unit_supervisor", "admin_user"]
OPTIONAL = ["referrer", "unit_worker"]
GATED_PAGES = ["/", "/queue/", "/dashboard/", "/admin/", "/referrals/", "/account/security/"]
VERIFY = "/account/two-factor/verify/"
SETUP = "/account/two-factor/setup/"


def log_in(client, user):
    response = client.post(reverse("login"), {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def _secret_from_page(html: str) -> str:
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1)
    return secret.replace(" ", "")


def enrol_with_code(client, user) -> None:
    """What a person whose enrolment needs a code does first: the administrator issues one,
    the person types it on the set-up page."""
    issued = reset_two_factor(user=user, issued_by=None)
    response = client.post(SETUP, {"enrolment_code": issued.code})
    assert response.status_code == 302, response.content.decode()[:500]


def _code_for_secret(secret: str, user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert device.bin_key == b32decode(secret + "=" * (-len(secret) % 8))
    return totp_code(device)


@pytest.mark.parametrize("persona", REQUIRED)
def test_a_required_role_without_an_authenticator_is_sent_to_set_up_and_nowhere_else(
    client, persona, request
):
    user = request.getfixturevalue(persona)
    log_in(client, user)
    for page in GATED_PAGES:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(SETUP), page
    # The set-up page asks for an administrator's enrolment code: the password alone shows
    # no key and registers no device.
    html = client.get(SETUP).content.decode()
    assert 'id="two-factor-enrolment"' in html
    assert 'id="totp-secret"' not in html
    assert not TOTPDevice.objects.filter(user=user).exists()


@pytest.mark.parametrize("persona", REQUIRED)
def test_a_required_role_with_an_authenticator_must_enter_a_code_first(client, persona, request):
    user = request.getfixturevalue(persona)
    authenticator(user)
    response = log_in(client, user)
    assert client.get(response["Location"])["Location"] == f"{VERIFY}?next=%2F"
    for page in GATED_PAGES:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(VERIFY), page
    # A set-up page would let someone with only the password add their own phone.
    assert client.get(SETUP)["Location"].startswith(VERIFY)


def test_logout_language_switch_and_static_files_stay_reachable(client, district_officer):
    log_in(client, district_officer)
    assert (
        client.post(reverse("set_language"), {"language": "zh-hant", "next": "/"})["Location"]
        == "/"
    )
    assert client.get("/static/css/portal.css").status_code == 200
    assert client.post(reverse("logout"))["Location"] == reverse("login")
    assert client.get("/queue/")["Location"].startswith(reverse("login"))


def test_the_right_code_verifies_the_session_and_goes_on_to_the_page_asked_for(
    client, district_officer
):
    device = authenticator(district_officer)
    log_in(client, district_officer)
    response = client.post(VERIFY, {"token": totp_code(device), "next": "/queue/"})
    assert response["Location"] == "/queue/"
    assert client.get("/queue/").status_code == 200
    assert client.get("/dashboard/").status_code == 200


def test_a_wrong_code_is_refused_with_a_message_and_changes_nothing(client, district_officer):
    device = authenticator(district_officer)
    log_in(client, district_officer)
    good = totp_code(device)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    response = client.post(VERIFY, {"token": wrong})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "That code is not right" in response.content.decode()
    assert client.get("/queue/")["Location"].startswith(VERIFY)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_codes_are_throttled_after_a_wrong_one(client, district_officer):
    device = authenticator(district_officer)
    log_in(client, district_officer)
    client.post(VERIFY, {"token": "000000"})
    # Within the back-off even the right code is not tried.
    response = client.post(VERIFY, {"token": totp_code(device)})
    assert response.status_code == 200
    assert "Too many wrong codes" in response.content.decode()
    assert client.get("/queue/")["Location"].startswith(VERIFY)


def test_a_code_cannot_be_used_twice(client, district_officer):
    device = authenticator(district_officer)
    code = totp_code(device)
    log_in(client, district_officer)
    assert client.post(VERIFY, {"token": code})["Location"] == "/"
    client.post(reverse("logout"))
    log_in(client, district_officer)
    assert client.post(VERIFY, {"token": code}).status_code == 200
    assert client.get("/queue/")["Location"].startswith(VERIFY)


def test_setting_up_shows_a_qr_code_and_the_key_and_a_code_confirms_it(client, district_officer):
    log_in(client, district_officer)
    enrol_with_code(client, district_officer)
    html = client.get(SETUP).content.decode()
    assert "<svg" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert "<?xml" not in html
    secret = _secret_from_page(html)
    assert secret == _secret_from_page(client.get(SETUP).content.decode())  # same on reload
    code = _code_for_secret(secret, district_officer)
    response = client.post(SETUP, {"token": code, "next": "/queue/"})
    # The backup codes are shown once, then the person goes on to the page asked for.
    assert response.status_code == 200
    assert 'id="backup-codes"' in response.content.decode()
    assert 'href="/queue/"' in response.content.decode()
    device = TOTPDevice.objects.get(user=district_officer)
    assert device.confirmed
    assert client.get("/queue/").status_code == 200


def test_setting_up_with_a_wrong_code_confirms_nothing(client, district_officer):
    log_in(client, district_officer)
    enrol_with_code(client, district_officer)
    client.get(SETUP)
    response = client.post(SETUP, {"token": "12345x"})
    assert response.status_code == 200
    assert "Enter the six digits" in response.content.decode()
    response = client.post(SETUP, {"token": "000000"})
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=district_officer, confirmed=True).exists()
    assert client.get("/queue/")["Location"].startswith(SETUP)


@pytest.mark.parametrize("persona", OPTIONAL)
def test_optional_roles_log_in_with_the_password_only(client, persona, request):
    user = request.getfixturevalue(persona)
    response = log_in(client, user)
    assert response["Location"] == reverse("home")
    page = client.get(reverse("home"))
    assert page.status_code == 200
    security = client.get(reverse("two_factor:security")).content.decode()
    assert 'data-two-factor="off"' in security


def test_an_optional_user_can_turn_two_factor_on_and_is_then_asked_for_codes(client, referrer):
    log_in(client, referrer)
    secret = _secret_from_page(client.get(SETUP).content.decode())
    client.post(SETUP, {"token": _code_for_secret(secret, referrer)})
    assert 'data-two-factor="on"' in client.get(reverse("two_factor:security")).content.decode()
    client.post(reverse("logout"))
    log_in(client, referrer)
    assert client.get(reverse("home"))["Location"].startswith(VERIFY)


def test_an_optional_user_can_turn_two_factor_off_but_a_required_one_cannot(
    client, referrer, district_officer
):
    authenticator(referrer)
    device = authenticator(district_officer)
    log_in(client, referrer)
    client.post(VERIFY, {"token": totp_code(TOTPDevice.objects.get(user=referrer))})
    client.post(reverse("two_factor:disable"))
    assert not TOTPDevice.objects.filter(user=referrer).exists()
    client.post(reverse("logout"))

    log_in(client, district_officer)
    client.post(VERIFY, {"token": totp_code(device)})
    html = client.get(reverse("two_factor:security")).content.decode()
    assert "cannot be turned off" in html
    client.post(reverse("two_factor:disable"))
    assert TOTPDevice.objects.filter(user=district_officer).exists()


def test_an_unverified_htmx_request_is_sent_to_the_code_page_as_a_whole(client, district_officer):
    authenticator(district_officer)
    log_in(client, district_officer)
    response = client.get("/queue/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == VERIFY


def test_the_partner_token_endpoint_is_not_behind_the_gate(client):
    response = client.post("/o/token/", {"grant_type": "client_credentials"})
    assert response.status_code in (400, 401)


def test_demo_totp_prints_the_code_of_the_demo_authenticator(settings, district_officer):
    from io import StringIO

    from django.core.management import CommandError, call_command

    from accounts.demo import DEMO_TOTP_SECRET, _demo_authenticator

    device = _demo_authenticator(district_officer)
    assert device.bin_key == b32decode(DEMO_TOTP_SECRET)
    settings.DEBUG = True
    out = StringIO()
    call_command("demo_totp", district_officer.username, stdout=out)
    code = out.getvalue().split()[1]
    assert code == totp_code(device)
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--allow-production"):
        call_command("demo_totp", district_officer.username)
