"""The local OpenID provider behaves like a real one, over real HTTP.

Other tests rely on ``LocalProvider`` to reproduce provider shapes and faults; if it
silently stopped producing them, those tests would pass for the wrong reason.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet, RSAKey

from devprovider import (
    BACKCHANNEL_LOGOUT_EVENT,
    PROVIDER_SESSION_COOKIE,
    LocalProvider,
    ProviderUser,
    generate_signing_key,
    google_users,
    keycloak_users,
)

CLIENT_ID = "app"
CLIENT_SECRET = "s3cret"
REDIRECT_URI = "http://127.0.0.1:8501/oauth2callback"
ALICE_SUB = keycloak_users(CLIENT_ID)[0].sub
BOB_SUB = keycloak_users(CLIENT_ID)[1].sub
LOGGED_OUT_URI = "http://127.0.0.1:8501/logged-out"
# One PKCE pair for the SSO tests, which build authorization requests without login_hint.
SSO_VERIFIER = secrets.token_urlsafe(48)


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


def test_jwks_faults(provider: LocalProvider, http: requests.Session) -> None:
    provider.jwks_fault = "500"
    response = http.get(provider.jwks_uri, timeout=5)
    assert response.status_code == 500 and response.headers["content-type"].startswith("text/html")
    provider.jwks_fault, provider.slow_seconds = "slow", 2.0
    with pytest.raises(requests.Timeout):
        http.get(provider.jwks_uri, timeout=0.3)
    provider.jwks_fault = None
    assert http.get(provider.jwks_uri, timeout=5).json() == provider.jwks()
    assert provider.jwks_hits == 3


def test_unknown_fault_is_rejected(provider: LocalProvider) -> None:
    with pytest.raises(ValueError):
        provider.token_fault = "timeout"
    with pytest.raises(ValueError):
        provider.discovery_fault = "invalid_grant"
    with pytest.raises(ValueError):
        provider.jwks_fault = "redirect"


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
    assert "Choose an account" in page.text
    # One card per account: its username is the submit button, named by what it shows; the
    # account's name and the rest of the card describe it.
    assert (
        f'<button class="pick" type="submit" name="user" value="{ALICE_SUB}" '
        'aria-describedby="account-0-name account-0-details">alice</button>'
    ) in page.text
    assert '<span id="account-0-name">Alice Admin</span>' in page.text
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
        params={"client_id": CLIENT_ID, "post_logout_redirect_uri": REDIRECT_URI, "state": "bye"},
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


# ------------------------------------------------------------ logout features


class Receiver:
    """A stand-in for the app's back-channel logout endpoint, on 127.0.0.1.

    It records each POST before answering, and the provider delivers synchronously, so a
    test can read ``posts`` as soon as the provider call returns.
    """

    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        self.status = 200
        #: fetched before answering, as an app fetches the provider's JWKS to check the token
        self.fetch_first: str | None = None
        self.fetched: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.posts.append(
                    {"content_type": self.headers.get("Content-Type", ""), "body": self.rfile.read(length).decode()}
                )
                if receiver.fetch_first is not None:
                    receiver.fetched.append(requests.get(receiver.fetch_first, timeout=5).status_code)
                reply = b"ok" if receiver.status == 200 else b"bad"
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep logout tokens out of the test output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/auth/backchannel-logout"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def logout_tokens(self) -> list[str]:
        return [parse_qs(post["body"])["logout_token"][0] for post in self.posts]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def sso_params(**extra: str) -> dict[str, str]:
    """An authorization request without ``login_hint``: only a provider session skips the form."""
    return {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid",
        "state": "st-1",
        "code_challenge": create_s256_code_challenge(SSO_VERIFIER),
        "code_challenge_method": "S256",
        **extra,
    }


def id_claims(provider: LocalProvider, http: requests.Session, response: requests.Response) -> dict[str, Any]:
    """Redeem the code in an authorize redirect; the verified ID token's claims."""
    assert response.status_code == 302, response.text
    body = exchange(provider, http, redirect_query(response)["code"], SSO_VERIFIER).json()
    return verify(provider, http, body["id_token"]).claims


def b64url_json(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def revoke(provider: LocalProvider, http: requests.Session, token: str, **extra: str) -> requests.Response:
    return http.post(
        provider.revocation_endpoint,
        data={"token": token, **extra},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )


def test_discovery_advertises_logout_support(provider: LocalProvider, http: requests.Session) -> None:
    doc = http.get(provider.discovery_url, timeout=5).json()
    assert doc["revocation_endpoint"] == provider.revocation_endpoint == provider.backchannel_base + "/revoke"
    assert doc["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    provider.advertise = {"backchannel_logout_supported": None, "backchannel_logout_session_supported": None}
    doc = http.get(provider.discovery_url, timeout=5).json()
    assert "backchannel_logout_supported" not in doc and "backchannel_logout_session_supported" not in doc


def test_sso_signs_the_browser_in_again_without_the_form(provider: LocalProvider, http: requests.Session) -> None:
    provider.sso = True
    signed_in = http.post(
        provider.authorization_endpoint, data={**sso_params(), "user": ALICE_SUB}, allow_redirects=False, timeout=5
    )
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{PROVIDER_SESSION_COOKIE}=")
    assert {"httponly", "path=/", "samesite=lax"} <= {part.strip().lower() for part in cookie.split(";")}
    first = id_claims(provider, http, signed_in)

    again = id_claims(
        provider, http, http.get(provider.authorization_endpoint, params=sso_params(), timeout=5, allow_redirects=False)
    )
    silent = http.get(
        provider.authorization_endpoint, params=sso_params(prompt="none"), allow_redirects=False, timeout=5
    )
    assert silent.status_code == 302 and "code" in redirect_query(silent)

    assert provider.sso_approvals == 2
    assert again["sub"] == ALICE_SUB
    assert (again["sid"], again["auth_time"]) == (first["sid"], first["auth_time"])
    assert provider.sessions_of(ALICE_SUB) == [first["sid"]]


def test_sso_prompt_login_or_another_user_shows_a_fresh_sign_in(
    provider: LocalProvider, http: requests.Session
) -> None:
    provider.sso = True
    first = id_claims(
        provider,
        http,
        http.get(
            provider.authorization_endpoint, params=sso_params(login_hint="alice"), allow_redirects=False, timeout=5
        ),
    )
    for prompt in ("login", "select_account"):
        page = http.get(provider.authorization_endpoint, params=sso_params(prompt=prompt), timeout=5)
        assert page.status_code == 200 and "Choose an account" in page.text, prompt
    assert provider.sso_approvals == 0

    # Re-authenticating the same user renews the session; it keeps its sid.
    renewed = id_claims(
        provider,
        http,
        http.post(
            provider.authorization_endpoint,
            data={**sso_params(prompt="login"), "user": ALICE_SUB},
            allow_redirects=False,
            timeout=5,
        ),
    )
    assert renewed["sid"] == first["sid"] and renewed["auth_time"] >= first["auth_time"]

    # A login_hint naming someone else is a new sign-in, not SSO as Alice.
    bob = id_claims(
        provider,
        http,
        http.get(
            provider.authorization_endpoint, params=sso_params(login_hint="bob"), allow_redirects=False, timeout=5
        ),
    )
    assert bob["sub"] == BOB_SUB and bob["sid"] != first["sid"]
    assert provider.sso_approvals == 0
    assert provider.sessions_of(BOB_SUB) == [bob["sid"]]


def test_without_sso_there_is_no_cookie_but_sessions_still_end(provider: LocalProvider, http: requests.Session) -> None:
    code_response = http.get(
        provider.authorization_endpoint, params=sso_params(login_hint="alice"), allow_redirects=False, timeout=5
    )
    assert "set-cookie" not in code_response.headers
    sid = id_claims(provider, http, code_response)["sid"]
    page = http.get(provider.authorization_endpoint, params=sso_params(), timeout=5)
    assert page.status_code == 200 and "Choose an account" in page.text
    none = http.get(provider.authorization_endpoint, params=sso_params(prompt="none"), allow_redirects=False, timeout=5)
    assert redirect_query(none)["error"] == "login_required"
    assert provider.end_provider_sessions(ALICE_SUB) == [sid]
    assert provider.backchannel_deliveries == []  # no backchannel_logout_uri, nothing sent


def test_end_session_with_hint_ends_the_provider_session(provider: LocalProvider, http: requests.Session) -> None:
    provider.sso = True
    body = tokens(provider, http)
    sid = verify(provider, http, body["id_token"]).claims["sid"]
    assert provider.sessions_of(ALICE_SUB) == [sid] and PROVIDER_SESSION_COOKIE in http.cookies

    response = http.get(
        provider.end_session_endpoint,
        params={
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT_URI + "?from=idp",
            "state": "bye",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    assert response.headers["location"] == LOGGED_OUT_URI + "?from=idp&state=bye"
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert PROVIDER_SESSION_COOKIE not in http.cookies
    assert provider.sessions_of(ALICE_SUB) == []
    page = http.get(provider.authorization_endpoint, params=sso_params(), timeout=5)
    assert page.status_code == 200 and "Choose an account" in page.text
    assert provider.sso_approvals == 0


def test_end_session_by_cookie_and_expired_hint(provider: LocalProvider, http: requests.Session) -> None:
    """Without a hint the browser's cookie names the session; an expired hint is accepted."""
    provider.sso = True
    tokens(provider, http)
    page = http.post(provider.end_session_endpoint, data={}, timeout=5)
    assert page.status_code == 200 and "Signed out" in page.text
    assert provider.sessions_of(ALICE_SUB) == []

    provider.id_token_lifetime = -60
    expired = tokens(provider, http)["id_token"]
    assert verify(provider, http, expired).claims["exp"] < time.time()
    response = http.get(
        provider.end_session_endpoint,
        params={"id_token_hint": expired, "post_logout_redirect_uri": LOGGED_OUT_URI},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302 and response.headers["location"] == LOGGED_OUT_URI
    assert provider.sessions_of(ALICE_SUB) == []


@pytest.mark.parametrize(
    ("forgery", "message"),
    [
        ("foreign_key", "id_token_hint is not an ID token signed by this provider."),
        ("unknown_kid", "id_token_hint is not an ID token signed by this provider."),
        ("unsigned", "id_token_hint is not an ID token signed by this provider."),
        ("garbage", "id_token_hint is not an ID token signed by this provider."),
        ("rotated_away", "id_token_hint is not an ID token signed by this provider."),
        ("other_audience", "id_token_hint was not issued to this client."),
    ],
)
def test_end_session_refuses_a_bad_hint(
    provider: LocalProvider, http: requests.Session, forgery: str, message: str
) -> None:
    if forgery == "foreign_key":
        provider.sign_with = RSAKey.generate_key(2048)  # borrows the current kid
    elif forgery == "unknown_kid":
        provider.sign_with = generate_signing_key("rogue")
    elif forgery == "other_audience":
        provider.id_token_claims_override = {"aud": "other-app"}
    hint = tokens(provider, http)["id_token"]
    if forgery == "unsigned":
        none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        hint = f"{none_header}.{hint.split('.')[1]}."  # the real claims, signature stripped
    elif forgery == "garbage":
        hint = "not-a-jwt"
    elif forgery == "rotated_away":
        provider.rotate_keys()  # the old key leaves the JWKS at once
    provider.backchannel_logout_uri = "http://127.0.0.1:9/never-called"

    response = http.get(
        provider.end_session_endpoint,
        params={"id_token_hint": hint, "post_logout_redirect_uri": LOGGED_OUT_URI},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 400 and "location" not in response.headers
    assert message in response.text
    assert len(provider.sessions_of(ALICE_SUB)) == 1
    assert provider.backchannel_deliveries == []


def test_end_session_checks_client_and_registered_redirect() -> None:
    with (
        LocalProvider(
            users=keycloak_users(CLIENT_ID),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            post_logout_redirect_uris=[LOGGED_OUT_URI],
        ) as strict,
        requests.Session() as http,
    ):
        assert strict.post_logout_redirect_uris == [LOGGED_OUT_URI]
        refused = [
            (
                {"client_id": CLIENT_ID, "post_logout_redirect_uri": REDIRECT_URI},
                "post_logout_redirect_uri is not registered.",
            ),
            (
                {"post_logout_redirect_uri": LOGGED_OUT_URI},
                "post_logout_redirect_uri requires id_token_hint or client_id.",
            ),
            (
                {"client_id": "evil", "post_logout_redirect_uri": LOGGED_OUT_URI},
                "client_id &#x27;evil&#x27; is not registered.",
            ),
            ({"client_id": CLIENT_ID, "post_logout_redirect_uri": "javascript:alert(1)"}, "must be http(s)."),
        ]
        for params, message in refused:
            response = http.get(strict.end_session_endpoint, params=params, allow_redirects=False, timeout=5)
            assert response.status_code == 400 and message in response.text, params
        accepted = http.post(
            strict.end_session_endpoint,
            data={"client_id": CLIENT_ID, "post_logout_redirect_uri": LOGGED_OUT_URI, "state": "s 1"},
            allow_redirects=False,
            timeout=5,
        )
        assert accepted.status_code == 302 and accepted.headers["location"] == LOGGED_OUT_URI + "?state=s+1"
        assert len(strict.end_session_requests) == len(refused) + 1


def test_end_session_sends_a_backchannel_logout_token(
    provider: LocalProvider, http: requests.Session, receiver: Receiver
) -> None:
    provider.backchannel_logout_uri = receiver.url
    body = tokens(provider, http)
    sid = verify(provider, http, body["id_token"]).claims["sid"]

    page = http.get(provider.end_session_endpoint, params={"id_token_hint": body["id_token"]}, timeout=5)
    assert page.status_code == 200 and "Signed out" in page.text

    (post,) = receiver.posts
    assert post["content_type"] == "application/x-www-form-urlencoded"
    assert list(parse_qs(post["body"])) == ["logout_token"]
    token = verify(provider, http, receiver.logout_tokens()[0])
    assert token.header == {"alg": "RS256", "kid": provider.current_kid, "typ": "logout+jwt"}
    claims = token.claims
    assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT_ID
    assert claims["sub"] == ALICE_SUB and claims["sid"] == sid
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert claims["exp"] - claims["iat"] == 120 and abs(claims["iat"] - time.time()) < 5
    assert claims["jti"] and "nonce" not in claims
    assert provider.backchannel_deliveries == [{"status": 200, "body": "ok", "claims": claims}]
    assert provider.sessions_of(ALICE_SUB) == []


def test_provider_answers_while_the_app_handles_the_logout_token(
    provider: LocalProvider, http: requests.Session, receiver: Receiver
) -> None:
    """The delivery must not block the provider's event loop: the app calls back for JWKS."""
    provider.backchannel_logout_uri, receiver.fetch_first = receiver.url, provider.jwks_uri
    body = tokens(provider, http)
    page = http.get(provider.end_session_endpoint, params={"id_token_hint": body["id_token"]}, timeout=8)
    assert page.status_code == 200
    assert receiver.fetched == [200] and provider.jwks_hits == 1
    assert [delivery["status"] for delivery in provider.backchannel_deliveries] == [200]


def test_end_provider_sessions_logs_out_each_session(
    provider: LocalProvider, http: requests.Session, receiver: Receiver
) -> None:
    sids = [
        verify(provider, http, tokens(provider, http, who)["id_token"]).claims["sid"]
        for who in ("alice", "alice", "bob")
    ]
    provider.backchannel_logout_uri = receiver.url

    assert provider.end_provider_sessions(ALICE_SUB) == sids[:2]

    sent = [verify(provider, http, token).claims for token in receiver.logout_tokens()]
    assert [(claims["sub"], claims["sid"]) for claims in sent] == [(ALICE_SUB, sids[0]), (ALICE_SUB, sids[1])]
    assert sent[0]["jti"] != sent[1]["jti"]
    assert [delivery["status"] for delivery in provider.backchannel_deliveries] == [200, 200]
    assert provider.sessions_of(ALICE_SUB) == [] and provider.sessions_of(BOB_SUB) == [sids[2]]
    assert provider.end_provider_sessions(ALICE_SUB) == []
    assert len(receiver.posts) == 2


def test_backchannel_failures_are_recorded(provider: LocalProvider, http: requests.Session, receiver: Receiver) -> None:
    tokens(provider, http)
    receiver.status = 400
    provider.backchannel_logout_uri = receiver.url
    provider.end_provider_sessions(ALICE_SUB)
    assert [(d["status"], d["body"]) for d in provider.backchannel_deliveries] == [(400, "bad")]

    tokens(provider, http)
    with socket.socket() as bound_not_listening:  # connections to it are refused at once
        bound_not_listening.bind(("127.0.0.1", 0))
        provider.backchannel_logout_uri = f"http://127.0.0.1:{bound_not_listening.getsockname()[1]}/logout"
        (sid,) = provider.end_provider_sessions(ALICE_SUB)
    failed = provider.backchannel_deliveries[1]
    assert failed["status"] is None and failed["body"] == "ConnectionError"
    assert failed["claims"]["sid"] == sid


def test_logout_token_helper_and_overrides(provider: LocalProvider) -> None:
    provider.date_offset_seconds = -3600.0
    token = jwt.decode(
        provider.logout_token(sub=ALICE_SUB, sid="sid-1"), KeySet.import_key_set(provider.jwks()), algorithms=["RS256"]
    )
    assert token.header == {"alg": "RS256", "kid": provider.current_kid, "typ": "logout+jwt"}
    assert set(token.claims) == {"iss", "aud", "iat", "exp", "jti", "events", "sub", "sid"}
    assert -3605 < token.claims["iat"] - time.time() < -3595

    forged = provider.logout_token(
        sid="sid-1", claims_override={"nonce": "n", "events": None}, header_override={"typ": None, "kid": "other"}
    )
    decoded = jwt.decode(forged, provider.signing_key, algorithms=["RS256"])
    assert decoded.header == {"alg": "RS256", "kid": "other"}
    assert "sub" not in decoded.claims and "events" not in decoded.claims and decoded.claims["nonce"] == "n"

    foreign = provider.logout_token(sub=ALICE_SUB, key=generate_signing_key("rogue"))
    assert b64url_json(foreign.split(".")[0])["kid"] == "rogue"
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(foreign, KeySet.import_key_set(provider.jwks()), algorithms=["RS256"])

    unsigned = provider.logout_token(sub=ALICE_SUB, header_override={"alg": "none"})
    header, payload, signature = unsigned.split(".")
    assert signature == "" and b64url_json(header)["alg"] == "none" and b64url_json(payload)["sub"] == ALICE_SUB


def test_send_logout_token_posts_as_given(provider: LocalProvider, receiver: Receiver) -> None:
    receiver.status = 400
    assert provider.send_logout_token(receiver.url, "forged.token.x") == (400, "bad")
    assert receiver.logout_tokens() == ["forged.token.x"]
    assert provider.backchannel_deliveries == []


def test_revocation_forgets_tokens(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    first = revoke(provider, http, body["refresh_token"], token_type_hint="refresh_token")
    assert first.status_code == 200 and first.content == b""
    refreshed = http.post(
        provider.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"

    posted = http.post(
        provider.revocation_endpoint,
        data={"token": body["access_token"], "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        timeout=5,
    )
    assert posted.status_code == 200
    userinfo = http.get(
        provider.userinfo_endpoint, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5
    )
    assert userinfo.status_code == 401

    assert revoke(provider, http, body["refresh_token"], token_type_hint="access_token").status_code == 200
    assert provider.revocation_requests == [
        {"token_type_hint": "refresh_token", "known": True, "kind": "refresh_token"},
        {"token_type_hint": None, "known": True, "kind": "access_token"},
        {"token_type_hint": "access_token", "known": False, "kind": None},
    ]


def test_revocation_requires_the_client(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    wrong = http.post(
        provider.revocation_endpoint, data={"token": body["refresh_token"]}, headers=basic(CLIENT_ID, "nope"), timeout=5
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="LocalProvider"'
    anonymous = http.post(provider.revocation_endpoint, data={"token": body["refresh_token"]}, timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    missing = http.post(provider.revocation_endpoint, data={}, headers=basic(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"

    still_valid = http.post(
        provider.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert still_valid.status_code == 200
    assert body["refresh_token"] not in repr(provider.revocation_requests)


def test_reset_ends_sessions_and_logout_knobs(provider: LocalProvider, http: requests.Session) -> None:
    provider.sso, provider.backchannel_logout_uri = True, "http://127.0.0.1:9/never-called"
    body = tokens(provider, http)
    revoke(provider, http, body["access_token"])
    provider.reset()
    assert provider.sso is False and provider.backchannel_logout_uri is None
    assert provider.sessions_of(ALICE_SUB) == [] and provider.backchannel_deliveries == []
    assert provider.revocation_requests == [] and provider.sso_approvals == 0
    assert provider.post_logout_redirect_uris is None
    provider.sso = True  # the old cookie names a forgotten session: the form again
    page = http.get(provider.authorization_endpoint, params=sso_params(), timeout=5)
    assert page.status_code == 200 and "Choose an account" in page.text


# ------------------------------------------------------------------- refresh


def refresh(provider: LocalProvider, http: requests.Session, token: str, timeout: float = 5) -> requests.Response:
    return http.post(
        provider.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
        timeout=timeout,
    )


def refused(response: requests.Response) -> str:
    """The ``error_description`` of an ``invalid_grant`` answer (fails on anything else)."""
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    return str(response.json()["error_description"])


def outcomes(provider: LocalProvider) -> list[str]:
    return [entry["outcome"] for entry in provider.refresh_requests]


def userinfo_status(provider: LocalProvider, http: requests.Session, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return http.get(provider.userinfo_endpoint, headers=headers, timeout=5).status_code


def test_refresh_rotates_and_spends_the_presented_token(provider: LocalProvider, http: requests.Session) -> None:
    provider.access_token_lifetime = 20
    body = tokens(provider, http)
    first = refresh(provider, http, body["refresh_token"])
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    second = refresh(provider, http, first.json()["refresh_token"])
    assert second.status_code == 200, second.text

    chain = [body["refresh_token"], first.json()["refresh_token"], second.json()["refresh_token"]]
    assert len(set(chain)) == 3
    assert first.json()["expires_in"] == 20 and "refresh_expires_in" not in first.json()
    access = verify(provider, http, first.json()["access_token"]).claims
    assert access["exp"] - access["iat"] == 20
    assert userinfo_status(provider, http, second.json()["access_token"]) == 200
    assert not any(token in repr(provider.refresh_requests) for token in chain)

    assert "reuse detected" in refused(refresh(provider, http, first.json()["refresh_token"]))  # spent
    assert outcomes(provider) == ["issued", "issued", "reused"]
    grants = {entry["grant"] for entry in provider.refresh_requests}
    assert len(grants) == 1 and None not in grants
    assert provider.refresh_requests[0]["at"] <= provider.refresh_requests[1]["at"]
    assert [request["form"]["grant_type"] for request in provider.token_requests] == [
        "authorization_code",
        "refresh_token",
        "refresh_token",
        "refresh_token",
    ]


def test_reuse_revokes_the_whole_grant(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    bystander = tokens(provider, http)  # Alice's other sign-in: another grant
    rotated = refresh(provider, http, body["refresh_token"]).json()

    assert "reuse detected" in refused(refresh(provider, http, body["refresh_token"]))
    # Everything descending from that sign-in is dead, including the newest tokens.
    refused(refresh(provider, http, rotated["refresh_token"]))
    assert userinfo_status(provider, http, rotated["access_token"]) == 401
    assert userinfo_status(provider, http, body["access_token"]) == 401

    assert userinfo_status(provider, http, bystander["access_token"]) == 200
    assert refresh(provider, http, bystander["refresh_token"]).status_code == 200
    assert outcomes(provider) == ["issued", "reused", "revoked", "issued"]
    grants = [entry["grant"] for entry in provider.refresh_requests]
    assert grants[0] == grants[1] == grants[2] != grants[3]


def test_without_rotation_the_token_keeps_working(provider: LocalProvider, http: requests.Session) -> None:
    provider.rotate_refresh_tokens = False
    body = tokens(provider, http)
    answers = [refresh(provider, http, body["refresh_token"]) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert {answer.json()["refresh_token"] for answer in answers} == {body["refresh_token"]}
    assert len({answer.json()["access_token"] for answer in answers}) == 3
    assert outcomes(provider) == ["issued", "issued", "issued"]

    provider.rotate_refresh_tokens = True
    rotated = refresh(provider, http, body["refresh_token"])
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != body["refresh_token"]
    refused(refresh(provider, http, body["refresh_token"]))
    assert outcomes(provider)[-2:] == ["issued", "reused"]


def test_revoke_grants_revokes_every_grant_of_the_user(provider: LocalProvider, http: requests.Session) -> None:
    provider.revoke_grants(ALICE_SUB)  # earlier tests' sign-ins survive reset(): start clean
    alice = [tokens(provider, http) for _ in range(2)]
    pending_code, verifier = authorize(provider, http)  # approved, not yet redeemed
    bob = tokens(provider, http, "bob")

    assert provider.revoke_grants(ALICE_SUB) == 3
    assert provider.revoke_grants(ALICE_SUB) == 0
    for body in alice:
        assert refused(refresh(provider, http, body["refresh_token"])) == "Refresh token revoked"
        assert userinfo_status(provider, http, body["access_token"]) == 401
    refused(exchange(provider, http, pending_code, verifier))
    assert outcomes(provider) == ["revoked", "revoked"]

    assert userinfo_status(provider, http, bob["access_token"]) == 200
    assert refresh(provider, http, bob["refresh_token"]).status_code == 200
    fresh = tokens(provider, http)  # signing in again opens a new, live grant
    assert refresh(provider, http, fresh["refresh_token"]).status_code == 200
    with pytest.raises(ValueError, match="sub"):
        provider.revoke_grants("alice")  # the username, not the sub


def test_disabled_user_cannot_refresh_or_sign_in(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    sessions = provider.sessions_of(ALICE_SUB)
    provider.disable_user(ALICE_SUB)

    assert refused(refresh(provider, http, body["refresh_token"])) == "Account disabled or removed"
    assert userinfo_status(provider, http, body["access_token"]) == 401
    page = http.get(provider.authorization_endpoint, params=sso_params(login_hint="alice"), allow_redirects=False)
    assert page.status_code == 400 and "Account is disabled" in page.text
    assert provider.sessions_of(ALICE_SUB) == sessions  # the refused sign-in opened nothing
    bob = tokens(provider, http, "bob")
    assert refresh(provider, http, bob["refresh_token"]).status_code == 200

    provider.enable_user(ALICE_SUB)
    # The refused refresh did not spend the token, nor revoke the grant.
    assert userinfo_status(provider, http, body["access_token"]) == 200
    again = refresh(provider, http, body["refresh_token"])
    assert again.status_code == 200, again.text
    assert outcomes(provider) == ["disabled", "issued", "issued"]

    provider.disable_user(ALICE_SUB)
    provider.reset()  # reset enables everyone again
    assert refresh(provider, http, again.json()["refresh_token"]).status_code == 200
    with pytest.raises(ValueError):
        provider.disable_user("nobody")
    with pytest.raises(ValueError):
        provider.enable_user("nobody")


@pytest.mark.parametrize("roles_in_id_token", [True, False])
def test_refreshed_tokens_carry_current_claims(
    provider: LocalProvider, http: requests.Session, monkeypatch: pytest.MonkeyPatch, roles_in_id_token: bool
) -> None:
    provider.roles_in_id_token = roles_in_id_token
    body = tokens(provider, http)
    signed_in = verify(provider, http, body["id_token"]).claims
    assert signed_in["nonce"] == "n-1"

    claims = provider.users[ALICE_SUB].claims
    monkeypatch.setitem(claims, "realm_access", {"roles": ["user"]})  # an admin removed "admin"
    monkeypatch.setitem(claims, "name", "Alice Renamed")
    provider.date_offset_seconds = 120.0  # two minutes later, by the provider's clock
    provider.id_token_lifetime, provider.access_token_lifetime = 90, 15
    answer = refresh(provider, http, body["refresh_token"])
    assert answer.status_code == 200, answer.text
    refreshed = answer.json()

    id_token = verify(provider, http, refreshed["id_token"])  # signature checked against the JWKS
    assert id_token.header["kid"] == provider.current_kid
    new = id_token.claims
    for name in ("iss", "sub", "aud", "azp", "sid", "auth_time"):
        assert new[name] == signed_in[name], name
    assert new["iss"] == provider.issuer and new["sub"] == ALICE_SUB and new["aud"] == CLIENT_ID
    assert "nonce" not in new
    assert 115 <= new["iat"] - signed_in["iat"] <= 125 and new["exp"] - new["iat"] == 90
    assert new["name"] == "Alice Renamed"
    access = verify(provider, http, refreshed["access_token"]).claims
    assert access["exp"] - access["iat"] == 15 and refreshed["expires_in"] == 15
    assert access["sid"] == signed_in["sid"] and access["realm_access"] == {"roles": ["user"]}
    if roles_in_id_token:
        assert new["realm_access"] == {"roles": ["user"]}
    else:
        assert "realm_access" not in new and "realm_access" not in signed_in
    expected_at_hash = verify(provider, http, body["id_token"]).claims["at_hash"]
    assert new["at_hash"] != expected_at_hash  # bound to the new access token, not the old one


@pytest.mark.parametrize("fault", ["500", "invalid_grant"])
def test_refresh_fault_applies_to_refresh_only(provider: LocalProvider, http: requests.Session, fault: str) -> None:
    body = tokens(provider, http)
    provider.refresh_fault = fault
    assert tokens(provider, http)["access_token"]  # the code exchange is unaffected

    answer = refresh(provider, http, body["refresh_token"])
    if fault == "500":
        assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/html")
    else:
        assert refused(answer) == "Simulated invalid_grant fault"
    provider.refresh_fault = None
    assert refresh(provider, http, body["refresh_token"]).status_code == 200  # not spent by the fault
    assert outcomes(provider) == ["fault", "issued"]
    assert provider.refresh_requests[0]["grant"] == provider.refresh_requests[1]["grant"] is not None


def test_token_fault_on_a_refresh_is_recorded_as_fault(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    provider.token_fault = "500"
    assert refresh(provider, http, body["refresh_token"]).status_code == 500
    assert refresh(provider, http, "not-a-token").status_code == 500
    assert [(entry["outcome"], entry["grant"] is None) for entry in provider.refresh_requests] == [
        ("fault", False),
        ("fault", True),
    ]
    with pytest.raises(ValueError):
        provider.refresh_fault = "redirect"


def test_slow_refresh_abandoned_by_the_client_spends_nothing(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    provider.refresh_fault, provider.slow_seconds = "slow", 0.8
    with pytest.raises(requests.Timeout):
        refresh(provider, http, body["refresh_token"], timeout=0.25)
    # A patient client is answered after the wait; the abandoned request, which started
    # earlier, has been dropped by then without spending the token (else this is reuse).
    began = time.monotonic()
    answer = refresh(provider, http, body["refresh_token"])
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - began >= 0.75
    assert outcomes(provider) == ["fault", "issued"]


def test_refresh_token_lifetime(provider: LocalProvider, http: requests.Session) -> None:
    provider.refresh_token_lifetime = 60
    body = tokens(provider, http)
    assert body["refresh_expires_in"] == 60

    provider.date_offset_seconds = 45.0  # 45 s old: still valid, and its successor is new
    first = refresh(provider, http, body["refresh_token"])
    assert first.status_code == 200 and first.json()["refresh_expires_in"] == 60

    provider.date_offset_seconds = 45.0 + 61  # the successor is now 61 s old
    assert refused(refresh(provider, http, first.json()["refresh_token"])) == "Refresh token expired"
    assert userinfo_status(provider, http, first.json()["access_token"]) == 200  # grant not revoked
    assert outcomes(provider) == ["issued", "expired"]

    # Without rotation the one token keeps ageing from its first issue.
    provider.rotate_refresh_tokens, provider.date_offset_seconds = False, 0.0
    kept = tokens(provider, http)["refresh_token"]
    provider.date_offset_seconds = 30.0
    same = refresh(provider, http, kept).json()
    assert same["refresh_token"] == kept and 29 <= same["refresh_expires_in"] <= 30
    provider.date_offset_seconds = 61.0
    refused(refresh(provider, http, kept))


def test_concurrent_refreshes_with_one_token_issue_once(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    callers = 20
    start = threading.Barrier(callers)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def caller() -> None:
        with requests.Session() as own:
            start.wait()
            answer = refresh(provider, own, body["refresh_token"], timeout=10)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(answers) == callers

    winners = [answer for answer in answers if answer.status_code == 200]
    assert len(winners) == 1
    assert all("reuse detected" in refused(answer) for answer in answers if answer.status_code != 200)
    assert sorted(outcomes(provider)) == ["issued"] + ["reused"] * (callers - 1)
    assert len({entry["grant"] for entry in provider.refresh_requests}) == 1
    # The losers' reuse revoked the grant: the winner's fresh tokens are dead too.
    assert refused(refresh(provider, http, winners[0].json()["refresh_token"])) == "Refresh token revoked"
    assert userinfo_status(provider, http, winners[0].json()["access_token"]) == 401


def test_revoking_a_refresh_token_revokes_its_grant(provider: LocalProvider, http: requests.Session) -> None:
    body = tokens(provider, http)
    rotated = refresh(provider, http, body["refresh_token"]).json()
    assert revoke(provider, http, rotated["refresh_token"]).status_code == 200
    refused(refresh(provider, http, rotated["refresh_token"]))
    assert userinfo_status(provider, http, rotated["access_token"]) == 401
    assert outcomes(provider) == ["issued", "unknown"]


def test_refresh_requests_record_rejected_clients_and_unknown_tokens(
    provider: LocalProvider, http: requests.Session
) -> None:
    body = tokens(provider, http)
    wrong = http.post(
        provider.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic(CLIENT_ID, "nope"),
        timeout=5,
    )
    assert wrong.status_code == 401
    refused(refresh(provider, http, "made-up"))
    assert [(entry["outcome"], entry["grant"] is None) for entry in provider.refresh_requests] == [
        ("rejected", False),
        ("unknown", True),
    ]
    assert refresh(provider, http, body["refresh_token"]).status_code == 200  # still unspent


def test_reset_restores_refresh_knobs(provider: LocalProvider, http: requests.Session) -> None:
    provider.rotate_refresh_tokens, provider.refresh_fault, provider.refresh_token_lifetime = False, "500", 5.0
    refresh(provider, http, "x")
    assert provider.refresh_requests
    provider.reset()
    assert provider.rotate_refresh_tokens is True and provider.refresh_fault is None
    assert provider.refresh_token_lifetime is None and provider.refresh_requests == []
