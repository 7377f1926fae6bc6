"""The token endpoint under a flood of wrong secrets (issue 14 item 7): failed requests are
counted per client id and per address and refused past the limit before any secret is
checked; client secrets are hashed with a fast keyed hash, while old PBKDF2 ones verify."""

import base64

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password
from django.urls import reverse
from oauth2_provider.models import Application

from accounts.models import User
from tests.referrals.partners import SECRET, bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

PRODUCTION_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "accounts.hashers.HMACSHA256SecretHasher",
]


@pytest.fixture
def limit(settings):
    settings.API_TOKEN_FAILURE_LIMIT = 3
    return 3


def ask(client, client_id, secret, address="203.0.113.7", **extra):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post(
        reverse("oauth2_token"),
        {"grant_type": "client_credentials", "scope": "referrals:read"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
        REMOTE_ADDR=address,
        **extra,
    )


def test_wrong_secrets_past_the_limit_are_refused_even_the_right_one(client, ifsc_unit, limit):
    application = partner_client(ifsc_unit.organisation)
    for _attempt in range(limit):
        assert ask(client, application.client_id, "wrong-secret").status_code == 401

    refused = ask(client, application.client_id, SECRET)  # refused before checking it

    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"
    assert "Too many failed token requests" in refused.json()["error_description"]
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_the_client_id_is_refused_from_any_address(client, ifsc_unit, limit):
    application = partner_client(ifsc_unit.organisation)
    for number in range(limit):
        ask(client, application.client_id, "wrong-secret", address=f"198.51.100.{number}")

    assert ask(client, application.client_id, SECRET, address="192.0.2.1").status_code == 429


def test_the_address_is_refused_whatever_client_id_it_names(client, ifsc_unit, limit):
    for number in range(limit):
        assert ask(client, f"guessed-{number}", "wrong-secret").status_code == 401
    application = partner_client(ifsc_unit.organisation)

    assert ask(client, application.client_id, SECRET).status_code == 429
    assert ask(client, application.client_id, SECRET, address="192.0.2.1").status_code == 200


def test_successful_requests_are_not_counted(client, ifsc_unit, limit):
    application = partner_client(ifsc_unit.organisation)
    for _attempt in range(limit + 2):
        assert ask(client, application.client_id, SECRET).status_code == 200


def test_a_client_secret_is_stored_with_the_keyed_hash_and_verifies(client, ifsc_unit):
    application = partner_client(ifsc_unit.organisation)
    application.refresh_from_db()

    assert application.client_secret.startswith("hmac_sha256$")
    assert check_password(SECRET, application.client_secret)
    assert not check_password("wrong-secret", application.client_secret)
    token = token_for(client, application)
    assert client.get(reverse("api:referral-list"), **bearer(token)).status_code == 200


def test_a_secret_hashed_with_pbkdf2_before_still_verifies(client, ifsc_unit, settings):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    application = partner_client(ifsc_unit.organisation)
    old_hash = PBKDF2PasswordHasher().encode(SECRET, "oldsalt0123", iterations=1000)
    Application.objects.filter(pk=application.pk).update(client_secret=old_hash)

    assert ask(client, application.client_id, SECRET).status_code == 200
    assert ask(client, application.client_id, "wrong-secret").status_code == 401


def test_peoples_passwords_keep_pbkdf2(settings):
    from welfare_portal import settings as portal_settings

    assert portal_settings.PASSWORD_HASHERS == PRODUCTION_HASHERS
    assert portal_settings.OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"] == "hmac_sha256"
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    user = User(username="someone")
    user.set_password("a long enough password")
    assert user.password.startswith("pbkdf2_sha256$")


def test_the_keyed_hash_depends_on_the_key(settings, ifsc_unit):
    application = partner_client(ifsc_unit.organisation)
    application.refresh_from_db()
    settings.CLIENT_SECRET_HASH_KEY = "another-key-0123456789abcdef-0123456789"

    assert not check_password(SECRET, application.client_secret)
