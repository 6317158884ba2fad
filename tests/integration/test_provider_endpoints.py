"""Provider URLs: https unless on this machine or opted in, and never a followed redirect.

A discovery document fetched or swapped on the path could point ``jwks_uri`` at
an attacker's keys (forged ID tokens) or the token endpoint at internal URLs
(SSRF); requests would also follow redirects there. In-process routes, real
provider over HTTP.
"""

from __future__ import annotations

import pytest
import requests

from auth import Auth
from auth.errors import ProviderMisconfigured
from auth.oidc import ProviderClient
from devprovider import METADATA_URL, LocalProvider
from tests.support.inprocess import build_auth, client_for, path_and_query, session_cookies


@pytest.fixture
def auth(provider: LocalProvider) -> Auth:
    return build_auth({"local": provider})


def sign_in(auth: Auth, provider: LocalProvider) -> tuple[int, str, list[str]]:
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "local"})
    if start.status_code != 302:
        return start.status_code, start.text, []
    back = requests.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    response = browser.get(path_and_query(back.headers["location"]))
    return (
        response.status_code,
        response.text,
        session_cookies(response.headers.get_list("set-cookie"), auth.settings.cookie_name),
    )


@pytest.mark.parametrize(
    "field",
    [
        "jwks_uri",
        "token_endpoint",
        "userinfo_endpoint",
        "authorization_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ],
)
def test_plain_http_endpoint_on_another_host_in_discovery_is_refused(
    auth: Auth, provider: LocalProvider, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    provider.advertise = {field: "http://keys.attacker.example/jwks"}
    status, text, cookies = sign_in(auth, provider)

    assert status == 502
    assert "not set up the way this app expects" in text
    assert cookies == []
    assert f"discovery {field} 'http://keys.attacker.example/jwks' is not https" in caplog.text
    assert "AUTH_INSECURE_PROVIDER_HOSTS" in caplog.text


def discovery(client: ProviderClient, **endpoints: str) -> dict[str, object]:
    return {
        "issuer": client.settings.issuer,
        "authorization_endpoint": "https://idp.example/auth",
        "token_endpoint": "https://idp.example/token",
        "jwks_uri": "https://idp.example/jwks",
        "id_token_signing_alg_values_supported": ["RS256"],
        **endpoints,
    }


def test_https_and_loopback_endpoints_are_accepted(provider: LocalProvider) -> None:
    client = ProviderClient(build_auth({"local": provider}).settings.providers[0], redirect_uri="x", timeout=5)
    document = discovery(
        client,
        token_endpoint="http://127.0.0.1:9/token",
        userinfo_endpoint="http://localhost:9/u",
        end_session_endpoint="http://[::1]:9/x",
    )
    assert client.metadata_problems(document) == {}
    client.check_metadata(document)


def test_opted_in_development_host_may_use_plain_http(provider: LocalProvider) -> None:
    settings = build_auth({"local": provider}, AUTH_INSECURE_PROVIDER_HOSTS="keycloak").settings
    client = ProviderClient(
        settings.providers[0], redirect_uri="x", timeout=5, insecure_hosts=settings.insecure_provider_hosts
    )
    assert client.metadata_problems(discovery(client, jwks_uri="http://keycloak:8080/realms/x/certs")) == {}
    with pytest.raises(ProviderMisconfigured):
        client.check_metadata(discovery(client, jwks_uri="http://keycloak.attacker.example/certs"))


@pytest.mark.parametrize("scheme", ["file:///etc/passwd", "ftp://idp.example/jwks", "gopher://x"])
def test_non_http_endpoints_are_refused(provider: LocalProvider, scheme: str) -> None:
    client = ProviderClient(build_auth({"local": provider}).settings.providers[0], redirect_uri="x", timeout=5)
    assert set(client.metadata_problems(discovery(client, jwks_uri=scheme))) == {"endpoints"}


def test_jwks_redirect_is_not_followed(auth: Auth, provider: LocalProvider, caplog: pytest.LogCaptureFixture) -> None:
    provider.jwks_redirect_to = METADATA_URL
    status, text, cookies = sign_in(auth, provider)

    assert status == 502 and cookies == []
    assert "JWKS answered HTTP 302 (a redirect); provider calls do not follow redirects" in caplog.text


def test_token_endpoint_redirect_is_not_followed(
    auth: Auth, provider: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider.token_fault = "redirect"
    status, text, cookies = sign_in(auth, provider)

    assert status == 502 and cookies == []
    assert "answered HTTP 307 (a redirect); provider calls do not follow redirects" in caplog.text
    assert "169.254.169.254" not in text
