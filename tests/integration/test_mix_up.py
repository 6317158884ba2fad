"""Mix-up attack with two providers (RFC 9700 §4.4), in-process routes, real providers.

The attack: the victim chooses the hostile provider, which bounces them to the honest
provider's authorization endpoint with the honest client id and redirect URI, the
victim's state and the attacker's nonce and PKCE challenge. With one shared redirect
URI the app would take the honest code as the hostile provider's and send it to the
hostile token endpoint, where the attacker redeems it. Each provider now has its own
redirect URI, and a response is accepted only at the callback of the provider the
sign-in started with; RFC 9207 ``iss`` is required where the provider promises it.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from auth import Auth
from devprovider import LocalProvider, ProviderUser
from tests.support.inprocess import PUBLIC_URL, build_auth, client_for, path_and_query, query, session_cookies

ALICE = ProviderUser(sub="alice", claims={"email": "alice@example.com", "email_verified": True, "roles": ["admin"]})


@pytest.fixture(scope="module")
def honest() -> Iterator[LocalProvider]:
    with LocalProvider(users=[ALICE], client_id="honest-app", client_secret="honest-secret") as provider:
        yield provider


@pytest.fixture(scope="module")
def hostile() -> Iterator[LocalProvider]:
    with LocalProvider(users=[], client_id="hostile-app", client_secret="hostile-secret") as provider:
        yield provider


@pytest.fixture(autouse=True)
def _reset(honest: LocalProvider, hostile: LocalProvider) -> Iterator[None]:
    yield
    honest.reset()
    hostile.reset()


@pytest.fixture
def auth(honest: LocalProvider, hostile: LocalProvider) -> Auth:
    return build_auth({"honest": honest, "hostile": hostile})


def approve_at(provider: LocalProvider, authorize_url: str, user: str = "alice") -> str:
    """The victim's browser at the provider: signs in, returns the redirect back to the app."""
    response = requests.get(authorize_url + f"&login_hint={user}", allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def test_code_from_the_honest_provider_is_refused_for_a_sign_in_started_with_the_hostile_one(
    auth: Auth, honest: LocalProvider, hostile: LocalProvider
) -> None:
    attacker, victim = client_for(auth, address="203.0.113.1"), client_for(auth, address="198.51.100.2")
    # The attacker starts its own sign-in at the honest provider and keeps nonce and challenge.
    attackers = query(attacker.get("/auth/login", params={"provider": "honest"}).headers["location"])
    # The victim chooses the hostile provider; the app sends them there with the victim's state.
    to_hostile = victim.get("/auth/login", params={"provider": "hostile", "next": "/"}).headers["location"]
    victim_state = query(to_hostile)["state"]
    # The hostile provider bounces the victim to the honest one, mixing the parameters.
    mixed = {**attackers, "state": victim_state}
    bounced = f"{honest.authorization_endpoint}?{urlencode(mixed)}"
    back = approve_at(honest, bounced)
    assert urlsplit(back).path == "/auth/callback/honest"

    response = victim.get(path_and_query(back))

    assert response.status_code == 400
    assert "did not come from the provider you chose" in response.text
    assert session_cookies(response.headers.get_list("set-cookie"), auth.settings.cookie_name) == []
    # The honest code never reached any token endpoint: nobody can redeem it through us.
    assert hostile.token_requests == [] and honest.token_requests == []


def test_each_provider_is_sent_its_own_redirect_uri(auth: Auth, honest: LocalProvider) -> None:
    browser = client_for(auth)
    for name in ("honest", "hostile"):
        location = browser.get("/auth/login", params={"provider": name}).headers["location"]
        assert query(location)["redirect_uri"] == f"{PUBLIC_URL}/auth/callback/{name}"


def test_honest_sign_in_completes_at_its_own_callback(auth: Auth, honest: LocalProvider) -> None:
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "honest", "next": "/profile"})
    response = browser.get(path_and_query(approve_at(honest, start.headers["location"])))

    assert response.status_code == 302 and response.headers["location"] == "/profile"
    assert session_cookies(response.headers.get_list("set-cookie"), auth.settings.cookie_name)
    assert honest.token_requests[-1]["form"]["redirect_uri"] == f"{PUBLIC_URL}/auth/callback/honest"


def test_response_without_iss_is_refused_when_the_provider_promises_it(auth: Auth, honest: LocalProvider) -> None:
    """RFC 9207 §2.4: a provider that advertises iss must send it; its absence suggests a mix-up."""
    honest.advertise = {"authorization_response_iss_parameter_supported": True}
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "honest"})
    back = approve_at(honest, start.headers["location"])
    assert "iss" not in query(back)

    response = browser.get(path_and_query(back))

    assert response.status_code == 400
    assert "did not come from the provider you chose" in response.text
    assert honest.token_requests == []


def test_response_with_the_providers_iss_is_accepted(auth: Auth, honest: LocalProvider) -> None:
    honest.send_iss = True
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "honest"})
    back = approve_at(honest, start.headers["location"])
    assert query(back)["iss"] == honest.issuer

    response = browser.get(path_and_query(back))
    assert response.status_code == 302


def test_response_naming_another_issuer_is_refused(auth: Auth, honest: LocalProvider, hostile: LocalProvider) -> None:
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "honest"})
    back = approve_at(honest, start.headers["location"]) + "&" + urlencode({"iss": hostile.issuer})

    response = browser.get(path_and_query(back))

    assert response.status_code == 400
    assert honest.token_requests == []


def test_shared_callback_answers_404_with_every_redirect_uri_when_several_providers(auth: Auth) -> None:
    response = client_for(auth).get("/auth/callback", params={"code": "x", "state": "y"})
    assert response.status_code == 404
    assert f"{PUBLIC_URL}/auth/callback/honest" in response.text
    assert f"{PUBLIC_URL}/auth/callback/hostile" in response.text


def test_shared_callback_keeps_working_with_one_provider(honest: LocalProvider) -> None:
    """Registrations made before per-provider callbacks: AUTH_LEGACY_CALLBACK with one provider."""
    auth = build_auth({"honest": honest}, AUTH_LEGACY_CALLBACK="true")
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "honest"})
    assert query(start.headers["location"])["redirect_uri"] == f"{PUBLIC_URL}/auth/callback"
    back = approve_at(honest, start.headers["location"])
    assert urlsplit(back).path == "/auth/callback"

    response = browser.get(path_and_query(back))

    assert response.status_code == 302
    assert honest.token_requests[-1]["form"]["redirect_uri"] == f"{PUBLIC_URL}/auth/callback"
