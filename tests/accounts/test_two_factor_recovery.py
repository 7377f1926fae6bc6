"""A lost phone without an admin ticket, and enrolment that needs more than the password
(issue 14 item 10): backup codes (django-otp's static plugin) and the one-time enrolment
code an administrator issues when resetting two-factor authentication or creating an
account."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import TwoFactorEnrolmentCode
from accounts.two_factor import BACKUP_CODE_COUNT, issue_backup_codes, reset_two_factor
from tests.factories import TEST_PASSWORD
from tests.two_factor import authenticator, totp_code

pytestmark = pytest.mark.django_db

VERIFY = "/account/two-factor/verify/"
SETUP = "/account/two-factor/setup/"
SECURITY = "/account/security/"
USERS = "/admin/accounts/user/"
RESET = "reset_two_factor_and_issue_enrolment_code"


def log_in(client, user):
    response = client.post(reverse("login"), {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def codes_on(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4})</code></li>", html)


def enrolment_code_on(html: str) -> str:
    return re.search(r'class="enrolment-code">([A-Z2-7-]+)<', html).group(1)


def set_up_authenticator(client, user) -> list[str]:
    """On the set-up page: confirm the key shown with its code; the backup codes shown."""
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(SETUP, {"token": totp_code(device)})
    assert response.status_code == 200, response.content.decode()[:500]
    return codes_on(response.content.decode())


def admin_resets(admin_user, user) -> str:
    """The administrator's action on the user list; the enrolment code the page shows."""
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(USERS, {"action": RESET, "_selected_action": [user.pk]})
    assert response.status_code == 200, response.content.decode()[:500]
    assert "no-store" in response["Cache-Control"]
    return enrolment_code_on(response.content.decode())


# --- Backup codes --------------------------------------------------------------------------


def test_setting_up_an_authenticator_shows_backup_codes_once(client, referrer):
    log_in(client, referrer)
    codes = set_up_authenticator(client, referrer)
    assert len(set(codes)) == BACKUP_CODE_COUNT
    assert StaticToken.objects.filter(device__user=referrer).count() == BACKUP_CODE_COUNT
    # Reloading the page does not show them again.
    assert codes_on(client.get(SETUP, follow=True).content.decode()) == []
    security = client.get(SECURITY).content.decode()
    assert f'data-backup-codes-left="{BACKUP_CODE_COUNT}"' in security


def test_a_backup_code_verifies_the_session_once(client, district_officer):
    authenticator(district_officer)
    code = issue_backup_codes(user=district_officer)[0]
    log_in(client, district_officer)
    response = client.post(VERIFY, {"backup_code": code.upper(), "next": "/queue/"})
    assert response["Location"] == "/queue/"
    assert client.get("/queue/").status_code == 200
    client.post(reverse("logout"))

    log_in(client, district_officer)
    response = client.post(VERIFY, {"backup_code": code})
    assert response.status_code == 200
    assert "That backup code is not right, or it was used already." in response.content.decode()
    assert client.get("/queue/")["Location"].startswith(VERIFY)
    assert StaticToken.objects.filter(device__user=district_officer).count() == (
        BACKUP_CODE_COUNT - 1
    )


def test_a_malformed_or_missing_backup_code_is_refused_clearly(client, district_officer):
    authenticator(district_officer)
    log_in(client, district_officer)
    response = client.post(VERIFY, {"backup_code": "12"})
    assert "Enter one of your backup codes" in response.content.decode()
    response = client.post(VERIFY, {"backup_code": "abcd-efgh"})
    assert "You have no backup codes" in response.content.decode()
    assert client.get("/queue/")["Location"].startswith(VERIFY)


def test_new_backup_codes_from_the_security_page_replace_the_old_ones(
    client, settings, district_officer
):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0  # the back-off after a wrong code is not tested here
    authenticator(district_officer)
    old = issue_backup_codes(user=district_officer)
    client.force_login(district_officer)
    response = client.post(SECURITY, {"regenerate_backup_codes": "1"})
    new = codes_on(response.content.decode())
    assert len(new) == BACKUP_CODE_COUNT
    assert not set(new) & set(old)
    client.post(reverse("logout"))

    log_in(client, district_officer)
    assert client.post(VERIFY, {"backup_code": old[0]}).status_code == 200
    assert client.post(VERIFY, {"backup_code": new[0]})["Location"] == "/"


def test_turning_two_factor_off_removes_the_backup_codes(client, referrer):
    log_in(client, referrer)
    set_up_authenticator(client, referrer)
    client.post(reverse("two_factor:disable"))
    assert not StaticDevice.objects.filter(user=referrer).exists()


# --- Enrolment codes -----------------------------------------------------------------------


def test_the_admin_reset_removes_the_devices_and_shows_an_enrolment_code_once(
    admin_user, district_officer
):
    authenticator(district_officer)
    issue_backup_codes(user=district_officer)
    officer = Client()
    log_in(officer, district_officer)
    officer.post(VERIFY, {"token": totp_code(TOTPDevice.objects.get(user=district_officer))})
    assert officer.get("/queue/").status_code == 200

    code = admin_resets(admin_user, district_officer)
    assert not TOTPDevice.objects.filter(user=district_officer).exists()
    assert not StaticDevice.objects.filter(user=district_officer).exists()
    stored = TwoFactorEnrolmentCode.objects.get(user=district_officer)
    assert code.replace("-", "") not in stored.code_hash.upper()  # only a hash is kept
    assert stored.issued_by == admin_user
    assert timedelta(hours=71) < stored.expires_at - timezone.now() <= timedelta(hours=72)
    # The session verified with the removed authenticator no longer passes the gate.
    assert officer.get("/queue/")["Location"].startswith(SETUP)


def test_after_a_reset_the_password_alone_never_reaches_enrolment(
    client, admin_user, district_officer
):
    authenticator(district_officer)
    code = admin_resets(admin_user, district_officer)
    log_in(client, district_officer)
    html = client.get(SETUP).content.decode()
    assert 'id="two-factor-enrolment"' in html
    assert 'id="totp-secret"' not in html
    # A code posted straight to the set-up page registers nothing.
    client.post(SETUP, {"token": "123456"})
    assert not TOTPDevice.objects.filter(user=district_officer).exists()
    response = client.post(SETUP, {"enrolment_code": "AAAA-AAAA-AAAA-AAAA"})
    assert "That enrolment code is not right" in response.content.decode()

    assert client.post(SETUP, {"enrolment_code": code.lower()})["Location"] == SETUP
    assert len(set_up_authenticator(client, district_officer)) == BACKUP_CODE_COUNT
    assert TOTPDevice.objects.get(user=district_officer).confirmed
    assert TwoFactorEnrolmentCode.objects.get(user=district_officer).used_at is not None
    assert client.get("/queue/").status_code == 200


def test_an_enrolment_code_works_once(client, district_officer):
    issued = reset_two_factor(user=district_officer, issued_by=None)
    log_in(client, district_officer)
    client.post(SETUP, {"enrolment_code": issued.code})
    set_up_authenticator(client, district_officer)
    client.post(reverse("logout"))
    TOTPDevice.objects.filter(user=district_officer).delete()  # the phone is lost again

    log_in(client, district_officer)
    response = client.post(SETUP, {"enrolment_code": issued.code})
    assert "That enrolment code is not right" in response.content.decode()
    assert 'id="totp-secret"' not in client.get(SETUP).content.decode()


def test_an_expired_or_replaced_enrolment_code_is_refused(client, district_officer):
    first = reset_two_factor(user=district_officer, issued_by=None)
    second = reset_two_factor(user=district_officer, issued_by=None)
    log_in(client, district_officer)
    response = client.post(SETUP, {"enrolment_code": first.code})
    assert "That enrolment code is not right" in response.content.decode()
    TwoFactorEnrolmentCode.objects.filter(user=district_officer).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.post(SETUP, {"enrolment_code": second.code})
    assert "has expired" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=district_officer).exists()


def test_a_code_accepted_before_it_expired_no_longer_confirms_a_device(client, district_officer):
    issued = reset_two_factor(user=district_officer, issued_by=None)
    log_in(client, district_officer)
    client.post(SETUP, {"enrolment_code": issued.code})
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=district_officer, confirmed=False)
    TwoFactorEnrolmentCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post(SETUP, {"token": totp_code(device)})
    assert 'id="two-factor-enrolment"' in response.content.decode()
    assert not TOTPDevice.objects.filter(user=district_officer, confirmed=True).exists()


def test_an_optional_user_whose_two_factor_was_reset_needs_the_code_to_enrol(
    client, admin_user, referrer
):
    authenticator(referrer)
    admin_resets(admin_user, referrer)
    log_in(client, referrer)
    assert client.get(reverse("home")).status_code == 200  # no second factor until set up
    assert 'id="two-factor-enrolment"' in client.get(SETUP).content.decode()
    assert not TOTPDevice.objects.filter(user=referrer).exists()


def test_an_account_created_in_the_admin_gets_its_enrolment_code(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        f"{USERS}add/",
        {
            "username": "new.officer",
            "password1": "a-long-enough-passphrase-2026",
            "password2": "a-long-enough-passphrase-2026",
            "usable_password": "true",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    code = enrolment_code_on(response.content.decode())
    stored = TwoFactorEnrolmentCode.objects.get(user__username="new.officer")
    assert stored.used_at is None
    assert len(code.replace("-", "")) == 16
    assert 'href="/admin/accounts/user/' in response.content.decode()  # go on to the details


def test_the_first_administrator_gets_an_enrolment_code_from_the_command_line(
    client, admin_user, capsys
):
    from django.core.management import CommandError, call_command

    call_command("issue_enrolment_code", admin_user.username)
    code = re.search(r": ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3}) ", capsys.readouterr().out).group(1)
    log_in(client, admin_user)
    assert client.post(SETUP, {"enrolment_code": code})["Location"] == SETUP
    assert len(set_up_authenticator(client, admin_user)) == BACKUP_CODE_COUNT
    with pytest.raises(CommandError, match="No user named"):
        call_command("issue_enrolment_code", "nobody")
