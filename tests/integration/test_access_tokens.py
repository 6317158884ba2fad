"""``auth.access_token()``'s machinery (``AccessTokens``) against a real provider on 127.0.0.1.

The provider issues rotating refresh tokens and revokes the whole grant when one
is spent twice, like panva's oidc-provider and Keycloak with "Revoke Refresh
Token"; the app's clock is injected (starting at the real time, so the
provider's tokens validate) and moved forward to reach an access token's expiry
without waiting. Replicas are two ``Auth`` objects on one real Redis.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from auth import AccessToken, Auth, NoTokens, NotSignedIn, RefreshRefused, RefreshUnavailable
from auth.oidc import METADATA_TTL
from auth.stores.base import SessionStore, new_lock_owner
from auth.stores.memory import MemoryStore
from auth.stores.redis import RedisStore
from auth.throttle import FAILED_FETCH_MEMORY
from auth.vault import StoredTokens
from devprovider import LocalProvider, ProviderUser
from tests.support.app_process import wait_until
from tests.support.clock import Clock
from tests.support.flaky_store import FlakyStore
from tests.support.inprocess import build_auth, client_for, path_and_query, sign_out
from tests.support.redis_server import RedisServer

COOKIE = "streamlit_auth"
NEAR_EXPIRY = 250  # the provider's access tokens live 300 s: 50 s left is under the 60 s margin


@pytest.fixture(scope="module")
def _idp() -> Iterator[LocalProvider]:
    users = [
        ProviderUser(sub="alice", claims={"email": "a@example.com", "name": "Alice", "roles": ["admin", "viewer"]}),
    ]
    with LocalProvider(users=users) as provider:
        yield provider


@pytest.fixture
def idp(_idp: LocalProvider) -> Iterator[LocalProvider]:
    roles = list(_idp.users["alice"].claims["roles"])
    yield _idp
    _idp.reset()
    _idp.users["alice"].claims["roles"] = roles


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time())


def make_auth(
    idp: LocalProvider,
    clock: Clock,
    store: SessionStore | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    **settings: str,
) -> Auth:
    env = {"AUTH_COOKIE_SECRET": COOKIE_SECRET, **settings}
    return Auth(
        build_auth({"local": idp}, **env).settings, clock=clock, monotonic=monotonic, store=store or MemoryStore()
    )


COOKIE_SECRET = secrets.token_urlsafe(32)


def advance(clock: Clock, idp: LocalProvider, seconds: float) -> None:
    """Move the app's clock, and the times the provider writes into tokens with it."""
    clock.now += seconds
    idp.date_offset_seconds = clock.now - time.time()


def sign_in(client: TestClient) -> str:
    login = client.get("/auth/login", params={"provider": "local", "next": "/"})
    approved = requests.get(login.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    assert client.get(path_and_query(approved.headers["location"])).status_code == 302
    value = client.cookies.get(COOKIE)
    assert value
    return value


def userinfo_status(idp: LocalProvider, token: str) -> int:
    return requests.get(idp.userinfo_endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def issued(idp: LocalProvider) -> list[str]:
    return [request["outcome"] for request in idp.refresh_requests]


def test_a_fresh_token_comes_from_the_store_without_asking_the_provider(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    token = auth.tokens.get(value)
    assert userinfo_status(idp, token.value) == 200
    assert token.seconds_left(clock()) == pytest.approx(300, abs=2)
    assert "value" not in repr(token) and token.value not in repr(token)
    assert idp.refresh_requests == []


@pytest.mark.parametrize("expires_in", ["300", 10**400, 0, -5, True, None])
def test_an_unusable_expires_in_means_an_unknown_lifetime(idp: LocalProvider, clock: Clock, expires_in: Any) -> None:
    """RFC 6749 §5.1: a positive number of seconds. Anything else is no answer, neither a
    failed sign-in nor a token refreshed on every call."""
    idp.token_response_override = {"expires_in": expires_in}
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    token = auth.tokens.get(value)
    assert token.expires_at is None and token.seconds_left(clock()) is None
    assert auth.tokens.get(value).value == token.value
    assert idp.refresh_requests == []


def test_near_expiry_the_token_is_refreshed_and_the_rotated_refresh_token_kept(
    idp: LocalProvider, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    first = auth.tokens.get(value)
    advance(clock, idp, NEAR_EXPIRY)
    with caplog.at_level(logging.INFO, logger="auth"):
        second = auth.tokens.get(value)
    assert second.value != first.value and userinfo_status(idp, second.value) == 200
    assert second.seconds_left(clock()) == pytest.approx(300, abs=2)
    advance(clock, idp, NEAR_EXPIRY)
    third = auth.tokens.get(value)  # with the rotated refresh token: a reused one would revoke the grant
    assert third.value != second.value
    assert issued(idp) == ["issued", "issued"]
    assert auth.sessions.check(value).user is not None
    lines = [r.getMessage() for r in caplog.records]
    assert any("event=tokens_refreshed provider=local sub=alice rotated=True" in line for line in lines)
    assert not any(first.value in line or second.value in line for line in lines)


def test_twenty_concurrent_callers_at_expiry_cause_exactly_one_refresh(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    advance(clock, idp, NEAR_EXPIRY)
    results: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(20)

    def call() -> None:
        start.wait()
        try:
            results.append(auth.tokens.get(value).value)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(results)) == 1 and len(results) == 20
    assert issued(idp) == ["issued"]


def test_two_replicas_on_one_redis_refresh_once_between_them(
    idp: LocalProvider, clock: Clock, redis_server: RedisServer
) -> None:
    replicas = [make_auth(idp, clock, RedisStore(redis_server.url)) for _ in range(2)]
    value = sign_in(client_for(replicas[0]))
    advance(clock, idp, NEAR_EXPIRY)
    results: list[str] = []
    start = threading.Barrier(10)

    def call(replica: Auth) -> None:
        start.wait()
        results.append(replica.tokens.get(value).value)

    threads = [threading.Thread(target=call, args=(replicas[index % 2],)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 10 and len(set(results)) == 1
    assert issued(idp) == ["issued"]


def test_a_revoked_grant_ends_the_session_with_its_reason(
    idp: LocalProvider, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    assert idp.revoke_grants("alice") >= 1
    advance(clock, idp, NEAR_EXPIRY)
    with caplog.at_level(logging.INFO, logger="auth"), pytest.raises(RefreshRefused) as refused:
        auth.tokens.get(value)
    assert "no longer valid" in refused.value.user_message
    assert auth.sessions.check(value).ended == "refresh_failed"
    ended = [r.getMessage() for r in caplog.records if "session_ended" in r.getMessage()]
    assert len(ended) == 1 and "reason=refresh_failed" in ended[0]
    with pytest.raises(NotSignedIn):
        auth.tokens.get(value)


def test_a_refused_refresh_on_one_replica_is_seen_by_the_other(
    idp: LocalProvider, clock: Clock, redis_server: RedisServer
) -> None:
    first, second = (make_auth(idp, clock, RedisStore(redis_server.url)) for _ in range(2))
    value = sign_in(client_for(first))
    idp.disable_user("alice")
    advance(clock, idp, NEAR_EXPIRY)
    with pytest.raises(RefreshRefused):
        first.tokens.get(value)
    assert second.sessions.check(value).ended == "refresh_failed"
    with pytest.raises(NotSignedIn):
        second.tokens.get(value)


@pytest.mark.parametrize("fault", ["500", "slow"])
def test_a_provider_down_or_slow_during_refresh_keeps_the_session(idp: LocalProvider, clock: Clock, fault: str) -> None:
    auth = make_auth(idp, clock, AUTH_HTTP_TIMEOUT="1s")
    value = sign_in(client_for(auth))
    idp.refresh_fault = fault
    idp.slow_seconds = 3
    advance(clock, idp, NEAR_EXPIRY)
    with pytest.raises(RefreshUnavailable) as unavailable:
        auth.tokens.get(value)
    assert "cannot be reached" in unavailable.value.user_message
    assert auth.sessions.check(value, activity=False).user is not None
    idp.refresh_fault = None
    assert userinfo_status(idp, auth.tokens.get(value).value) == 200


def test_roles_changed_at_the_provider_apply_from_the_next_rerun(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    user = auth.sessions.check(value).user
    assert user is not None and user.roles == ("admin", "viewer")
    idp.users["alice"].claims["roles"] = ["viewer"]
    advance(clock, idp, NEAR_EXPIRY)
    auth.tokens.get(value)
    user = auth.sessions.check(value).user
    assert user is not None and user.roles == ("viewer",) and not user.has_role("admin")


def test_a_removed_required_role_ends_the_session_at_the_next_refresh(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock, AUTH_REQUIRED_ROLES="admin")
    value = sign_in(client_for(auth))
    idp.users["alice"].claims["roles"] = ["viewer"]
    advance(clock, idp, NEAR_EXPIRY)
    with pytest.raises(RefreshRefused):
        auth.tokens.get(value)
    assert auth.sessions.check(value).ended == "access_denied"


def test_a_refreshed_id_token_for_someone_else_ends_the_session(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    idp.id_token_claims_override = {"sub": "mallory"}
    advance(clock, idp, NEAR_EXPIRY)
    with pytest.raises(RefreshRefused):
        auth.tokens.get(value)
    assert auth.sessions.check(value).ended == "refresh_failed"


def test_refresh_never_outlives_the_session(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock, AUTH_SESSION_TIMEOUT="10m", AUTH_SESSION_MAX_AGE="10m")
    value = sign_in(client_for(auth))
    clock.now += 601
    with pytest.raises(NotSignedIn):
        auth.tokens.get(value)
    assert idp.refresh_requests == []


def test_without_a_store_there_are_no_tokens(idp: LocalProvider, clock: Clock) -> None:
    auth = Auth(build_auth({"local": idp}, AUTH_STORE="none").settings, clock=clock)
    value = sign_in(client_for(auth))
    with pytest.raises(NoTokens) as none:
        auth.tokens.get(value)
    assert "AUTH_STORE=none" in str(none.value)


def test_signed_out_callers_get_not_signed_in(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    with pytest.raises(NotSignedIn):
        auth.tokens.get(None)
    client = client_for(auth)
    value = sign_in(client)
    assert sign_out(client).status_code == 303
    with pytest.raises(NotSignedIn):
        auth.tokens.get(value)


def test_a_caller_waiting_for_a_stuck_refresh_gives_up_readably(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    user = auth.sessions.check(value).user
    assert user is not None and user.session_id is not None
    assert auth.sessions.try_lock(f"refresh:{user.session_id}", 60)  # another replica's refresh hangs
    auth.tokens.wait_seconds = 0.3
    advance(clock, idp, NEAR_EXPIRY)
    with pytest.raises(RefreshUnavailable, match="did not finish in time"):
        auth.tokens.get(value)
    assert idp.refresh_requests == []
    assert auth.sessions.check(value, activity=False).user is not None


def test_a_waiting_caller_learns_that_the_other_refresh_was_refused(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    _, record = auth.sessions.check_record(value)
    assert record is not None
    assert auth.sessions.try_lock(f"refresh:{record.session_id}", 60)  # another replica is refreshing

    def meanwhile(seconds: float) -> None:
        """While this caller waits, the other replica's refresh is refused."""
        auth.sessions.end_session(record, "refresh_failed")

    auth.tokens._sleep = meanwhile
    advance(clock, idp, NEAR_EXPIRY)
    with pytest.raises(RefreshRefused):
        auth.tokens.get(value)
    assert idp.refresh_requests == []


def test_a_refusal_other_than_invalid_grant_keeps_the_session(idp: LocalProvider, clock: Clock) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    secret, idp.client_secret = idp.client_secret, "rotated-at-the-provider"
    try:
        advance(clock, idp, NEAR_EXPIRY)
        with pytest.raises(RefreshUnavailable, match="invalid_client"):
            auth.tokens.get(value)
        assert auth.sessions.check(value, activity=False).user is not None
    finally:
        idp.client_secret = secret


@pytest.mark.parametrize(
    ("override", "reason"),
    [({"nonce": "not-the-sign-ins"}, "nonce"), ({"auth_time": 1_000_000}, "auth_time")],
)
def test_a_refreshed_id_token_breaking_oidc_12_2_ends_the_session(
    idp: LocalProvider, clock: Clock, override: dict[str, object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    auth = make_auth(idp, clock)
    value = sign_in(client_for(auth))
    idp.id_token_claims_override = override
    advance(clock, idp, NEAR_EXPIRY)
    with caplog.at_level(logging.INFO, logger="auth"), pytest.raises(RefreshRefused):
        auth.tokens.get(value)
    assert auth.sessions.check(value).ended == "refresh_failed"
    assert any(reason in r.getMessage() for r in caplog.records if "token_refresh_refused" in r.getMessage())


def test_a_store_outage_during_get_is_refresh_unavailable(idp: LocalProvider, clock: Clock) -> None:
    store = FlakyStore()
    auth = make_auth(idp, clock, store)
    value = sign_in(client_for(auth))
    store.down = True
    with pytest.raises(RefreshUnavailable, match="session store unavailable"):
        auth.tokens.get(value)
    store.down = False
    assert auth.tokens.get(value).value


# -- the refresh lock (auth.refresh_lock) -----------------------------------------------------


def lock_key(session_id: str) -> str:
    """The refresh lock's Redis key, for tests that play a second caller directly in Redis."""
    return f"streamlit-oidc-auth:claim:lock:refresh:{session_id}"


def refresh_in_background(auth: Auth, value: str) -> tuple[threading.Thread, list[object]]:
    """``auth.tokens.get(value)`` on its own thread; the list receives its token or its error."""
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(auth.tokens.get(value))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    return thread, outcome


def test_a_refresh_slower_than_its_lock_still_spends_the_refresh_token_once(
    idp: LocalProvider, clock: Clock, redis_server: RedisServer
) -> None:
    """The review's reproduction (issue 13, item 3): a provider slower than the refresh lock.

    Two replicas on one Redis, whose keys expire in real time; the lock is cut to 1 s and
    the provider's token endpoint takes 3 s (``token_fault="slow"``: the refresh is carried
    out after the wait whether or not anyone still listens, as a real provider does once the
    request has arrived). A lock that simply expires lets the second replica take it, re-read
    the old refresh token and present it again: reuse, the grant revoked, the session ended
    ``refresh_failed``. Held for as long as the refresh runs, it never lets that happen.
    """
    replicas = [make_auth(idp, clock, RedisStore(redis_server.url, clock=clock)) for _ in range(2)]
    value = sign_in(client_for(replicas[0]))
    for replica in replicas:
        replica.tokens.lock_seconds = 1.0
    idp.token_fault = "slow"
    idp.slow_seconds = 3
    advance(clock, idp, NEAR_EXPIRY)
    results: list[str] = []
    failures: list[BaseException] = []

    def call(replica: Auth) -> None:
        try:
            results.append(replica.tokens.get(value).value)
        except BaseException as error:
            failures.append(error)

    first = threading.Thread(target=call, args=(replicas[0],))
    first.start()
    wait_until(lambda: len(idp.token_requests) == 2, 5, "the first replica's refresh to reach the provider")
    second = threading.Thread(target=call, args=(replicas[1],))
    second.start()
    first.join()
    second.join()
    assert issued(idp) == ["issued"]  # one presentation of the refresh token, not ["issued", "reused"]
    assert failures == []
    assert len(results) == 2 and len(set(results)) == 1
    assert replicas[1].sessions.check(value, activity=False).user is not None
    idp.token_fault = None
    advance(clock, idp, NEAR_EXPIRY)
    assert userinfo_status(idp, replicas[1].tokens.get(value).value) == 200  # the grant is intact


def test_a_holder_whose_lock_was_taken_meanwhile_does_not_store_its_answer(
    idp: LocalProvider, clock: Clock, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The lock lapsed (played here by another owner taking it in Redis) while the provider
    answered: that caller read the old refresh token and is refreshing with it, so this
    holder's write could land over what it stores. The answer is dropped, and said so."""
    auth = make_auth(idp, clock, RedisStore(redis_server.url, clock=clock))
    value = sign_in(client_for(auth))
    _, before = auth.sessions.check_record(value)
    assert before is not None
    idp.token_fault = "slow"
    idp.slow_seconds = 2
    advance(clock, idp, NEAR_EXPIRY)
    with caplog.at_level(logging.INFO, logger="auth"):
        thread, outcome = refresh_in_background(auth, value)
        wait_until(lambda: len(idp.token_requests) == 2, 5, "the refresh to reach the provider")
        other = new_lock_owner()
        with redis_server.client() as raw:
            assert raw.set(lock_key(before.session_id), other, xx=True, px=60_000)
            thread.join()
            assert raw.get(lock_key(before.session_id)) == other.encode()  # left to its owner
    assert len(outcome) == 1 and isinstance(outcome[0], RefreshUnavailable)
    assert str(outcome[0]) == "the refresh lock lapsed and another caller holds it now"
    assert issued(idp) == ["issued"]
    after = auth.sessions.reread(before.session_id)
    assert after is not None and after.tokens == before.tokens  # nothing written
    lines = [r.getMessage() for r in caplog.records]
    assert "event=token_refresh_discarded provider=local reason=lock_taken" in lines
    assert not any("tokens_refreshed" in line for line in lines)


def test_tokens_stored_by_another_caller_while_the_lock_had_lapsed_are_kept(
    idp: LocalProvider, clock: Clock, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The lock lapsed and nobody holds it when the answer comes, but someone stored tokens
    meanwhile: those are newer than this holder's and stay; the caller gets them."""
    auth = make_auth(idp, clock, RedisStore(redis_server.url, clock=clock))
    value = sign_in(client_for(auth))
    _, record = auth.sessions.check_record(value)
    assert record is not None
    idp.token_fault = "slow"
    idp.slow_seconds = 2
    advance(clock, idp, NEAR_EXPIRY)
    theirs = StoredTokens(
        access_token="their-access-token",
        refresh_token="their-refresh-token",
        access_token_expires_at=clock() + 300,
        access_token_lifetime=300,
    )
    with caplog.at_level(logging.INFO, logger="auth"):
        thread, outcome = refresh_in_background(auth, value)
        wait_until(lambda: len(idp.token_requests) == 2, 5, "the refresh to reach the provider")
        with redis_server.client() as raw:
            assert raw.delete(lock_key(record.session_id)) == 1  # the lock lapsed
        auth.sessions.replace_tokens(record.session_id, theirs, None)
        thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], AccessToken)
    assert outcome[0].value == "their-access-token"
    stored = auth.sessions.tokens_of(auth.sessions.reread(record.session_id))  # type: ignore[arg-type]
    assert stored is not None and stored.refresh_token == "their-refresh-token"
    assert "event=token_refresh_discarded provider=local reason=tokens_changed" in [
        r.getMessage() for r in caplog.records
    ]


def test_a_holder_whose_lock_is_taken_before_it_spends_the_token_sends_nothing(
    idp: LocalProvider, clock: Clock, redis_server: RedisServer
) -> None:
    """Discovery comes first when the cached document is stale; the lock is confirmed after
    it, so a holder that lost its lock during a slow discovery never presents the token."""
    auth = make_auth(
        idp,
        clock,
        RedisStore(redis_server.url, clock=clock),
        AUTH_SESSION_TIMEOUT="2h",
        AUTH_SESSION_MAX_AGE="8h",
    )
    value = sign_in(client_for(auth))
    _, record = auth.sessions.check_record(value)
    assert record is not None
    idp.discovery_fault = "slow"
    idp.slow_seconds = 2
    hits = idp.discovery_hits
    advance(clock, idp, METADATA_TTL + 60)
    thread, outcome = refresh_in_background(auth, value)
    wait_until(lambda: idp.discovery_hits > hits, 5, "the refresh to fetch the discovery document")
    with redis_server.client() as raw:
        assert raw.set(lock_key(record.session_id), new_lock_owner(), xx=True, px=60_000)
    thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], RefreshUnavailable)
    assert str(outcome[0]) == "another caller holds the refresh lock now"
    assert idp.refresh_requests == []
    assert auth.sessions.check(value, activity=False).user is not None


def test_a_refresh_whose_id_token_cannot_be_checked_keeps_the_rotated_refresh_token(
    idp: LocalProvider, clock: Clock
) -> None:
    """The provider answered, spending the old refresh token, but the key of the new ID token
    cannot be fetched. The new refresh token is kept (dropping it would have the next refresh
    present the spent one: reuse, the grant revoked); the unchecked access token is not used."""
    monotonic = Clock(0.0)
    auth = make_auth(idp, clock, monotonic=monotonic)
    value = sign_in(client_for(auth))
    first = auth.tokens.get(value)
    idp.rotate_keys()
    idp.jwks_redirect_to = "http://127.0.0.1:9/keys"  # the JWKS endpoint answers a redirect: no keys
    advance(clock, idp, NEAR_EXPIRY)
    with pytest.raises(RefreshUnavailable, match="redirect"):
        auth.tokens.get(value)
    assert auth.sessions.check(value, activity=False).user is not None
    idp.jwks_redirect_to = None
    monotonic.now += FAILED_FETCH_MEMORY  # the failed key fetch is no longer remembered
    second = auth.tokens.get(value)  # refreshes again, presenting the kept refresh token
    assert second.value != first.value and userinfo_status(idp, second.value) == 200
    assert issued(idp) == ["issued", "issued"]
