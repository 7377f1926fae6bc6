"""With DEBUG off, every cookie is Secure (and HttpOnly where no script needs it), SameSite=Lax,
HSTS is on, and the login-security settings come from the environment."""

import json

from django.test import RequestFactory, override_settings

from tests.test_settings import IDENTITY_KEYS, STRONG_KEY, run

PRINT_SECURITY = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "names = ['SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', "
    "'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_HTTPONLY', 'CSRF_COOKIE_SAMESITE', "
    "'LANGUAGE_COOKIE_SECURE', 'LANGUAGE_COOKIE_HTTPONLY', 'LANGUAGE_COOKIE_SAMESITE', "
    "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_SSL_REDIRECT', "
    "'SESSION_COOKIE_AGE', 'SESSION_IDLE_SECONDS', 'AXES_FAILURE_LIMIT', "
    "'AXES_LOCKOUT_PARAMETERS', 'AUTHENTICATION_BACKENDS', 'X_FRAME_OPTIONS', "
    "'SECURE_PROXY_SSL_HEADER']; "
    "values = {n: getattr(s, n) for n in names}; "
    "values['AXES_COOLOFF_SECONDS'] = s.AXES_COOLOFF_TIME.total_seconds(); "
    "values['MIN_PASSWORD_LENGTH'] = [v.get('OPTIONS', {}).get('min_length') "
    "for v in s.AUTH_PASSWORD_VALIDATORS if v['NAME'].endswith('MinimumLengthValidator')][0]; "
    "print(json.dumps(values))"
)
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "portal.example.org",
    **IDENTITY_KEYS,
}


def settings_with(**env) -> dict:
    result = run(["-c", PRINT_SECURITY], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_http_only_and_same_site_lax():
    values = settings_with(**PRODUCTION)
    for cookie in ("SESSION", "CSRF", "LANGUAGE"):
        assert values[f"{cookie}_COOKIE_SECURE"] is True, cookie
        assert values[f"{cookie}_COOKIE_HTTPONLY"] is True, cookie
        assert values[f"{cookie}_COOKIE_SAMESITE"] == "Lax", cookie
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"


def test_login_security_defaults():
    values = settings_with(**PRODUCTION)
    assert values["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"
    assert values["AXES_FAILURE_LIMIT"] == 5
    # An address that fails too often is locked whatever it tries; a username only from the
    # addresses that failed for it (issue 14 item 12).
    assert values["AXES_LOCKOUT_PARAMETERS"] == ["ip_address", ["username", "ip_address"]]
    assert values["AXES_COOLOFF_SECONDS"] == 15 * 60
    assert values["SESSION_IDLE_SECONDS"] == 30 * 60
    assert values["SESSION_COOKIE_AGE"] == 8 * 60 * 60
    assert values["MIN_PASSWORD_LENGTH"] >= 12


def test_idle_time_lockout_limit_and_cool_off_come_from_the_environment():
    values = settings_with(
        **PRODUCTION, SESSION_IDLE_SECONDS="600", AXES_FAILURE_LIMIT="3", AXES_COOLOFF_MINUTES="60"
    )
    assert values["SESSION_IDLE_SECONDS"] == 600
    assert values["AXES_FAILURE_LIMIT"] == 3
    assert values["AXES_COOLOFF_SECONDS"] == 3600


def test_x_forwarded_proto_is_believed_only_when_a_proxy_is_configured():
    """issue 14 item 13: gunicorn is published with no proxy in front, so a client's own
    ``X-Forwarded-Proto: https`` must not make a plain-HTTP request count as secure."""
    assert settings_with(**PRODUCTION)["SECURE_PROXY_SSL_HEADER"] is None
    behind_proxy = settings_with(**PRODUCTION, TRUST_X_FORWARDED_PROTO="true")
    assert behind_proxy["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_a_clients_forwarded_proto_does_not_make_a_request_secure():
    request = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https")
    assert request.is_secure() is False
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        assert request.is_secure() is True
