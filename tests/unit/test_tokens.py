"""``auth.tokens.AccessTokens``: when a token is handed out as it is, and when it must be refreshed.

An injected clock and a memory store; no provider is configured, so a refresh
attempt shows as ``NotSignedIn`` naming the missing provider (the real refresh
is tested against a real provider in tests/integration/test_access_tokens.py).
"""

from __future__ import annotations

import secrets

import pytest

from auth.access import AccessPolicy
from auth.config import AccessRules
from auth.errors import NoTokens, NotSignedIn
from auth.identity import Identity
from auth.login import LoginFlow
from auth.secret import Secret
from auth.session_cookie import SessionCookie
from auth.sessions import Sessions
from auth.stores.memory import MemoryStore
from auth.tokens import AccessToken, AccessTokens
from auth.transaction import TransactionCookies
from auth.vault import StoredTokens
from tests.support.clock import T0, Clock

SECRETS = [Secret(secrets.token_urlsafe(32))]
ALICE = Identity(sub="alice", issuer="https://idp.example", provider="corp", name="Alice")


def setup(clock: Clock, tokens: StoredTokens) -> tuple[AccessTokens, str]:
    cookie = SessionCookie(SECRETS, name="s", timeout=8 * 3600, clock=clock)
    sessions = Sessions(
        cookie, MemoryStore(clock=clock), secrets=SECRETS, idle_timeout=3600, max_age=8 * 3600, clock=clock
    )
    flow = LoginFlow(
        clients={},
        sessions=sessions,
        transactions=TransactionCookies(SECRETS, cookie_prefix="s"),
        access=AccessPolicy(AccessRules()),
    )
    return AccessTokens(sessions, flow, http_timeout=1, clock=clock), sessions.start(ALICE, tokens).value


def tokens(expires_in: float | None, *, refresh: bool = True) -> StoredTokens:
    return StoredTokens(
        access_token="access-1",
        refresh_token="refresh-1" if refresh else None,
        access_token_expires_at=T0 + expires_in if expires_in is not None else None,
        access_token_lifetime=expires_in,
    )


def attempts_refresh(access: AccessTokens, value: str) -> bool:
    try:
        access.get(value)
    except NotSignedIn as error:
        assert "no longer configured" in str(error)
        return True
    return False


def test_a_token_with_more_than_the_margin_left_is_handed_out() -> None:
    clock = Clock(T0)
    access, value = setup(clock, tokens(300))
    clock.now += 239
    assert access.get(value) == AccessToken("access-1", T0 + 300)
    clock.now += 1
    assert attempts_refresh(access, value)


def test_a_short_lived_token_counts_as_fresh_for_half_its_life() -> None:
    """A 20-second token would otherwise be refreshed on every call with a 60-second margin."""
    clock = Clock(T0)
    access, value = setup(clock, tokens(20))
    clock.now += 9
    assert access.get(value).value == "access-1"
    clock.now += 2
    assert attempts_refresh(access, value)


def test_the_callers_margin_is_honoured_up_to_half_the_lifetime() -> None:
    clock = Clock(T0)
    access, value = setup(clock, tokens(600))
    clock.now += 250  # 350 s left
    assert access.get(value, min_validity=300).value == "access-1"
    assert access.get(value, min_validity=1000).value == "access-1"  # capped at half the lifetime: 300
    clock.now += 60  # 290 s left
    assert access.get(value, min_validity=60).value == "access-1"
    with pytest.raises(NotSignedIn, match="no longer configured"):
        access.get(value, min_validity=300)


def test_without_an_expiry_the_token_is_used_as_it_is() -> None:
    clock = Clock(T0)
    access, value = setup(clock, tokens(None))
    clock.now += 3000
    assert access.get(value).expires_at is None


def test_without_a_refresh_token_the_last_seconds_are_used_then_no_tokens() -> None:
    clock = Clock(T0)
    access, value = setup(clock, tokens(300, refresh=False))
    clock.now += 290
    assert access.get(value).value == "access-1"
    clock.now += 11
    with pytest.raises(NoTokens, match="no refresh token"):
        access.get(value)


def test_a_session_without_an_access_token_has_no_tokens() -> None:
    clock = Clock(T0)
    access, value = setup(clock, StoredTokens(id_token="only.an.id-token"))
    with pytest.raises(NoTokens, match="no access token"):
        access.get(value)


def test_authorization_header_and_seconds_left() -> None:
    token = AccessToken("abc", expires_at=T0 + 30)
    assert token.authorization == "Bearer abc"
    assert token.seconds_left(T0 + 10) == 20
    assert token.seconds_left(T0 + 40) == 0
    assert AccessToken("abc").seconds_left(T0) is None
    assert "abc" not in repr(token)
