"""``python -m auth doctor`` against real providers on 127.0.0.1: healthy, unreachable, lying."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth.doctor import run_doctor
from devprovider import LocalProvider, keycloak_users
from tests.support.app_process import ROOT, free_port

CLIENT_ID = "doctor-app"
CLIENT_SECRET = "doctor-secret"
COOKIE_SECRET = "c" * 40
# The default store kind (SQLite), kept out of the working tree.
STORE_DIR = tempfile.mkdtemp(prefix="doctor-store-")


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    with LocalProvider(
        users=keycloak_users(CLIENT_ID), client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer_path="/realms/demo"
    ) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _reset(provider: LocalProvider) -> Iterator[None]:
    yield
    provider.reset()


def environment(provider: LocalProvider, **overrides: str) -> dict[str, str]:
    base_url = provider.issuer.removesuffix("/realms/demo")
    return {
        "AUTH_PROVIDERS": "keycloak",
        "AUTH_KEYCLOAK_URL": base_url,
        "AUTH_KEYCLOAK_REALM": "demo",
        "AUTH_KEYCLOAK_CLIENT_ID": CLIENT_ID,
        "AUTH_KEYCLOAK_CLIENT_SECRET": CLIENT_SECRET,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
        "AUTH_HTTP_TIMEOUT": "2s",
        "AUTH_STORE": f"sqlite:///{STORE_DIR}/sessions.db",
        **overrides,
    }


def doctor(env: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    status = run_doctor(env, base_path="", out=out)
    return status, out.getvalue()


def test_healthy_provider_passes_every_check(provider: LocalProvider) -> None:
    status, output = doctor(environment(provider))

    assert status == 0, output
    assert "redirect URI to register at Keycloak: http://localhost:8501/auth/callback/keycloak" in output
    assert f"Provider 'keycloak' (keycloak, issuer {provider.issuer})" in output
    assert "ok    issuer matches the configuration exactly" in output
    assert "ok    PKCE S256 supported" in output
    assert "ok    token endpoint client authentication: client_secret_basic" in output
    assert "ok    ID-token algorithms accepted: RS256" in output
    assert f"ok    end_session_endpoint: {provider.end_session_endpoint}" in output
    assert "post-logout redirect URI to register at Keycloak: http://localhost:8501/" in output
    assert (
        "ok    back-channel logout supported (backchannel_logout_supported): register "
        "http://localhost:8501/auth/backchannel-logout as the back-channel logout URL"
    ) in output
    assert f"Session store (sqlite {STORE_DIR}/sessions.db)" in output
    assert "ok    answers and accepts writes" in output
    assert "ok    the SQLite file and its folder are private to this user" in output
    assert (
        "      sessions belong to app 'app-" in output and "(derived from the cookie name and the public URL)" in output
    )
    assert "idle timeout 600 s, maximum session age 28800 s" in output
    assert f"ok    JWKS: 1 key(s) ({provider.current_kid})" in output
    assert "ok    client id and secret accepted by the token endpoint" in output
    assert "ok    clock skew against the provider: " in output
    assert output.rstrip().endswith("0 problem(s), 0 warning(s).")
    assert CLIENT_SECRET not in output and COOKIE_SECRET not in output


def test_unreachable_provider_fails() -> None:
    env = {
        "AUTH_PROVIDERS": "corp",
        "AUTH_CORP_ISSUER": f"http://127.0.0.1:{free_port()}",
        "AUTH_CORP_CLIENT_ID": "x",
        "AUTH_CORP_CLIENT_SECRET": "y",
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
        "AUTH_STORE": f"sqlite:///{STORE_DIR}/sessions.db",
    }
    status, output = doctor(env)

    assert status == 1
    assert "FAIL  discovery http://127.0.0.1:" in output and "unreachable (ConnectionError)" in output
    assert output.rstrip().endswith("1 problem(s), 0 warning(s).")


def test_mismatched_issuer_fails_with_a_hint(provider: LocalProvider) -> None:
    provider.discovery_issuer = provider.issuer + "/"
    status, output = doctor(environment(provider))

    assert status == 1
    assert (
        f"FAIL  discovery issuer '{provider.issuer}/' does not equal the configured issuer '{provider.issuer}'"
        in output
    )
    assert "trailing slash" in output


def test_wrong_client_secret_fails(provider: LocalProvider) -> None:
    status, output = doctor(environment(provider, AUTH_KEYCLOAK_CLIENT_SECRET="not-the-secret"))

    assert status == 1
    assert "FAIL  the provider rejected client 'doctor-app' and its secret (invalid_client)" in output
    assert "not-the-secret" not in output


def test_clock_skew_beyond_the_leeway_fails(provider: LocalProvider) -> None:
    provider.date_offset_seconds = 300
    status, output = doctor(environment(provider))

    assert status == 1
    # The Date header has whole seconds, so the measured skew is 300 s give or take one.
    assert re.search(r"FAIL  clock skew against the provider: \+(299|300|301) s", output), output
    assert "sync the clocks" in output


def test_pkce_without_s256_and_missing_end_session_are_reported(provider: LocalProvider) -> None:
    provider.advertise = {"code_challenge_methods_supported": ["plain"], "end_session_endpoint": None}
    status, output = doctor(environment(provider))

    assert status == 1
    assert "FAIL  PKCE S256 not supported (advertised: plain)" in output
    assert "no end_session_endpoint: logout revokes the session's tokens at the revocation endpoint" in output


def test_provider_without_any_logout_support_is_described(provider: LocalProvider) -> None:
    provider.advertise = {
        "end_session_endpoint": None,
        "revocation_endpoint": None,
        "backchannel_logout_supported": None,
    }
    status, output = doctor(environment(provider))
    assert status == 0, output
    assert "no end_session_endpoint or revocation_endpoint: signing out ends the app's session only" in output
    assert "back-channel logout not advertised" in output


def test_unreachable_session_store_fails(provider: LocalProvider) -> None:
    status, output = doctor(environment(provider, AUTH_STORE=f"redis://:hunter2@127.0.0.1:{free_port()}/0"))
    assert status == 1
    assert "Session store (redis 127.0.0.1:" in output and "(with password)" in output
    assert "FAIL  the session store does not answer: " in output
    assert "hunter2" not in output


def test_a_sqlite_store_other_users_can_read_is_a_warning(provider: LocalProvider, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "sessions.db").touch(mode=0o644)  # made by hand before the app ever ran
    (shared / "sessions.db").chmod(0o644)
    status, output = doctor(environment(provider, AUTH_STORE=f"sqlite:///{shared}/sessions.db", AUTH_APP_ID="sales"))
    assert status == 0, output
    assert "WARN  other users of this machine can read the sessions: " in output
    assert f"{shared} is mode 0o755" in output and f"{shared / 'sessions.db'} is mode 0o644" in output
    assert "      sessions belong to app 'sales' (AUTH_APP_ID)" in output


def test_stateless_sessions_are_a_warning_naming_what_is_lost(provider: LocalProvider) -> None:
    status, output = doctor(environment(provider, AUTH_STORE="none"))
    assert status == 0, output
    assert "WARN  AUTH_STORE=none: sessions are the cookie alone: no idle timeout" in output


def test_plain_http_public_url_off_this_machine_fails(provider: LocalProvider) -> None:
    status, output = doctor(environment(provider, AUTH_PUBLIC_URL="http://apps.example.com"))

    assert status == 1
    assert "FAIL  AUTH_PUBLIC_URL http://apps.example.com is not https" in output
    assert "redirect URI to register at Keycloak: http://apps.example.com/auth/callback/keycloak" in output


def test_command_line_exit_status_and_configuration_problems() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    result = subprocess.run(
        [sys.executable, "-m", "auth", "doctor", "--env-file", "", "--base-path", ""],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "FAIL  AUTH_PROVIDERS is required" in result.stdout
    assert "FAIL  AUTH_COOKIE_SECRET is required" in result.stdout
    assert "Traceback" not in result.stderr


def test_command_line_passes_for_a_healthy_setup(provider: LocalProvider) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env.update(environment(provider))
    env["AUTH_SESION_TIMEOUT"] = "5m"  # a typo: a warning, not a failure
    result = subprocess.run(
        [sys.executable, "-m", "auth", "doctor", "--env-file", "", "--base-path", ""],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problem(s), 1 warning(s)." in result.stdout
    assert (
        "WARN  AUTH_SESION_TIMEOUT is not a setting this app reads (did you mean AUTH_SESSION_TIMEOUT?)"
        in result.stdout
    )
