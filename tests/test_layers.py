"""The house's shape holds: imports point down the layers, no module or function grows past
its size without saying why. ``./scripts/test.sh`` runs ``lint-imports`` itself; these tests
prove that check would catch a new upward import or circle, on a copy of the code."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
APPS = ("portal", "welfare_portal", "districts", "services", "accounts", "referrals", "outreach")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("house")
    shutil.copy(PROJECT / "pyproject.toml", root)
    for app in APPS:
        shutil.copytree(
            PROJECT / app, root / app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return root


def test_the_layers_hold_on_the_code_as_it_is(copy_of_the_code):
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "upward_import", "contract"),
    [
        # The directory learns of referrals: apps run both ways again.
        ("services/selectors.py", "from referrals import models", "Apps are layers"),
        # Tables reach up to the services that write them.
        ("referrals/models/referral.py", "from referrals import services", "Inside referrals"),
        # The outbox learns of the tasks that run it (the old services -> tasks circle).
        ("referrals/outbox.py", "from referrals import tasks", "Inside referrals"),
        # Referrals learn of the outreach above them (the referral page calling it directly
        # instead of through the panels outreach registers).
        ("referrals/web/views.py", "from outreach import selectors", "Apps are layers"),
        # A household's timeline reaches up to the visits that write it.
        ("outreach/events.py", "from outreach import visits", "Inside outreach"),
        # What every API shares depends on the referrals API.
        ("welfare_portal/api/errors.py", "from referrals.api import views", "Apps are layers"),
    ],
)
def test_a_new_upward_import_fails_the_check(copy_of_the_code, module, upward_import, contract):
    path = copy_of_the_code / module
    original = path.read_text()
    try:
        path.write_text(f"{upward_import}  # noqa\n{original}")
        result = lint_imports(copy_of_the_code)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    assert contract in result.stdout
    assert "BROKEN" in result.stdout


def test_an_import_circle_inside_a_layer_fails_the_check(copy_of_the_code):
    """``selectors`` and ``lifecycle`` share a layer: either may not import the other."""
    path = copy_of_the_code / "referrals/lifecycle.py"
    original = path.read_text()
    try:
        path.write_text(f"from referrals import selectors  # noqa\n{original}")
        result = lint_imports(copy_of_the_code)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout


def python_modules():
    for app in APPS:
        for path in sorted((PROJECT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_module_is_over_500_lines():
    long = {
        str(path.relative_to(PROJECT)): lines
        for path in python_modules()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines_without_a_comment_saying_why():
    """A long function may stay long when a comment on its ``def`` line or the line above
    says why (``# long: …``)."""
    long = []
    for path in python_modules():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if node.end_lineno - first + 1 <= MAX_FUNCTION_LINES:
                continue
            said_why = "# long:" in lines[node.lineno - 1] or "# long:" in lines[first - 2]
            if not said_why:
                long.append(f"{path.relative_to(PROJECT)}:{node.lineno} {node.name}")
    assert long == []
