"""``python -m auth doctor`` against the real Keycloak, with the settings ``scripts/run.sh --keycloak`` uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.app_process import ROOT
from tests.support.keycloak import APP_ENV_FILE, KeycloakServer
from tests.support.keycloak_admin import KeycloakAdmin


def run_doctor(keycloak: KeycloakServer, store: Path) -> subprocess.CompletedProcess[str]:
    """The command line, reading scripts/keycloak-app.env; only this run's URLs and store differ."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env.update(
        AUTH_KEYCLOAK_URL=keycloak.url,
        AUTH_PUBLIC_URL=keycloak.app_url,
        AUTH_STORE=f"sqlite:///{store}",
        AUTH_HTTP_TIMEOUT="5s",
    )
    return subprocess.run(
        [sys.executable, "-m", "auth", "doctor", "--env-file", str(APP_ENV_FILE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_doctor_passes_and_prints_the_uris_the_realm_holds(
    keycloak: KeycloakServer, keycloak_admin: KeycloakAdmin, tmp_path: Path
) -> None:
    result = run_doctor(keycloak, tmp_path / "sessions.db")
    output = result.stdout

    assert result.returncode == 0, output + result.stderr
    assert f"Provider 'keycloak' (keycloak, issuer {keycloak.issuer})" in output
    for check in (
        "issuer matches the configuration exactly",
        "RFC 9207 iss in authorization responses advertised: responses without it are refused",
        "PKCE S256 supported",
        "token endpoint client authentication: client_secret_basic",
        f"end_session_endpoint: {keycloak.issuer}/protocol/openid-connect/logout",
        "client id and secret accepted by the token endpoint (probe code refused, as expected)",
    ):
        assert f"  ok    {check}" in output, check
    # Keycloak answers without a Date header (behind a proxy one is usually added).
    assert "  WARN  the provider sent no Date header: clock skew not checked" in output
    assert output.rstrip().endswith("0 problem(s), 1 warning(s).")

    # What it tells the administrator to register is what the imported realm holds.
    client = keycloak_admin.client()
    redirect_uri = f"{keycloak.app_url}/auth/callback/keycloak"
    assert f"redirect URI to register at Keycloak: {redirect_uri}" in output
    assert client["redirectUris"] == [redirect_uri]
    post_logout = f"{keycloak.app_url}/"
    assert f"post-logout redirect URI to register at Keycloak: {post_logout}" in output
    assert client["attributes"]["post.logout.redirect.uris"] == post_logout
    assert f"register {keycloak.app_url}/auth/backchannel-logout as the back-channel logout URL" in output
    # Keycloak reaches the same app on 127.0.0.1, where it listens.
    assert client["attributes"]["backchannel.logout.url"] == f"{keycloak.backchannel_app_url}/auth/backchannel-logout"
    assert "insecure-dev-only" not in output  # neither development secret is printed
