"""The Traditional Chinese catalogue is complete, compiled and covers every string."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.urls import reverse

PROJECT = Path(__file__).resolve().parent.parent
CATALOGUE = PROJECT / "locale/zh_Hant/LC_MESSAGES/django.po"
COMPILED = CATALOGUE.with_suffix(".mo")
MAKEMESSAGES_OPTIONS = ["--no-location", "--ignore=.venv", "--ignore=staticfiles", "--ignore=tests"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def test_every_string_is_translated_and_none_is_fuzzy():
    catalogue = polib.pofile(str(CATALOGUE))
    gaps = [e.msgid for e in catalogue.untranslated_entries() + catalogue.fuzzy_entries()]
    assert gaps == []


def test_translations_keep_their_placeholders():
    for entry in polib.pofile(str(CATALOGUE)).translated_entries():
        translations = [entry.msgstr] if not entry.msgid_plural else entry.msgstr_plural.values()
        # Chinese has one plural form: it must carry the plural source's placeholders.
        source = entry.msgid_plural or entry.msgid
        for text in translations:
            assert sorted(set(PLACEHOLDER.findall(text))) == sorted(
                set(PLACEHOLDER.findall(source))
            ), entry.msgid


def test_the_compiled_catalogue_matches_the_source():
    source = {
        (e.msgctxt, e.msgid): e.msgstr
        for e in polib.pofile(str(CATALOGUE))
        if not e.msgid_plural and not e.obsolete
    }
    compiled = {
        (e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(COMPILED)) if not e.msgid_plural
    }
    assert compiled == source, "run: python manage.py compilemessages -l zh_Hant"


def test_makemessages_finds_no_string_missing_from_the_catalogue(tmp_path):
    """A newly wrapped string that nobody translated fails here."""
    backup = tmp_path / "django.po"
    shutil.copy(CATALOGUE, backup)
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "zh_Hant", *MAKEMESSAGES_OPTIONS],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=300,
            env={"DEBUG": "true", "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        extracted = {e.msgid for e in polib.pofile(str(CATALOGUE)) if not e.obsolete}
    finally:
        shutil.copy(backup, CATALOGUE)
    known = {e.msgid for e in polib.pofile(str(CATALOGUE)) if not e.obsolete}
    assert extracted - known == set()


@pytest.mark.django_db
def test_pages_render_in_chinese_when_the_user_switches(client, referrer):
    client.force_login(referrer)
    response = client.post(
        reverse("set_language"), {"language": "zh-hant", "next": reverse("directory")}
    )
    assert response.status_code == 302
    html = client.get(reverse("directory")).content.decode()
    assert '<html lang="zh-Hant-HK">' in html
    assert "服務單位名錄" in html
    assert "Service directory" not in html


def test_the_third_party_msgids_are_the_apps_own():
    """welfare_portal/third_party_strings.py must copy each msgid exactly as its app writes
    it, or our translation never reaches the page (an app's update can reword one too)."""
    import axes
    import import_export
    import oauth2_provider

    from welfare_portal import third_party_strings

    for package, msgids in [
        (axes, third_party_strings.AXES),
        (oauth2_provider, third_party_strings.OAUTH_TOOLKIT),
        (import_export, third_party_strings.IMPORT_EXPORT),
    ]:
        root = Path(package.__file__).parent
        sources = "\n".join(
            path.read_text(encoding="utf-8")
            for pattern in ("**/*.py", "**/*.html")
            for path in root.glob(pattern)
            if "migrations" not in path.parts and "tests" not in path.parts
        )
        missing = [m for m in msgids if f'"{m}"' not in sources and f"'{m}'" not in sources]
        assert missing == [], f"not in {package.__name__}: {missing}"
