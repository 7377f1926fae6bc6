"""What every page around the content has (issue 19): the skip link first, the main region
it points at, the favicon, the messages announced (alerts for errors, a status otherwise),
the two-factor step's short header, and the chrome in each language."""

import re

import pytest
from django.contrib.messages import constants
from django.contrib.messages.storage.fallback import FallbackStorage
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from tests.factories import TEST_PASSWORD
from tests.two_factor import authenticator

pytestmark = pytest.mark.django_db

CHROME = ["Skip to main content", "Account security", "Change password", "Service directory"]
FAVICON_LINK = re.compile(
    r'<link rel="icon" href="/static/favicon\.(\w+\.)?svg" type="image/svg\+xml">'
)
FIRST_FOCUSABLE = re.compile(r"<(a|button|input|select|textarea)\b[^>]*>", re.S)


def _body(html: str) -> str:
    return html.split("<body>", 1)[1]


def test_the_skip_link_comes_first_and_points_at_the_main_region(client, referrer):
    client.force_login(referrer)
    html = client.get(reverse("home")).content.decode()
    first = FIRST_FOCUSABLE.search(_body(html))
    assert first and 'class="skip-link"' in first.group(0) and 'href="#main"' in first.group(0)
    assert re.search(r'<main [^>]*id="main"[^>]*tabindex="-1"', html)
    assert FAVICON_LINK.search(html)


def test_the_favicon_is_served_at_the_root_and_as_a_static_file(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.lstrip().startswith(b"<svg")
    assert "max-age=86400" in response["Cache-Control"]
    assert client.head("/favicon.ico").status_code == 200
    assert client.post("/favicon.ico").status_code == 405


def test_the_login_page_has_the_skip_link_and_the_favicon(client):
    html = client.get(reverse("login")).content.decode()
    assert 'class="skip-link"' in html and FAVICON_LINK.search(html)


def _render_with_messages(user, *levels):
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    for level in levels:
        request._messages.add(level, f"message at level {level}")
    return render_to_string("403.html", request=request)


def test_errors_are_alerts_and_other_messages_a_status(referrer):
    html = _render_with_messages(referrer, constants.SUCCESS, constants.INFO, constants.ERROR)
    found = {
        int(level): role
        for role, level in re.findall(r'role="(\w+)">message at level (\d+)<', html)
    }
    assert found == {
        constants.SUCCESS: "status",
        constants.INFO: "status",
        constants.ERROR: "alert",
    }
    # Inside the main region, where the skip link lands.
    assert html.index('id="main"') < html.index("message at level")


@pytest.mark.real_2fa
def test_the_two_factor_step_shows_no_navigation_only_log_out(client, district_officer):
    authenticator(district_officer)
    client.post(
        reverse("login"), {"username": district_officer.username, "password": TEST_PASSWORD}
    )
    response = client.get(reverse("two_factor:verify"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="two-factor-verify"' in html
    assert 'class="site-nav"' not in html  # the main navigation
    for name in ("directory", "referrals:list", "two_factor:security", "password_change"):
        assert f'href="{reverse(name)}"' not in html, name
    assert f'action="{reverse("logout")}"' in html
    assert 'class="language-switcher"' in html
    assert 'class="skip-link"' in html


@pytest.mark.real_2fa
def test_the_setup_and_enrolment_pages_have_the_short_header_too(client, district_officer):
    client.post(
        reverse("login"), {"username": district_officer.username, "password": TEST_PASSWORD}
    )
    response = client.get(reverse("two_factor:setup"), follow=True)
    html = response.content.decode()
    assert 'id="two-factor-enrolment"' in html or 'id="two-factor-setup"' in html
    assert 'class="site-nav"' not in html
    assert f'action="{reverse("logout")}"' in html


def test_the_security_page_keeps_the_whole_navigation(client, referrer):
    client.force_login(referrer)
    html = client.get(reverse("two_factor:security")).content.decode()
    assert 'class="site-nav"' in html and f'href="{reverse("directory")}"' in html


@pytest.mark.parametrize("language", ["en", "zh-hant"])
def test_the_chrome_is_in_the_pages_language(client, referrer, language):
    client.force_login(referrer)
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    html = client.get(reverse("home")).content.decode()
    with translation.override(language):
        expected = [gettext(text) for text in CHROME]
    for text in expected:
        assert text in html, text
    if language == "zh-hant":
        for source, translated in zip(CHROME, expected, strict=True):
            assert translated != source, f"not yet translated: {source}"
            assert f">{source}<" not in html, source
    else:
        assert not re.search(r"[\u4e00-\u9fff]", html.replace("繁體中文", "")), "Chinese chrome"
