"""axe-core, the accessibility checker, run in a page of the real browser.

The version is the one ``tests/a11y/package-lock.json`` locks (npm's registry, checked by its
integrity hash); ``scripts/test.sh`` installs it with ``npm ci`` into ``.cache/npm/axe``. It is
injected as a script element, so the browser context must bypass the page's Content-Security-
Policy (``bypass_csp=True``): our pages allow no script at all. axe reads the DOM and the
computed styles only, which the policy does not change.

The rules are axe's WCAG 2.0, 2.1 and 2.2 level A and AA rules and its best practices
(``RULE_TAGS``): what axe runs by default. Left out, as by default: AAA (e.g. 7:1 contrast),
and the experimental and deprecated rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.app_process import ROOT

PACKAGE = ROOT / "tests" / "a11y" / "package.json"
INSTALLED = ROOT / ".cache" / "npm" / "axe" / "node_modules" / "axe-core"
AXE_SCRIPT = INSTALLED / "axe.min.js"
RULE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice")


def pinned_version() -> str:
    return str(json.loads(PACKAGE.read_text(encoding="utf-8"))["dependencies"]["axe-core"])


def axe_script() -> Path:
    """The installed axe-core, failing (never skipping) when it is missing or not the pinned one."""
    wanted = pinned_version()
    if not AXE_SCRIPT.is_file():
        pytest.fail(
            f"axe-core {wanted} is not installed in {INSTALLED.parent.parent}: scripts/test.sh installs it "
            "(npm ci of tests/a11y/package-lock.json)",
            pytrace=False,
        )
    installed = json.loads((INSTALLED / "package.json").read_text(encoding="utf-8"))["version"]
    if installed != wanted:
        pytest.fail(
            f"axe-core {installed} is installed, tests/a11y pins {wanted}: run scripts/test.sh to reinstall it",
            pytrace=False,
        )
    return AXE_SCRIPT


def violations(page: Page, *, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """axe's violations of ``RULE_TAGS`` in ``page`` as it is now; ``exclude`` (CSS selectors)
    leaves out elements that are not ours to fix."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=axe_script())
    options = {"runOnly": {"type": "tag", "values": list(RULE_TAGS)}, "resultTypes": ["violations"]}
    context = {"exclude": [[selector] for selector in exclude]}  # and the whole document
    result: dict[str, Any] = page.evaluate("([context, options]) => axe.run(context, options)", [context, options])
    return list(result["violations"])


def describe(found: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule, impact, what it asks, and each element with axe's reason."""
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"  at {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = " ".join(str(node.get("failureSummary") or "").split())
            if summary:
                lines.append(f"    {summary[:400]}")
    return "\n".join(lines)


def assert_no_violations(page: Page, what: str, *, exclude: tuple[str, ...] = ()) -> None:
    found = violations(page, exclude=exclude)
    assert not found, f"axe-core found {len(found)} violation(s) on {what} ({page.url}):\n{describe(found)}"
