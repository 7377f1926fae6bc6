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


# --- Cache-Control: no-store on what a signed-in person or a partner reads (issue 14 item 6)


def assert_not_stored(response) -> None:
    assert response["Cache-Control"] == "no-store", response.get("Cache-Control")
    assert response["Pragma"] == "no-cache"


@pytest.fixture
def identified_referral(referrer, caring_team, ifsc_unit):
    from referrals import identity
    from tests import factories

    return factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        assigned_unit=ifsc_unit,
        status="assigned",
        id_type="hkid",
        id_number_encrypted=identity.encrypt("G123456A"),
        id_number_hash=identity.keyed_hash("hkid", "G123456A"),
        id_number_masked="G12****(*)",
    )


def test_the_referral_page_with_the_full_identity_number_is_not_stored(
    client, identified_referral, unit_worker
):
    client.force_login(unit_worker)
    response = client.get(reverse("referrals:detail", args=[identified_referral.public_id]))
    assert response.status_code == 200
    assert "G123456A" in response.content.decode()
    assert_not_stored(response)


@pytest.mark.parametrize(
    ("persona", "url"),
    [
        ("district_officer", "/queue/"),
        ("unit_worker", "/inbox/"),
        ("referrer", "/referrals/"),
        ("referrer", "/notifications/"),
        ("district_officer", "/dashboard/"),
    ],
)
def test_queue_inbox_and_lists_are_not_stored(client, request, persona, url):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(url)
    assert response.status_code == 200
    assert_not_stored(response)


def test_the_api_detail_is_not_stored(client, identified_referral):
    from tests.referrals.partners import bearer, partner_client, token_for

    application = partner_client(identified_referral.assigned_unit.organisation)
    auth = bearer(token_for(client, application))
    response = client.get(
        reverse("api:referral-detail", args=[identified_referral.reference]), **auth
    )
    assert response.status_code == 200
    assert_not_stored(response)
    # A request that sent a token is not stored even when it fails before any view.
    assert_not_stored(client.get("/api/v1/no-such-thing/", **auth))


def test_a_view_that_sets_its_own_cache_control_keeps_it(client, referrer):
    client.force_login(referrer)
    response = client.get("/login/")  # never_cache: Django's own, stricter header
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_anonymous_public_pages_and_static_files_stay_cacheable(client, referrer):
    from django.templatetags.static import static

    assert not client.get("/privacy/").has_header("Cache-Control")
    client.force_login(referrer)
    stylesheet = client.get(static("css/portal.css"))
    assert stylesheet.status_code == 200
    assert "max-age" in stylesheet["Cache-Control"]
    assert "no-store" not in stylesheet["Cache-Control"]
