"""``ProviderClient``'s fetches under failure: a failed discovery or JWKS fetch is remembered
for ``FAILED_FETCH_MEMORY`` seconds, a stale discovery document stands in meanwhile, and
throttled callers (tokens anyone can send) fetch keys at most once per interval.

Real HTTP to a ``LocalProvider`` on 127.0.0.1, which counts the requests it gets; both of
the client's clocks are set by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from auth.errors import ProviderTimeout, ProviderUnavailable
from auth.oidc import FORCED_KEY_REFRESH_INTERVAL, METADATA_TTL, ProviderClient
from auth.presets import ProviderSettings
from auth.secret import Secret
from auth.throttle import FAILED_FETCH_MEMORY
from devprovider import LocalProvider, ProviderUser
from tests.support.clock import T0, Clock


@pytest.fixture(scope="module")
def started() -> Iterator[LocalProvider]:
    with LocalProvider(users=[ProviderUser(sub="alice", claims={})]) as provider:
        yield provider


@pytest.fixture
def idp(started: LocalProvider) -> Iterator[LocalProvider]:
    started.reset()
    yield started
    started.reset()


@pytest.fixture
def wall() -> Clock:
    return Clock(T0)


@pytest.fixture
def mono() -> Clock:
    return Clock(100.0)


def make_client(idp: LocalProvider, wall: Clock, mono: Clock, timeout: float = 5) -> ProviderClient:
    settings = ProviderSettings(
        name="corp",
        kind="oidc",
        issuer=idp.issuer,
        client_id=idp.client_id,
        client_secret=Secret(idp.client_secret),
        discovery_url=idp.discovery_url,
        accepted_issuers=(idp.issuer,),
    )
    return ProviderClient(
        settings, redirect_uri="http://127.0.0.1:8501/cb", timeout=timeout, clock=wall, monotonic=mono
    )


@pytest.fixture
def client(idp: LocalProvider, wall: Clock, mono: Clock) -> ProviderClient:
    return make_client(idp, wall, mono)


def failure(call: object) -> str:
    assert callable(call)
    with pytest.raises(ProviderUnavailable) as caught:
        call()
    return str(caught.value)


# -- discovery -------------------------------------------------------------------------


def test_a_failed_discovery_fetch_is_remembered_then_retried(
    idp: LocalProvider, client: ProviderClient, mono: Clock
) -> None:
    idp.discovery_fault = "500"
    first = failure(client.metadata)
    assert first == "provider=corp discovery document answered HTTP 500"
    idp.discovery_fault = None  # back already, but the failure is still fresh
    mono.now += FAILED_FETCH_MEMORY - 0.1
    assert [failure(client.metadata) for _ in range(20)] == [
        f"{first} (failed within the last {FAILED_FETCH_MEMORY:g} s; not asked again yet)"
    ] * 20
    assert idp.discovery_hits == 1
    mono.now += 0.1
    assert client.metadata()["issuer"] == idp.issuer
    assert idp.discovery_hits == 2


def test_a_remembered_timeout_is_still_a_timeout(idp: LocalProvider, wall: Clock, mono: Clock) -> None:
    client = make_client(idp, wall, mono, timeout=0.2)
    idp.discovery_fault, idp.slow_seconds = "slow", 2.0
    for _ in range(3):
        with pytest.raises(ProviderTimeout):
            client.metadata()
    assert idp.discovery_hits == 1


def test_stale_discovery_stands_in_without_refetching_or_repeating_the_warning(
    idp: LocalProvider, client: ProviderClient, wall: Clock, mono: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    document = client.metadata()
    wall.now += METADATA_TTL
    idp.discovery_fault = "500"
    with caplog.at_level(logging.WARNING, logger="auth"):
        assert all(client.metadata() is document for _ in range(20))
        assert idp.discovery_hits == 2
        mono.now += FAILED_FETCH_MEMORY  # the next refresh attempt
        assert client.metadata() is document
        assert idp.discovery_hits == 3
    stale = [r.getMessage() for r in caplog.records]
    assert stale == ['event=discovery_stale provider=corp detail="discovery refresh failed; using cached metadata"'] * 2
    idp.discovery_fault = None
    mono.now += FAILED_FETCH_MEMORY
    fresh = client.metadata()
    assert fresh is not document and client.metadata() is fresh
    assert idp.discovery_hits == 4


# -- keys --------------------------------------------------------------------------------


def test_a_failed_key_fetch_is_remembered_for_sign_in_too(
    idp: LocalProvider, client: ProviderClient, mono: Clock
) -> None:
    """Sign-in fails at once instead of waiting out a provider that failed a moment ago."""
    idp.jwks_fault = "500"
    assert failure(client.key_set) == "provider=corp JWKS answered HTTP 500"
    idp.jwks_fault = None
    assert "not asked again yet" in failure(client.key_set)
    assert "not asked again yet" in failure(lambda: client.key_set(True))
    assert idp.jwks_hits == 1
    mono.now += FAILED_FETCH_MEMORY
    assert client.key_set() is client.key_set()
    assert idp.jwks_hits == 2


def test_sign_in_refetches_rotated_keys_at_once_every_time(idp: LocalProvider, client: ProviderClient) -> None:
    client.key_set()
    for _ in range(3):
        kid = idp.rotate_keys()
        assert client.key_set(True).get_by_kid(kid) is not None
    assert idp.jwks_hits == 4


def test_throttled_callers_fetch_at_most_once_per_interval_even_without_keys(
    idp: LocalProvider, client: ProviderClient, mono: Clock
) -> None:
    """A provider whose keys cannot be fetched, and forged tokens arriving all the time."""
    assert FAILED_FETCH_MEMORY + 1 < FORCED_KEY_REFRESH_INTERVAL <= 2 * FAILED_FETCH_MEMORY + 1  # the steps below
    idp.jwks_fault = "500"
    start = mono.now
    assert failure(lambda: client.key_set(throttled=True)) == "provider=corp JWKS answered HTTP 500"
    mono.now = start + FAILED_FETCH_MEMORY + 1  # no longer remembered, but within the interval
    throttled = (
        f"provider=corp JWKS not fetched yet; fetched at most every {FORCED_KEY_REFRESH_INTERVAL:g} s "
        "for tokens anyone can send"
    )
    assert failure(lambda: client.key_set(throttled=True)) == throttled
    assert failure(lambda: client.key_set(True, throttled=True)) == throttled
    assert idp.jwks_hits == 1
    assert failure(client.key_set) == "provider=corp JWKS answered HTTP 500"  # sign-in is not throttled
    assert idp.jwks_hits == 2
    mono.now = start + FORCED_KEY_REFRESH_INTERVAL  # the interval is over, sign-in's failure still fresh
    assert "not asked again yet" in failure(lambda: client.key_set(throttled=True))
    mono.now = start + FAILED_FETCH_MEMORY + 1 + FAILED_FETCH_MEMORY
    idp.jwks_fault = None
    assert client.key_set(throttled=True) is not None
    assert idp.jwks_hits == 3


def test_throttled_forced_refreshes_use_the_cached_keys_within_the_interval(
    idp: LocalProvider, client: ProviderClient, mono: Clock
) -> None:
    keys = client.key_set(throttled=True)
    kid = idp.rotate_keys()
    rotated = client.key_set(True, throttled=True)  # the first keys did not spend the interval
    assert rotated.get_by_kid(kid) is not None
    idp.rotate_keys()
    assert all(client.key_set(True, throttled=True) is rotated for _ in range(20))
    assert idp.jwks_hits == 2 and rotated is not keys
    mono.now += FORCED_KEY_REFRESH_INTERVAL
    assert client.key_set(True, throttled=True) is not rotated
    assert idp.jwks_hits == 3
