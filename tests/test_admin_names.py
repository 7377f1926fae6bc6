"""The admin speaks the page's language (issue 19): its titles are the portal's, and every
app and model name its index shows is translated in Traditional Chinese, the third-party
apps' included (django-axes, django-oauth-toolkit, django-otp: welfare_portal/
third_party_apps.py names them, welfare_portal/third_party_strings.py lists the msgids the
apps translate with the portal's catalogue)."""

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst

pytestmark = pytest.mark.django_db

# The names the issue found in English on the Chinese admin index, as the admin shows them.
THIRD_PARTY_NAMES = {
    "axes": ["Sign-in attempts", "Access attempts", "Access logs", "Access failures"],
    "oauth2_provider": [
        "Partner API access (OAuth2)",
        "Applications",
        "Access tokens",
        "Refresh tokens",
        "Grants",
        "Id tokens",
    ],
    "otp_totp": ["Authenticator apps", "TOTP devices"],
}
RAW_NAMES = ["Django OAuth Toolkit", "Otp_Totp", "Axes", "Django administration", "Django 管理"]


def _index_names() -> list[tuple[str, object]]:
    """(app label, lazy name) for every app and model name the admin index shows."""
    names = []
    for model in admin.site._registry:
        options = model._meta
        names.append((options.app_label, options.app_config.verbose_name))
        names.append((options.app_label, options.verbose_name_plural))
    return names


def _in(language: str, text) -> str:
    with translation.override(language):
        return str(capfirst(text))


@pytest.fixture
def chinese_admin_index(client, admin_user):
    client.force_login(admin_user)
    client.post(reverse("set_language"), {"language": "zh-hant", "next": "/"})
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_third_party_names_are_translatable_and_named_as_listed():
    english = {}
    for label, name in _index_names():
        english.setdefault(label, set()).add(_in("en", name))
    for label, names in THIRD_PARTY_NAMES.items():
        assert set(names) <= english[label], label


def test_every_app_and_model_name_on_the_index_is_in_chinese(chinese_admin_index):
    untranslated, missing, english_left = [], [], []
    for label, name in _index_names():
        source, chinese = _in("en", name), _in("zh-hant", name)
        if chinese == source:
            untranslated.append(f"{label}: {source}")
            continue
        if chinese not in chinese_admin_index:
            missing.append(chinese)
        if f">{source}<" in chinese_admin_index:
            english_left.append(source)
    assert untranslated == [], "msgids the catalogue does not translate yet"
    assert missing == []
    assert english_left == []


def test_the_admin_titles_are_the_portals_in_chinese(chinese_admin_index):
    with translation.override("zh-hant"):
        header = str(admin.site.site_header)
    assert header != "Welfare Portal administration", "not yet translated"
    assert header in chinese_admin_index
    for raw in RAW_NAMES:
        assert raw not in chinese_admin_index, raw


def test_the_admin_titles_in_english(client, admin_user):
    client.force_login(admin_user)
    html = client.get(reverse("admin:index")).content.decode()
    assert "Welfare Portal administration" in html
    assert "Django administration" not in html and "Django site admin" not in html
    for label, names in THIRD_PARTY_NAMES.items():
        for name in names:
            assert f">{name}<" in html, (label, name)
