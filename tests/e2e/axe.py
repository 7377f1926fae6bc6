"""axe-core in the browser tests: the accessibility rules checked on every page of the tour.

axe-core comes from the npm registry, pinned in ``package.json`` / ``package-lock.json`` and
installed into ``node_modules/`` by ``./scripts/test.sh`` (``npm ci``). It is never fetched
from a CDN and never served to users: the tests put it into the page they are checking.

How it gets into the page. ``page.add_script_tag(path=...)`` adds an inline ``<script>``,
which the portal's Content-Security-Policy (``script-src 'self'``) refuses. Rather than
switch the policy off for the context (``bypass_csp=True`` would also let through what the
policy refuses the users, and axe would check a page nobody sees), the file's source is run
through ``page.evaluate``: the DevTools protocol is not governed by the page's policy. A
context that checks many pages has it put into each one as it opens (``install_axe``: an
init script, not governed by the policy either), which saves sending it again every time.

The rules: WCAG 2.0 and 2.1, levels A and AA, and axe's best practices. A violation fails
the check, listing each rule (id, impact, help) and the elements (CSS selectors) it found.
"""

from functools import cache
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

REPO = Path(__file__).resolve().parents[2]
AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")

_RUN_AXE = """async (tags) => {
    const results = await window.axe.run(document, {
        runOnly: {type: "tag", values: tags},
        resultTypes: ["violations"],
    });
    return results.violations.map((rule) => ({
        id: rule.id,
        impact: rule.impact,
        help: rule.help,
        helpUrl: rule.helpUrl,
        nodes: rule.nodes.map((node) => ({
            target: node.target.map(String).join(" "),
            summary: node.failureSummary || "",
        })),
    }));
}"""


class AxeViolations(AssertionError):
    """axe found violations on a page; the message lists them."""

    def __init__(self, where: str, violations: list[dict]):
        self.violations = violations
        super().__init__(format_violations(where, violations))


@cache
def _axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.fail(
            f"No axe-core at {AXE_JS}: run `npm ci --no-audit --no-fund` at the repository "
            "root (./scripts/test.sh does it).",
            pytrace=False,
        )
    return AXE_JS.read_text(encoding="utf-8")


def install_axe(context: BrowserContext) -> None:
    """Put axe-core into every page ``context`` opens, before the page's own scripts run."""
    context.add_init_script(script=_axe_source())


def load_axe(page: Page) -> None:
    """Put axe-core into ``page`` unless it is there already (it stays until the next load)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())


def axe_violations(page: Page) -> list[dict]:
    """axe's violations on the page as it is now: ``[{id, impact, help, helpUrl, nodes}]``."""
    load_axe(page)
    return page.evaluate(_RUN_AXE, list(AXE_TAGS))


def format_violations(where: str, violations: list[dict]) -> str:
    lines = [f"axe: {len(violations)} accessibility rule(s) broken on {where}:"]
    for rule in violations:
        lines.append(f"- {rule['id']} ({rule['impact']}): {rule['help']} <{rule['helpUrl']}>")
        for node in rule["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}" + (f"  [{summary}]" if summary else ""))
    return "\n".join(lines)


def assert_accessible(page: Page, where: str | None = None) -> None:
    """Fail, listing each violation, unless axe finds none on the page."""
    violations = axe_violations(page)
    if violations:
        raise AxeViolations(where or page.url, violations)
