"""Settings come from the environment: demo defaults, loud production failures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SETTINGS_FROM_ENV = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "SECURE_SSL_REDIRECT",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "IDENTITY_ENCRYPTION_KEYS",
    "IDENTITY_HASH_KEY",
    "TRUST_X_FORWARDED_PROTO",
}
IDENTITY_KEYS = {
    "IDENTITY_ENCRYPTION_KEYS": "ayQgr1SWnJmAcMCHN96-QszxKGf0r2H2mmDaAtXFmQE=",
    "IDENTITY_HASH_KEY": "h" * 40,
}
STRONG_KEY = "k3y-" + "x7Qm9vR2pL5sT8wZ" * 4

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER, "
    "s.TIME_ZONE, ','.join(code for code, _ in s.LANGUAGES), s.CACHES['default']['BACKEND'], "
    "sep='|')"
)


def run(args, **env_overrides):
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_FROM_ENV}
    env.update({"DJANGO_SETTINGS_MODULE": "welfare_portal.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


def test_demo_defaults_are_sqlite_and_eager_tasks():
    result = run(["-c", PRINT_SETTINGS], DEBUG="true")
    assert result.returncode == 0, result.stderr
    engine, broker, eager, zone, languages, cache = result.stdout.strip().split("|")
    assert engine == "django.db.backends.sqlite3"
    assert (broker, eager) == ("memory://", "True")
    assert zone == "Asia/Hong_Kong"
    assert languages == "en,zh-hant"
    assert "LocMemCache" in cache


def test_database_and_redis_urls_switch_to_postgresql_and_a_redis_broker():
    result = run(
        ["-c", PRINT_SETTINGS],
        DEBUG="true",
        DATABASE_URL="postgres://someone@db.internal:5432/welfare",
        REDIS_URL="redis://broker.internal:6379/0",
    )
    assert result.returncode == 0, result.stderr
    engine, broker, eager, *_ = result.stdout.strip().split("|")
    assert engine == "django.db.backends.postgresql"
    assert (broker, eager) == ("redis://broker.internal:6379/0", "False")
    assert "RedisCache" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALLOWED_HOSTS": "portal.example.org"}, "SECRET_KEY must be set"),
        ({"ALLOWED_HOSTS": "portal.example.org", "SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS must be set"),
        (
            {"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "portal.example.org"},
            "IDENTITY_ENCRYPTION_KEYS (Fernet keys) and IDENTITY_HASH_KEY",
        ),
        (
            {
                "SECRET_KEY": STRONG_KEY,
                "ALLOWED_HOSTS": "portal.example.org",
                "IDENTITY_ENCRYPTION_KEYS": IDENTITY_KEYS["IDENTITY_ENCRYPTION_KEYS"],
                "IDENTITY_HASH_KEY": "too-short",
            },
            "IDENTITY_ENCRYPTION_KEYS (Fernet keys) and IDENTITY_HASH_KEY",
        ),
    ],
)
def test_production_without_its_secrets_or_allowed_hosts_refuses_to_start(env, message):
    result = run(["manage.py", "check"], DEBUG="false", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_is_clean_with_production_like_environment():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="portal.example.org",
        **IDENTITY_KEYS,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/welfare_portal",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_behind_a_trusted_proxy_too():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="portal.example.org",
        **IDENTITY_KEYS,
        TRUST_X_FORWARDED_PROTO="true",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
