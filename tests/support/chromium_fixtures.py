"""One headless Chromium for the whole run, shared by tests/browser and tests/keycloak.

A pytest plugin (``pytest_plugins`` of tests/conftest.py): Playwright's sync API runs one
instance per thread, so both folders must share the session-scoped ``playwright`` and
``chromium`` fixtures rather than each start their own. Both start only when a test asks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
