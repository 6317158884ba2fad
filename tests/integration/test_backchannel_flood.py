"""Anyone can POST to ``/auth/backchannel-logout``: a flood of forged logout tokens must cost
the provider next to nothing, the log a line or two, and sign-in nothing at all.

The routes run in-process (Starlette's ``TestClient``); every provider call is real HTTP to a
``LocalProvider`` on 127.0.0.1 whose discovery or JWKS endpoint fails or stalls on demand, and
the provider counts the requests it gets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from starlette.testclient import TestClient

from auth import Auth
from auth.oidc import METADATA_TTL
from auth.routes import BACKCHANNEL_REFUSALS_PER_MINUTE
from devprovider import LocalProvider, ProviderUser, generate_signing_key
from tests.support.app_process import wait_until
from tests.support.clock import Clock
from tests.support.inprocess import build_auth, client_for, path_and_query

BACKCHANNEL = "/auth/backchannel-logout"
FLOOD = 50


@pytest.fixture(scope="module")
def _idp() -> Iterator[LocalProvider]:
    with LocalProvider(users=[ProviderUser(sub="alice", claims={"email": "a@example.com"})]) as provider:
        yield provider


@pytest.fixture
def idp(_idp: LocalProvider) -> Iterator[LocalProvider]:
    yield _idp
    _idp.reset()


def forged(idp: LocalProvider) -> str:
    """A logout token naming ``idp`` as its issuer, signed by a key the provider never had."""
    return idp.logout_token(sub="alice", key=generate_signing_key("forged"))


def flood(auth: Auth, token: str, count: int = FLOOD) -> list[int]:
    """``count`` POSTs of ``token``, each from an address of its own (as from a botnet, so the
    per-address limit does not hide what each request would cost)."""
    statuses = []
    for index in range(count):
        with client_for(auth, address=f"203.0.113.{index + 1}") as client:
            statuses.append(client.post(BACKCHANNEL, data={"logout_token": token}).status_code)
    return statuses


def warnings(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and f"event={event}" in r.getMessage()
    ]


def test_forged_posts_while_the_keys_cannot_be_fetched_cost_one_key_fetch(
    idp: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    auth = Auth(build_auth({"local": idp}).settings, monotonic=Clock(0.0))  # the flood takes no time
    idp.jwks_fault = "500"
    with caplog.at_level(logging.INFO, logger="auth"):
        statuses = flood(auth, forged(idp))

    assert statuses == [400] * FLOOD
    assert idp.jwks_hits == 1  # then remembered: the other 49 were refused without a request
    assert idp.discovery_hits == 1
    refused = warnings(caplog, "backchannel_logout_refused")
    assert len(refused) == 1  # identical refusals are counted, not written 50 times
    assert "the provider's keys could not be fetched" in refused[0]


def test_forged_posts_while_discovery_is_stale_and_down_refetch_it_once(
    idp: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(time.time())
    auth = Auth(build_auth({"local": idp}).settings, clock=clock, monotonic=Clock(0.0))
    client = auth.clients["local"]
    client.key_set()  # discovery and keys fetched, as after a sign-in
    clock.now += METADATA_TTL  # the discovery document is now stale
    idp.discovery_fault = "500"
    hits = idp.discovery_hits
    with caplog.at_level(logging.INFO, logger="auth"):
        statuses = flood(auth, idp.logout_token(sub="alice"))  # valid but, by our clock, an hour old

    assert statuses == [400] * FLOOD
    assert idp.discovery_hits - hits == 1  # before: 50
    stale = warnings(caplog, "discovery_stale")
    assert len(stale) == 1 and "using cached metadata" in stale[0]
    assert len(warnings(caplog, "backchannel_logout_refused")) == 1


@pytest.mark.parametrize("stalled_endpoint", ["discovery", "jwks"])
def test_a_backchannel_flood_at_a_stalled_provider_leaves_sign_in_at_a_healthy_one_alone(
    idp: LocalProvider, stalled_endpoint: str
) -> None:
    """Sixteen clients keep POSTing forged tokens of a provider whose discovery (or JWKS)
    endpoint hangs, while people sign in with another provider: none of them hears "busy"."""
    with LocalProvider(users=[ProviderUser(sub="mallory", claims={})]) as stalled:
        setattr(stalled, f"{stalled_endpoint}_fault", "slow")
        stalled.slow_seconds = 60.0  # until stop(), below
        auth = build_auth(
            {"healthy": idp, "stalled": stalled},
            AUTH_PROVIDER_CONCURRENCY="2",  # sign-in: 2 running + 8 waiting
            AUTH_RATE_LIMIT="off",  # the capacities alone are under test here
            AUTH_HTTP_TIMEOUT="30s",
        )
        callbacks = [prepared_callback(auth, idp, index) for index in range(5)]
        token, done = forged(stalled), threading.Event()
        # One client, so one event loop, as in the real server: the flood and the sign-ins meet there.
        with client_for(auth) as app:

            def keep_posting() -> int:
                sent = 0
                while not done.is_set():
                    app.post(BACKCHANNEL, data={"logout_token": token})
                    sent += 1
                return sent

            def fetches() -> int:
                return stalled.discovery_hits if stalled_endpoint == "discovery" else stalled.jwks_hits

            with ThreadPoolExecutor(max_workers=16) as pool:
                posting = [pool.submit(keep_posting) for _ in range(16)]
                try:
                    # Before the fix, two stalled fetches held both of sign-in's running slots.
                    wait_until(
                        lambda: fetches() >= (2 if stalled_endpoint == "discovery" else 1), 20, "stalled fetches"
                    )
                    signed_in = [complete(app, callback) for callback in callbacks]
                finally:
                    done.set()
                    stalled.stop()  # cuts the stalled requests short
                sent = sum(p.result() for p in posting)

    assert sent >= 16
    assert signed_in == [302] * 5, signed_in


def prepared_callback(auth: Auth, provider: LocalProvider, index: int) -> tuple[str, str]:
    """A sign-in approved at ``provider``, up to the callback: its path and cookie."""
    with client_for(auth, address=f"198.51.100.{index + 1}") as browser:
        start = browser.get("/auth/login", params={"provider": "healthy"})
        assert start.status_code == 302, start.text
        back = requests.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    return path_and_query(back.headers["location"]), cookie


def complete(app: TestClient, callback: tuple[str, str]) -> int:
    url, cookie = callback
    status = app.get(url, headers={"cookie": cookie}).status_code
    app.cookies.clear()
    return status


# -- the per-address limit --------------------------------------------------------------


def post(client: TestClient, token: str) -> requests.Response:
    return client.post(BACKCHANNEL, data={"logout_token": token})  # type: ignore[return-value]


def test_an_address_sending_refused_tokens_is_rate_limited(idp: LocalProvider) -> None:
    auth = Auth(build_auth({"local": idp}).settings, monotonic=Clock(0.0))  # nothing refills meanwhile
    noisy, other = client_for(auth, address="203.0.113.66"), client_for(auth, address="203.0.113.67")
    token = forged(idp)
    answers = [post(noisy, token) for _ in range(BACKCHANNEL_REFUSALS_PER_MINUTE + 1)]

    assert [a.status_code for a in answers[:-1]] == [400] * BACKCHANNEL_REFUSALS_PER_MINUTE
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.headers["cache-control"] == "no-store"
    assert int(limited.headers["retry-after"]) == 60 // BACKCHANNEL_REFUSALS_PER_MINUTE
    assert limited.json() == {
        "error": "temporarily_unavailable",
        "error_description": "too many refused logout requests from this address",
    }
    # Even a genuine token waits now; another address is not affected.
    assert post(noisy, idp.logout_token(sub="alice")).status_code == 429
    assert post(other, idp.logout_token(sub="alice")).status_code == 200


def test_genuine_logout_tokens_never_count_against_the_provider(idp: LocalProvider) -> None:
    """The provider may send many logouts at once (an administrator signs everyone out):
    only refusals count, so it is never limited while its tokens are good."""
    auth = build_auth({"local": idp})
    provider_side = client_for(auth, address="192.0.2.200")
    answers = [post(provider_side, idp.logout_token(sub="alice")) for _ in range(2 * BACKCHANNEL_REFUSALS_PER_MINUTE)]
    assert [a.status_code for a in answers] == [200] * (2 * BACKCHANNEL_REFUSALS_PER_MINUTE)


def test_rate_limit_off_lifts_the_backchannel_limit_too(idp: LocalProvider) -> None:
    auth = build_auth({"local": idp}, AUTH_RATE_LIMIT="off")
    client = client_for(auth, address="203.0.113.99")
    token = forged(idp)
    statuses = {post(client, token).status_code for _ in range(BACKCHANNEL_REFUSALS_PER_MINUTE + 5)}
    assert statuses == {400}
