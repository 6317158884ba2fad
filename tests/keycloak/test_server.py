"""The real Keycloak itself: the realm file imports as written, discovery is what the app's
Keycloak preset expects, and docker/compose.yml's health check works against it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from auth.config import load_settings
from auth.oidc import ProviderClient
from scripts.keycloak_realm import CLIENT_ID, load_realm, realm_for_app
from tests.support.app_process import ROOT, free_port
from tests.support.keycloak import KeycloakServer
from tests.support.keycloak_admin import KeycloakAdmin

COMPOSE_FILE = ROOT / "docker" / "compose.yml"


@pytest.fixture(scope="module")
def discovery(keycloak: KeycloakServer) -> dict[str, Any]:
    response = requests.get(keycloak.discovery_url, timeout=10)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def client(keycloak: KeycloakServer, tmp_path_factory: pytest.TempPathFactory) -> ProviderClient:
    """The app's own OpenID client for the ``keycloak`` provider of scripts/keycloak-app.env."""
    store = tmp_path_factory.mktemp("store") / "sessions.db"
    env = keycloak.app_environment("c" * 40, AUTH_STORE=f"sqlite:///{store}")
    old_cwd = Path.cwd()
    os.chdir(ROOT)  # the settings name the client secret file relative to the repository root
    try:
        settings = load_settings(env)
    finally:
        os.chdir(old_cwd)
    (provider,) = settings.providers
    return ProviderClient(provider, redirect_uri=settings.redirect_uri(provider.name), timeout=10)


# -- the realm file, imported -----------------------------------------------------------


def test_the_realm_file_is_imported_as_written_with_only_the_apps_urls_moved(
    keycloak: KeycloakServer, keycloak_admin: KeycloakAdmin
) -> None:
    expected = realm_for_app(load_realm(), keycloak.app_url, keycloak.backchannel_app_url)
    (written,) = [c for c in expected["clients"] if c["clientId"] == CLIENT_ID]
    imported = keycloak_admin.client()

    for key in ("rootUrl", "redirectUris", "webOrigins", "publicClient", "secret", "standardFlowEnabled"):
        assert imported[key] == written[key], key
    assert {k: imported["attributes"][k] for k in written["attributes"]} == written["attributes"]
    assert imported["redirectUris"] == [f"http://localhost:{keycloak.app_port}/auth/callback/keycloak"]
    assert imported["attributes"]["backchannel.logout.url"] == (
        f"http://127.0.0.1:{keycloak.app_port}/auth/backchannel-logout"
    )
    # Every mapper with the settings written; Keycloak adds its defaults (the groups mapper
    # gains multivalued=true once it has been used).
    mappers = {m["name"]: m["config"] for m in imported["protocolMappers"]}
    assert set(mappers) == {m["name"] for m in written["protocolMappers"]}
    for mapper in written["protocolMappers"]:
        assert {k: mappers[mapper["name"]].get(k) for k in mapper["config"]} == mapper["config"], mapper["name"]

    realm = keycloak_admin.realm_settings()
    for key in ("accessTokenLifespan", "ssoSessionIdleTimeout", "revokeRefreshToken", "refreshTokenMaxReuse"):
        assert realm[key] == expected[key], key
    for user in expected["users"]:
        found = keycloak_admin.user(user["username"])
        assert (found["email"], found["enabled"], found["emailVerified"]) == (user["email"], True, True)


def test_the_admin_api_changes_one_realm_setting_and_keeps_the_others(keycloak_admin: KeycloakAdmin) -> None:
    """Tests tweak the imported realm this way (e.g. a short access-token life) instead of editing the file."""
    before = keycloak_admin.realm_settings()
    try:
        keycloak_admin.update_realm({"accessTokenLifespan": 7})
        after = keycloak_admin.realm_settings()
    finally:
        keycloak_admin.update_realm({"accessTokenLifespan": before["accessTokenLifespan"]})

    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {"accessTokenLifespan"} and after["accessTokenLifespan"] == 7
    assert keycloak_admin.realm_settings() == before


# -- discovery, as the Keycloak preset reads it -----------------------------------------


def test_discovery_is_what_the_keycloak_preset_expects(
    keycloak: KeycloakServer, client: ProviderClient, discovery: dict[str, Any]
) -> None:
    # issuer <AUTH_KEYCLOAK_URL>/realms/<AUTH_KEYCLOAK_REALM>, exactly (OIDC Discovery 1.0 §4.3)
    assert client.settings.issuer == keycloak.issuer == discovery["issuer"]
    assert client.metadata_problems(discovery) == {}
    assert client.metadata() == discovery

    # RFC 9207: advertised, so the app refuses an authorization response without iss
    assert discovery["authorization_response_iss_parameter_supported"] is True
    assert client.requires_iss_parameter
    assert "S256" in discovery["code_challenge_methods_supported"]
    assert client.token_endpoint_auth_method() == "client_secret_basic"
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]

    endpoints = f"{keycloak.issuer}/protocol/openid-connect"
    assert discovery["authorization_endpoint"] == f"{endpoints}/auth"
    assert discovery["token_endpoint"] == f"{endpoints}/token"
    assert discovery["userinfo_endpoint"] == f"{endpoints}/userinfo"
    assert discovery["jwks_uri"] == f"{endpoints}/certs"
    assert discovery["end_session_endpoint"] == f"{endpoints}/logout"
    assert discovery["revocation_endpoint"] == f"{endpoints}/revoke"
    assert discovery["backchannel_logout_supported"] is True
    assert discovery["backchannel_logout_session_supported"] is True


def test_the_apps_client_reads_keycloaks_signing_keys(client: ProviderClient) -> None:
    keys = client.key_set()
    assert any(key.get("alg") == "RS256" and key.get("use") == "sig" for key in keys.as_dict()["keys"])


# -- docker/compose.yml's health check ----------------------------------------------------


def compose_healthcheck(management_port: int) -> list[str]:
    """The keycloak service's health-check command, pointed at ``management_port`` instead of 9000."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    command = [str(part) for part in compose["services"]["keycloak"]["healthcheck"]["test"]]
    assert command[0] == "CMD" and "/dev/tcp/localhost/9000" in command[-1], command
    return [*command[1:-1], command[-1].replace("/dev/tcp/localhost/9000", f"/dev/tcp/localhost/{management_port}")]


def run_probe(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)


def test_composes_health_check_passes_against_the_management_port(keycloak: KeycloakServer) -> None:
    result = run_probe(compose_healthcheck(keycloak.management_port))
    assert result.returncode == 0, result.stderr


def test_composes_health_check_fails_where_readiness_is_not_served(keycloak: KeycloakServer) -> None:
    """The same probe can fail: the HTTP port does not serve /health/ready, nothing listens on a free port."""
    assert requests.get(f"http://127.0.0.1:{keycloak.port}/health/ready", timeout=10).status_code == 404
    assert run_probe(compose_healthcheck(keycloak.port)).returncode != 0
    assert run_probe(compose_healthcheck(free_port())).returncode != 0
