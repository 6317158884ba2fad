"""``auth.wiring``: where settings come from, and logging that respects the app's own."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth import Auth
from auth.events import log_event
from auth.wiring import configure_logging

SETTINGS_FILE = """
AUTH_PROVIDERS=corp
AUTH_CORP_ISSUER=https://login.corp.example
AUTH_CORP_CLIENT_ID=from-the-file
AUTH_CORP_CLIENT_SECRET=file-secret
AUTH_COOKIE_SECRET=cookie-secret-from-the-file-0123456789
"""


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("AUTH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_from_environment_reads_the_file_named_by_auth_env_file(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file = clean_environment / "conf" / "auth.env"
    settings_file.parent.mkdir()
    settings_file.write_text(SETTINGS_FILE, encoding="utf-8")
    (clean_environment / ".env").write_text(SETTINGS_FILE.replace("from-the-file", "from-dotenv"), encoding="utf-8")
    monkeypatch.setenv("AUTH_ENV_FILE", str(settings_file))

    auth = Auth.from_environment()

    assert auth.settings.providers[0].client_id == "from-the-file"


def test_from_environment_falls_back_to_dotenv_and_real_variables_win(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_environment / ".env").write_text(SETTINGS_FILE, encoding="utf-8")
    monkeypatch.setenv("AUTH_CORP_CLIENT_ID", "from-the-environment")
    assert Auth.from_environment().settings.providers[0].client_id == "from-the-environment"


def test_empty_auth_env_file_reads_no_file(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_environment / ".env").write_text(SETTINGS_FILE, encoding="utf-8")
    monkeypatch.setenv("AUTH_ENV_FILE", "")
    with pytest.raises(Exception, match="AUTH_PROVIDERS is required"):
        Auth.from_environment()


@pytest.fixture
def auth_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """The ``auth`` logger without handlers from earlier tests; restored afterwards."""
    logger = logging.getLogger("auth")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", True)
    yield logger


def test_sign_in_lines_reach_the_apps_own_logging(auth_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    """An app that configures logging (before or after us) sees every sign-in event once."""
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    configure_logging("INFO")
    apps_log = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(apps_log)])

    log_event("login", provider="corp", sub="u1")

    assert apps_log.getvalue() == "event=login provider=corp sub=u1\n"
    assert stderr.getvalue() == ""  # our fallback stays quiet: nothing written twice
    assert auth_logger.propagate


def test_without_app_logging_lines_go_to_stderr(auth_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    configure_logging("INFO")
    monkeypatch.setattr(logging.getLogger(), "handlers", [])

    log_event("login", provider="corp", sub="u1")

    assert stderr.getvalue().rstrip("\n").endswith("INFO auth: event=login provider=corp sub=u1")


def test_configure_logging_twice_adds_one_handler(auth_logger: logging.Logger) -> None:
    configure_logging("DEBUG")
    configure_logging("WARNING")
    assert len(auth_logger.handlers) == 1
    assert auth_logger.level == logging.WARNING
