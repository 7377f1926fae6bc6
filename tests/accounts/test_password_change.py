"""A signed-in person changes their own password (issue 19): the old one checked, the
settings' validators applied, the session kept (second factor included), errors translated
and nothing changed on a refusal; linked from the navigation and the security page."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-and-long-passphrase-19"


def _change(client, old, new1, new2=None, **extra):
    body = {"old_password": old, "new_password1": new1, "new_password2": new2 or new1}
    return client.post(reverse("password_change"), body, **extra)


def test_the_page_is_linked_from_the_navigation_and_the_security_page(client, referrer):
    client.force_login(referrer)
    href = f'href="{reverse("password_change")}"'
    assert href in client.get(reverse("home")).content.decode()
    security = client.get(reverse("two_factor:security")).content.decode()
    assert 'id="change-password"' in security and href in security


def test_the_form_has_the_portals_fields_and_labels(client, referrer):
    client.force_login(referrer)
    html = client.get(reverse("password_change")).content.decode()
    for name in ("old_password", "new_password1", "new_password2"):
        assert f'id="field-{name}"' in html
    assert 'autocomplete="current-password"' in html
    assert 'autocomplete="new-password"' in html
    # The rules for a new password are the hint the input points at, as plain text (a list
    # cannot go in the hint's paragraph: the browser would leave the paragraph empty).
    hint = re.search(r'<p class="help" id="id_new_password1_helptext">([^<]*)</p>', html)
    assert hint and "at least 12 characters" in hint.group(1)
    assert re.search(r'<input [^>]*aria-describedby="id_new_password1_helptext', html)


def test_a_right_old_password_changes_it_and_the_session_stays_valid(client, referrer):
    elsewhere = Client()  # the same person signed in on another device
    elsewhere.force_login(referrer)
    client.force_login(referrer)
    response = _change(client, TEST_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    referrer.refresh_from_db()
    assert referrer.check_password(NEW_PASSWORD)
    # Still signed in, the second factor still verified: no trip back to the code step.
    assert client.get(reverse("password_change_done")).status_code == 200
    assert client.get(reverse("home")).status_code == 200
    # The other device's session ends, as the page after the change says.
    assert elsewhere.get(reverse("home")).status_code == 302


def test_a_wrong_old_password_is_a_translated_error_and_changes_nothing(client, referrer):
    client.force_login(referrer)
    before = type(referrer).objects.get(pk=referrer.pk).password
    client.post(reverse("set_language"), {"language": "zh-hant", "next": "/"})
    response = _change(client, "not-my-password", NEW_PASSWORD)
    assert response.status_code == 200
    with translation.override("zh-hant"):
        expected = gettext("Your old password was entered incorrectly. Please enter it again.")
    assert expected != "Your old password was entered incorrectly. Please enter it again."
    html = response.content.decode()
    assert expected in html
    assert 'role="alert"' in html
    assert type(referrer).objects.get(pk=referrer.pk).password == before
    assert client.get(reverse("home")).status_code == 200  # still signed in


@pytest.mark.parametrize(
    ("new1", "new2", "error"),
    [
        ("short-19", None, "This password is too short."),  # min_length 12 in the settings
        ("password1234", None, "This password is too common."),
        (NEW_PASSWORD, "a-different-passphrase-19", "The two password fields didn’t match."),
    ],
)
def test_the_settings_validators_apply(client, referrer, new1, new2, error):
    client.force_login(referrer)
    before = type(referrer).objects.get(pk=referrer.pk).password
    response = _change(client, TEST_PASSWORD, new1, new2)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert type(referrer).objects.get(pk=referrer.pk).password == before


def test_anonymous_people_are_sent_to_log_in(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
