"""The documented commands, run as written (issue 15): the ``.env`` secrets command of
docs/operations.md, ``check --deploy`` with what it writes (docs/configuration.md), the
one-line configuration error, the bench harness's production settings, .env.example; and
the documentation itself: a short README, links that resolve inside the repository."""

import os
import re
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from tests.test_settings import SETTINGS_FROM_ENV

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
OPERATIONS = ROOT / "docs" / "operations.md"
# What the caller's environment (a test run, a developer's shell) may hold that the
# documented production environment does not: the settings tests' own list.


def readme_env_command() -> str:
    """Step 1 of the compose steps: the line that writes ``.env``."""
    lines = OPERATIONS.read_text().splitlines()
    [line] = [line for line in lines if line.rstrip().endswith("> .env")]
    return line


def write_env(directory: Path) -> dict[str, str]:
    (directory / "scripts").symlink_to(ROOT / "scripts")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_env_command()],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = (directory / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_the_env_command_writes_three_new_secrets(tmp_path):
    first = write_env(tmp_path)
    assert set(first) == {"SECRET_KEY", "IDENTITY_ENCRYPTION_KEYS", "IDENTITY_HASH_KEY"}
    Fernet(first["IDENTITY_ENCRYPTION_KEYS"])  # a valid key, or this raises
    assert len(first["SECRET_KEY"]) >= 50 and len(first["IDENTITY_HASH_KEY"]) >= 32
    again = tmp_path / "again"
    again.mkdir()
    assert write_env(again)["SECRET_KEY"] != first["SECRET_KEY"]  # new every time


def test_check_deploy_is_clean_with_what_the_env_command_writes(tmp_path):
    """The README: ``check --deploy`` is clean with DEBUG off, ALLOWED_HOSTS and the three
    secrets of step 1, nothing else."""
    secrets = write_env(tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_FROM_ENV}
    env.update(secrets, DEBUG="false", ALLOWED_HOSTS="portal.example.org")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"no issues", result.stdout)


def names_read_by_the_code() -> set[str]:
    names = set()
    for module in (ROOT / "welfare_portal").glob("*.py"):
        names |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', module.read_text()))
    return names


def test_env_example_names_every_setting_the_code_reads_and_no_other():
    """Every variable the portal or docker-compose.yml reads, and nothing else."""
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.M))
    compose_text = re.sub(r"^\s*#.*$", "", (ROOT / "docker-compose.yml").read_text(), flags=re.M)
    compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", compose_text))
    assert {"POSTGRES_PASSWORD", "WEB_PORT"} <= compose
    assert names_read_by_the_code() | compose == named


def test_a_command_without_production_settings_says_why_in_one_line():
    """``demo_totp`` (any command) with DEBUG off and no secrets: the settings refuse, and
    manage.py says so instead of printing a traceback through the settings module."""
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_FROM_ENV}
    result = subprocess.run(
        [sys.executable, "manage.py", "demo_totp"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Configuration error: SECRET_KEY must be set")
    assert "DEBUG=true" in result.stderr


def test_the_bench_harness_overrides_a_callers_debug_mode(tmp_path):
    """The README seeds the bench database with DEBUG=true in the shell; the benchmarks
    that follow must still measure production settings, and say they override it."""
    script = (
        f"from bench import harness; harness.configure(STATIC_ROOT={str(tmp_path)!r}); "
        "from django.conf import settings; print('DEBUG', settings.DEBUG)"
    )
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_FROM_ENV}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DEBUG": "true", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout
    assert "DEBUG=true ignored" in result.stdout


def test_the_readme_is_a_short_front_page():
    assert len(README.read_bytes()) < 8 * 1024


def test_every_relative_link_in_the_docs_resolves_inside_the_repository():
    for document in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
            if re.match(r"[a-z]+:", target):  # https:, mailto: (public references)
                continue
            resolved = (document.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), (document.name, target)
            assert resolved.exists(), (document.name, target)
