"""Run-wide checks. The log scan: no code, token or client secret that any test provider
issued appears in any log line of the whole run, in this process or in any app process."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from devprovider import ISSUED_SECRETS
from tests.support.app_process import APP_OUTPUTS

# Candidate secrets in a log: long runs of the characters codes, JWTs and secrets are made of.
#: the run's one headless Chromium (tests/browser and tests/keycloak)
pytest_plugins = ["tests.support.chromium_fixtures"]

_SECRET_LIKE = re.compile(r"[A-Za-z0-9_\-.+/=~:]{16,}")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def searchable(issued: set[str]) -> set[str]:
    """The issued secrets, and the payload and signature of each JWT among them: a log value
    is cut at 500 characters, so a logged token would show only its first parts."""
    found = {secret for secret in issued if len(secret) >= 16}
    for secret in issued:
        parts = secret.split(".")
        if len(parts) == 3:
            found.update(part for part in parts[1:] if len(part) >= 16)
    return found


def leaked(text: str, secrets: set[str]) -> set[str]:
    """Issued secrets that occur in ``text``: every secret-like word (and its dot-separated
    parts, since a JWT's pieces could be logged apart) is looked up in the issued set."""
    found = set()
    for word in _SECRET_LIKE.findall(text):
        for candidate in (word, *word.split("."), *word.split(":"), *word.split("=")):
            if candidate in secrets:
                found.add(candidate)
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_log_line() -> Iterator[None]:
    collect = _Collect()
    auth_logger = logging.getLogger("auth")
    level = auth_logger.level
    auth_logger.setLevel(logging.DEBUG)  # every line is written somewhere in production: scan them all
    auth_logger.addHandler(collect)
    yield
    auth_logger.removeHandler(collect)
    auth_logger.setLevel(level)
    secrets = searchable(ISSUED_SECRETS)
    sources = {"this test process": "\n".join(collect.lines)}
    sources.update({f"app process #{index + 1}": output for index, output in enumerate(APP_OUTPUTS)})
    leaks = {where: leaked(text, secrets) for where, text in sources.items()}
    leaks = {where: found for where, found in leaks.items() if found}
    assert not leaks, "issued codes/tokens/secrets found in log lines: " + ", ".join(
        f"{where}: {len(found)} (e.g. {sorted(found)[0][:12]}…)" for where, found in leaks.items()
    )
