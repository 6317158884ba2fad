"""Start-up of the real app: bad configuration stops it with one readable message."""

from __future__ import annotations

import subprocess

from tests.support.app_process import AppProcess


def run_app_expecting_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    app = AppProcess(env)
    return subprocess.run(app.command(), env=app.environment(), capture_output=True, text=True, timeout=60, check=False)


def test_no_configuration_refuses_to_start_and_says_what_to_set() -> None:
    result = run_app_expecting_exit({})

    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Invalid sign-in configuration (2 problems):" in output
    assert "AUTH_PROVIDERS is required" in output
    assert "AUTH_COOKIE_SECRET is required" in output
    assert "Traceback" not in output


def test_every_problem_is_listed_at_once_without_secret_values() -> None:
    short_secret = "too-short-secret-value"
    result = run_app_expecting_exit(
        {
            "AUTH_PROVIDERS": "corp",
            "AUTH_CORP_ISSUER": "ftp://login.example.com",
            "AUTH_CORP_CLIENT_SECRET": "client-secret-value",
            "AUTH_COOKIE_SECRET": short_secret,
            "AUTH_SESSION_TIMEOUT": "ten minutes",
        }
    )

    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "(4 problems)" in output
    assert "AUTH_CORP_ISSUER must be an absolute http(s) URL" in output
    assert "AUTH_CORP_CLIENT_ID is required" in output
    assert "AUTH_COOKIE_SECRET: secret #1 is 22 characters long" in output
    assert "AUTH_SESSION_TIMEOUT: 'ten minutes' is not a duration" in output
    assert short_secret not in output and "client-secret-value" not in output
    assert "Traceback" not in output
