"""The local OpenID provider behaves like a real one, over real HTTP.

Other tests rely on ``LocalProvider`` to reproduce provider shapes and faults; if it
silently stopped producing them, those tests would pass for the wrong reason.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet, RSAKey

from tests.support.provider import LocalProvider, ProviderUser, generate_signing_key, google_users, keycloak_users

CLIENT_ID = "app"
CLIENT_SECRET = "s3cret"
REDIRECT_URI = "http://127.0.0.1:8501/oauth2callback"
ALICE_SUB = keycloak_users(CLIENT_ID)[0].sub


@pytest.fixture(scope="module")
def started() -> Iterator[LocalProvider]:
    with LocalProvider(
        users=keycloak_users(CLIENT_ID),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        issuer_path="/realms/demo",
    ) as provider:
        yield provider


@pytest.fixture
def provider(started: LocalProvider) -> Iterator[LocalProvider]:
    started.reset()
    yield started
    started.reset()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1 Basic credentials: each part form-urlencoded, then base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def authorize(
    provider: LocalProvider, http: requests.Session, login_hint: str = "alice", **extra: str
) -> tuple[str, str]:
    """Sign in through the authorize endpoint; returns (code, code_verifier)."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
        "login_hint": login_hint,
        **extra,
    }
    response = http.get(provider.authorization_endpoint, params=params, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    query = redirect_query(response)
    assert query["state"] == "st-1"
    return query["code"], verifier


def redirect_query(response: requests.Response) -> dict[str, str]:
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(
    provider: LocalProvider, http: requests.Session, code: str, verifier: str, **overrides: str
) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **overrides,
    }
    return http.post(provider.token_endpoint, data=form, headers=basic(CLIENT_ID, CLIENT_SECRET), timeout=5)


def tokens(provider: LocalProvider, http: requests.Session, login_hint: str = "alice") -> dict[str, Any]:
    code, verifier = authorize(provider, http, login_hint)
    response = exchange(provider, http, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()


def verify(provider: LocalProvider, http: requests.Session, token: str) -> jwt.Token:
    jwks = http.get(provider.jwks_uri, timeout=5).json()
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])


def test_discovery_with_issuer_path(provider: LocalProvider, http: requests.Session) -> None:
    assert provider.issuer == f"http://127.0.0.1:{provider.port}/realms/demo"
    assert provider.discovery_url == provider.issuer + "/.well-known/openid-configuration"
    doc = http.get(provider.discovery_url, timeout=5).json()
    assert doc["issuer"] == provider.issuer
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        assert doc[name].startswith(provider.issuer + "/"), name
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert provider.discovery_hits == 1


def test_google_shape_without_issuer_path() -> None:
    secret = "p@ss w/rd:+"  # proves Basic credentials are form-urlencoded before base64
    with (
        LocalProvider(users=google_users(), client_id=CLIENT_ID, client_secret=secret) as provider,
        requests.Session() as http,
    ):
        assert provider.issuer == f"http://127.0.0.1:{provider.port}"
        assert http.get(provider.discovery_url, timeout=5).json()["issuer"] == provider.issuer
        code, verifier = authorize(provider, http, login_hint="ann@corp.example")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        response = http.post(provider.token_endpoint, data=form, headers=basic(CLIENT_ID, secret), timeout=5)
        assert response.status_code == 200, response.text
        claims = verify(provider, http, response.json()["id_token"]).claims
        assert claims["hd"] == "corp.example"
        assert claims["email_verified"] is True
        assert claims["sub"] == google_users()[0].sub


def test_discovery_issuer_and_advertise_overrides(provider: LocalProvider, http: requests.Session) -> None:
    provider.discovery_issuer = "https://elsewhere.example/realms/demo"
    provider.advertise = {"code_challenge_methods_supported": ["plain"], "end_session_endpoint": None}
    doc = http.get(provider.discovery_url, timeout=5).json()
    assert doc["issuer"] == "https://elsewhere.example/realms/demo"
    assert doc["code_challenge_methods_supported"] == ["plain"]
    assert "end_session_endpoint" not in doc
    # ID tokens still carry the real issuer.
    assert verify(provider, http, tokens(provider, http)["id_token"]).claims["iss"] == provider.issuer


def test_full_code_flow(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid email profile"
    assert body["expires_in"] == 300 and body["refresh_token"]

    id_token = verify(provider, http, body["id_token"])
    assert id_token.header == {"alg": "RS256", "kid": provider.current_kid, "typ": "JWT"}
    claims = id_token.claims
    assert claims["iss"] == provider.issuer
    assert claims["sub"] == ALICE_SUB
    assert claims["aud"] == CLIENT_ID and claims["azp"] == CLIENT_ID
    assert claims["nonce"] == "n-1"
    assert claims["sid"] and claims["auth_time"] <= claims["iat"] < claims["exp"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["email"] == "alice@example.com" and claims["preferred_username"] == "alice"
    assert claims["realm_access"] == {"roles": ["admin", "user"]}
    assert claims["resource_access"] == {CLIENT_ID: {"roles": ["editor"]}}
    assert claims["groups"] == ["admins"]

    access = verify(provider, http, body["access_token"]).claims
    assert access["aud"] == "account" and access["azp"] == CLIENT_ID
    assert access["sub"] == ALICE_SUB and access["scope"] == "openid email profile"

    userinfo = http.get(
        provider.userinfo_endpoint, timeout=5, headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == ALICE_SUB and userinfo.json()["email"] == "alice@example.com"
    assert provider.userinfo_hits == 1

    (recorded,) = provider.authorize_requests
    assert recorded["login_hint"] == "alice" and recorded["code_challenge_method"] == "S256"
    (token_request,) = provider.token_requests
    assert token_request["auth_method"] == "client_secret_basic"
    assert token_request["form"]["grant_type"] == "authorization_code"


def test_refresh_token_grant(provider: LocalProvider, http: requests.Session) -> None:
    refresh = tokens(provider, http)["refresh_token"]
    response = http.post(
        provider.token_endpoint,
        headers=basic(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": refresh},
    )
    assert response.status_code == 200, response.text
    assert "nonce" not in verify(provider, http, response.json()["id_token"]).claims


def test_client_secret_post(provider: LocalProvider, http: requests.Session) -> None:
    code, verifier = authorize(provider, http)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    response = http.post(provider.token_endpoint, data=form, timeout=5)
    assert response.status_code == 200, response.text
    assert provider.token_requests[-1]["auth_method"] == "client_secret_post"


def test_bad_verifier_is_invalid_grant(provider: LocalProvider, http: requests.Session) -> None:
    code, _ = authorize(provider, http)
    response = exchange(provider, http, code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_is_single_use(provider: LocalProvider, http: requests.Session) -> None:
    code, verifier = authorize(provider, http)
    assert exchange(provider, http, code, verifier).status_code == 200
    again = exchange(provider, http, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match(provider: LocalProvider, http: requests.Session) -> None:
    code, verifier = authorize(provider, http)
    response = exchange(provider, http, code, verifier, redirect_uri="http://127.0.0.1:1/other")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("how", ["basic", "post"])
def test_wrong_secret_is_invalid_client(provider: LocalProvider, http: requests.Session, how: str) -> None:
    code, verifier = authorize(provider, http)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    if how == "basic":
        response = http.post(provider.token_endpoint, data=form, headers=basic(CLIENT_ID, "nope"), timeout=5)
    else:
        response = http.post(
            provider.token_endpoint, timeout=5, data={**form, "client_id": CLIENT_ID, "client_secret": "nope"}
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_token_fault_500(provider: LocalProvider, http: requests.Session) -> None:
    code, verifier = authorize(provider, http)
    provider.token_fault = "500"
    response = exchange(provider, http, code, verifier)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")


def test_token_fault_invalid_grant(provider: LocalProvider, http: requests.Session) -> None:
    code, verifier = authorize(provider, http)
    provider.token_fault = "invalid_grant"
    response = exchange(provider, http, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant" and response.json()["error_description"]


def test_token_fault_slow(provider: LocalProvider, http: requests.Session) -> None:
    code, verifier = authorize(provider, http)
    provider.token_fault, provider.slow_seconds = "slow", 2.0
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    with pytest.raises(requests.Timeout):
        http.post(provider.token_endpoint, data=form, headers=basic(CLIENT_ID, CLIENT_SECRET), timeout=0.3)
    # The stalled request does not block others.
    provider.token_fault = None
    assert http.get(provider.discovery_url, timeout=5).status_code == 200


def test_discovery_faults(provider: LocalProvider, http: requests.Session) -> None:
    provider.discovery_fault = "500"
    response = http.get(provider.discovery_url, timeout=5)
    assert response.status_code == 500 and response.headers["content-type"].startswith("text/html")
    provider.discovery_fault, provider.slow_seconds = "slow", 2.0
    with pytest.raises(requests.Timeout):
        http.get(provider.discovery_url, timeout=0.3)
    assert provider.discovery_hits == 2


def test_unknown_fault_is_rejected(provider: LocalProvider) -> None:
    with pytest.raises(ValueError):
        provider.token_fault = "timeout"
    with pytest.raises(ValueError):
        provider.discovery_fault = "invalid_grant"


def test_stop_interrupts_slow_wait() -> None:
    with LocalProvider(users=google_users()) as provider:
        provider.discovery_fault, provider.slow_seconds = "slow", 60.0
        with pytest.raises(requests.Timeout):
            requests.get(provider.discovery_url, timeout=0.3)
        assert provider.discovery_hits == 1  # the request is parked in the slow wait
        began = time.monotonic()
        provider.stop()
        assert time.monotonic() - began < 5
        provider.stop()  # idempotent, so the context manager's stop is harmless


def test_authorize_error(provider: LocalProvider, http: requests.Session) -> None:
    provider.authorize_error = "access_denied"
    response = http.get(
        provider.authorization_endpoint,
        allow_redirects=False,
        timeout=5,
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "state": "s9",
            "code_challenge": create_s256_code_challenge("v" * 43),
            "code_challenge_method": "S256",
            "login_hint": "alice",
        },
    )
    assert response.status_code == 302
    query = redirect_query(response)
    assert query["error"] == "access_denied" and query["state"] == "s9" and "code" not in query


def test_authorize_validation(provider: LocalProvider, http: requests.Session) -> None:
    base = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "state": "s"}
    no_pkce = http.get(provider.authorization_endpoint, params=base, allow_redirects=False, timeout=5)
    assert no_pkce.status_code == 302 and redirect_query(no_pkce)["error"] == "invalid_request"
    unknown = http.get(
        provider.authorization_endpoint, params={**base, "client_id": "evil"}, allow_redirects=False, timeout=5
    )
    assert unknown.status_code == 400 and "Unknown client" in unknown.text


def test_login_page_and_post(provider: LocalProvider, http: requests.Session) -> None:
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid",
        "state": "st-1",
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    page = http.get(provider.authorization_endpoint, params=params, timeout=5)
    assert page.status_code == 200
    assert "Sign in to Local Provider" in page.text
    assert f'<button type="submit" name="user" value="{ALICE_SUB}">alice</button>' in page.text
    response = http.post(
        provider.authorization_endpoint, data={**params, "user": ALICE_SUB}, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302
    code = redirect_query(response)["code"]
    body = exchange(provider, http, code, verifier).json()
    assert verify(provider, http, body["id_token"]).claims["sub"] == ALICE_SUB


def test_id_token_claims_override(provider: LocalProvider, http: requests.Session) -> None:
    provider.id_token_claims_override = {"aud": "other", "nonce": "x", "sub": None}
    claims = verify(provider, http, tokens(provider, http)["id_token"]).claims
    assert claims["aud"] == "other" and claims["nonce"] == "x" and "sub" not in claims


def test_sign_with_foreign_key_breaks_signature(provider: LocalProvider, http: requests.Session) -> None:
    # Without a kid of its own, the foreign key borrows the current kid: a pure bad signature.
    provider.sign_with = RSAKey.generate_key(2048)
    token = tokens(provider, http)["id_token"]
    with pytest.raises(BadSignatureError):
        verify(provider, http, token)
    assert jwt.decode(token, provider.sign_with).header["kid"] == provider.current_kid
    # With a kid of its own, the kid is unknown to the JWKS.
    provider.sign_with = generate_signing_key("rogue")
    with pytest.raises(InvalidKeyIdError):
        verify(provider, http, tokens(provider, http)["id_token"])


def test_rotate_keys(provider: LocalProvider, http: requests.Session) -> None:
    before = tokens(provider, http)["id_token"]
    old_kid = provider.current_kid
    new_kid = provider.rotate_keys()
    assert new_kid != old_kid and provider.current_kid == new_kid
    jwks = http.get(provider.jwks_uri, timeout=5).json()
    assert [key["kid"] for key in jwks["keys"]] == [new_kid]
    assert jwks["keys"][0]["use"] == "sig" and jwks["keys"][0]["alg"] == "RS256"
    assert "d" not in jwks["keys"][0]
    with pytest.raises(InvalidKeyIdError):
        verify(provider, http, before)
    after = verify(provider, http, tokens(provider, http)["id_token"])
    assert after.header["kid"] == new_kid


def test_date_offset(provider: LocalProvider, http: requests.Session) -> None:
    provider.date_offset_seconds = -3600.0
    response = http.get(provider.discovery_url, timeout=5)
    skew = parsedate_to_datetime(response.headers["Date"]).timestamp() - time.time()
    assert -3605 < skew < -3595
    claims = verify(provider, http, tokens(provider, http)["id_token"]).claims
    assert -3605 < claims["iat"] - time.time() < -3595


def test_roles_only_in_access_token(provider: LocalProvider, http: requests.Session) -> None:
    provider.roles_in_id_token = False
    body = tokens(provider, http)
    id_claims = verify(provider, http, body["id_token"]).claims
    assert not {"realm_access", "resource_access", "groups"} & set(id_claims)
    access = verify(provider, http, body["access_token"]).claims
    assert access["realm_access"] == {"roles": ["admin", "user"]}
    assert access["resource_access"] == {CLIENT_ID: {"roles": ["editor"]}}
    assert access["groups"] == ["admins"]
    userinfo = http.get(
        provider.userinfo_endpoint, timeout=5, headers={"Authorization": f"Bearer {body['access_token']}"}
    ).json()
    assert userinfo["groups"] == ["admins"] and "realm_access" not in userinfo


def test_userinfo_rejects_bad_token(provider: LocalProvider, http: requests.Session) -> None:
    response = http.get(provider.userinfo_endpoint, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_end_session(provider: LocalProvider, http: requests.Session) -> None:
    response = http.get(
        provider.end_session_endpoint,
        allow_redirects=False,
        timeout=5,
        params={"post_logout_redirect_uri": REDIRECT_URI, "state": "bye"},
    )
    assert response.status_code == 302 and redirect_query(response) == {"state": "bye"}
    page = http.get(provider.end_session_endpoint, timeout=5)
    assert page.status_code == 200 and "Signed out" in page.text
    assert provider.end_session_requests[0]["state"] == "bye"


def test_reset_restores_defaults(provider: LocalProvider, http: requests.Session) -> None:
    kid = provider.current_kid
    provider.token_fault, provider.roles_in_id_token, provider.advertise = "500", False, {"x": 1}
    http.get(provider.discovery_url, timeout=5)
    provider.reset()
    assert provider.token_fault is None and provider.roles_in_id_token is True and provider.advertise == {}
    assert provider.discovery_hits == 0 and provider.current_kid == kid
    assert isinstance(provider.users[ALICE_SUB], ProviderUser)
