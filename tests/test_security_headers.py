"""Security headers on every page: a strict Content-Security-Policy (no inline script or
style anywhere, the API docs included), Permissions-Policy, Referrer-Policy, framing denied."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ATTRIBUTE_OR_ELEMENT = re.compile(r"<style[\s>]|\sstyle=", re.IGNORECASE)


def csp_directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    directives = (part.strip().split(None, 1) for part in policy.split(";") if part.strip())
    return dict(directives)


def test_pages_carry_the_strict_policy_and_the_other_headers(client, district_officer):
    client.force_login(district_officer)
    response = client.get("/queue/")
    assert response.status_code == 200
    assert csp_directives(response) == EXPECTED_CSP
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("url", ["/login/", "/queue/", "/dashboard/", "/", "/directory/"])
def test_our_pages_have_no_inline_script_or_style(client, district_officer, url):
    if url != "/login/":
        client.force_login(district_officer)
    html = client.get(url).content.decode()
    assert not INLINE_SCRIPT.search(html), url
    assert not STYLE_ATTRIBUTE_OR_ELEMENT.search(html), url


def test_the_api_docs_load_their_start_up_script_as_a_file(client):
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    assert csp_directives(response) == EXPECTED_CSP
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not STYLE_ATTRIBUTE_OR_ELEMENT.search(html)
    script_src = re.search(r'<script src="([^"]*\?script=[^"]*)"', html).group(1)
    script = client.get(script_src.replace("&amp;", "&"))
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.real_2fa
def test_the_lockout_and_two_factor_pages_have_the_headers_too(client, district_officer):
    from tests.factories import TEST_PASSWORD

    client.post("/login/", {"username": district_officer.username, "password": TEST_PASSWORD})
    response = client.get(reverse("two_factor:setup"))
    assert csp_directives(response) == EXPECTED_CSP
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not STYLE_ATTRIBUTE_OR_ELEMENT.search(html)  # the QR code's SVG included
