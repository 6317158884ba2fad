"""``auth.sessions.Sessions``: the cookie checked against the store, with an injected clock.

Runs on the memory store (the contract suite in ``tests/stores`` proves every
backend behaves the same); store faults come from a store that raises.
"""

from __future__ import annotations

import logging
import secrets

import pytest

from auth.errors import LogoutTokenReplayed
from auth.identity import Identity
from auth.secret import Secret
from auth.session_cookie import SessionCookie
from auth.sessions import MAX_AGE_GRACE, Sessions
from auth.stores.base import StoreUnavailable
from auth.stores.memory import MemoryStore
from auth.vault import StoredTokens, TokenVault
from tests.support.clock import T0, Clock
from tests.support.flaky_store import FlakyStore

IDLE = 600.0
MAX_AGE = 8 * 3600.0
SECRETS = [Secret(secrets.token_urlsafe(32))]
GROUPS = tuple(f"group-{index:03d}-{secrets.token_urlsafe(16)}" for index in range(300))
ALICE = Identity(
    sub="alice",
    issuer="https://idp.example",
    provider="corp",
    name="Alice",
    email="alice@example.com",
    email_verified=True,
    roles=("admin",),
    groups=GROUPS,
    sid="provider-session-1",
)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(clock: Clock) -> FlakyStore:
    return FlakyStore(clock=clock)


def make_sessions(clock: Clock, store: MemoryStore | None) -> Sessions:
    lifetime = MAX_AGE if store is not None else IDLE
    cookie = SessionCookie(SECRETS, name="streamlit_auth", timeout=lifetime, clock=clock)
    return Sessions(
        cookie,
        store,
        secrets=SECRETS,
        idle_timeout=IDLE,
        max_age=lifetime,
        clock=clock,
        touch_in_background=False,
    )


@pytest.fixture
def sessions(clock: Clock, store: FlakyStore) -> Sessions:
    return make_sessions(clock, store)


def test_a_new_session_is_live_with_every_claim_even_when_the_cookie_dropped_some(sessions: Sessions) -> None:
    issued = sessions.start(ALICE)
    assert "groups" in issued.dropped_claims  # 300 long group names do not fit a cookie
    user = sessions.check(issued.value).user
    assert user is not None
    assert user.groups == GROUPS
    assert user.in_group(GROUPS[-1])
    assert user.session_id is not None and len(user.session_id) >= 22


def test_the_record_keeps_the_provider_sid_and_sealed_tokens(sessions: Sessions, store: FlakyStore) -> None:
    issued = sessions.start(ALICE, StoredTokens(id_token="id.token.value", refresh_token="refresh-1"))
    user = sessions.check(issued.value).user
    assert user is not None and user.session_id is not None
    record = store.get(user.session_id)
    assert record is not None
    assert record.provider_sid == "provider-session-1"
    assert record.tokens is not None and b"refresh-1" not in record.tokens
    assert TokenVault(SECRETS).open(record.tokens, user.session_id).refresh_token == "refresh-1"


def test_idle_timeout_ends_the_session_once_with_one_log_line(
    sessions: Sessions, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    value = sessions.start(ALICE).value
    clock.now += IDLE - 1
    assert sessions.check(value, activity=False).user is not None
    clock.now += 1
    with caplog.at_level(logging.INFO, logger="auth"):
        assert sessions.check(value).ended == "idle"
        assert sessions.check(value).ended == "idle"
    ended = [r.getMessage() for r in caplog.records if "session_ended" in r.getMessage()]
    assert len(ended) == 1
    assert "reason=idle" in ended[0] and "sub=alice" in ended[0]


def test_activity_postpones_the_idle_timeout_but_the_timer_does_not(sessions: Sessions, clock: Clock) -> None:
    value = sessions.start(ALICE).value
    for _ in range(5):
        clock.now += IDLE - 10
        assert sessions.check(value, activity=True).user is not None
    timer_only = sessions.start(ALICE).value
    clock.now += IDLE / 2
    assert sessions.check(timer_only, activity=False).user is not None
    clock.now += IDLE / 2
    assert sessions.check(timer_only, activity=False).ended == "idle"


def test_activity_writes_are_throttled(sessions: Sessions, store: FlakyStore, clock: Clock) -> None:
    value = sessions.start(ALICE).value
    user = sessions.check(value).user
    assert user is not None and user.session_id is not None
    created = store.get(user.session_id).last_active_at  # type: ignore[union-attr]
    clock.now += sessions.touch_interval / 2
    sessions.check(value)
    assert store.get(user.session_id).last_active_at == created  # type: ignore[union-attr]
    clock.now += sessions.touch_interval
    sessions.check(value)
    assert store.get(user.session_id).last_active_at == clock.now  # type: ignore[union-attr]


def test_activity_cannot_keep_a_session_past_its_max_age(
    sessions: Sessions, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    value = sessions.start(ALICE).value
    while clock.now < T0 + MAX_AGE - IDLE:
        clock.now += IDLE - 1
        user = sessions.check(value).user
        assert user is not None
        assert user.expires_at <= T0 + MAX_AGE
    clock.now = T0 + MAX_AGE
    with caplog.at_level(logging.INFO, logger="auth"):
        assert sessions.check(value).ended == "max_age"
        assert sessions.check(value).ended == "max_age"
    assert sum("reason=max_age" in r.getMessage() for r in caplog.records) == 1
    clock.now = T0 + MAX_AGE + MAX_AGE_GRACE + 1
    assert sessions.check(value).ended == "expired"


def test_stay_signed_in_records_activity_at_once(sessions: Sessions, clock: Clock) -> None:
    value = sessions.start(ALICE).value
    clock.now += IDLE - 30
    status = sessions.check(value, force_touch=True)
    assert status.user is not None and status.user.idle_expires_at == clock.now + IDLE
    clock.now += IDLE - 1
    assert sessions.check(value, activity=False).user is not None


def test_user_times_name_the_idle_end_and_the_absolute_end(sessions: Sessions, clock: Clock) -> None:
    value = sessions.start(ALICE).value
    user = sessions.check(value, activity=False).user
    assert user is not None
    assert user.idle_expires_at == T0 + IDLE
    assert user.expires_at == T0 + IDLE
    assert user.ends_when_idle
    assert user.signed_in_at == T0


def test_logout_makes_a_copied_cookie_useless_and_hands_back_the_tokens(sessions: Sessions) -> None:
    value = sessions.start(ALICE, StoredTokens(id_token="the-id-token")).value
    ended = sessions.end(value)
    assert ended is not None and len(ended.session_ids) == 1
    assert ended.tokens is not None and ended.tokens.id_token == "the-id-token"
    assert sessions.check(value).ended == "logout"
    assert sessions.check(value).user is None


def test_sign_out_everywhere_ends_every_session_of_the_user_only(sessions: Sessions) -> None:
    first, second = sessions.start(ALICE).value, sessions.start(ALICE).value
    bob = sessions.start(Identity(sub="bob", issuer="https://idp.example", provider="corp", name="Bob")).value
    ended = sessions.end(first, everywhere=True)
    assert ended is not None and len(ended.session_ids) == 2
    assert sessions.check(first).ended == "logout_everywhere"
    assert sessions.check(second).ended == "logout_everywhere"
    assert sessions.check(bob).user is not None


def test_back_channel_ends_by_sid_else_by_sub_and_refuses_a_replayed_jti(sessions: Sessions, clock: Clock) -> None:
    by_sid = sessions.start(ALICE).value
    other = sessions.start(Identity(sub="alice", issuer="https://idp.example", provider="corp", name="A", sid="s2"))
    assert sessions.end_for_provider("corp", sub="alice", sid="provider-session-1", jti="j1", until=clock.now + 60) == 1
    assert sessions.check(by_sid).ended == "backchannel"
    assert sessions.check(other.value).user is not None
    with pytest.raises(LogoutTokenReplayed, match="already used"):
        sessions.end_for_provider("corp", sub="alice", sid=None, jti="j1", until=clock.now + 60)
    assert sessions.end_for_provider("corp", sub="alice", sid=None, jti="j2", until=clock.now + 60) == 1
    assert sessions.check(other.value).ended == "backchannel"


def test_store_outage_is_neither_signed_in_nor_out_and_recovers(
    sessions: Sessions, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    value = sessions.start(ALICE).value
    store.down = True
    with caplog.at_level(logging.INFO, logger="auth"):
        for _ in range(20):
            status = sessions.check(value)
            assert status.unavailable and status.user is None and status.ended is None
    faults = [r for r in caplog.records if "session_store_unavailable" in r.getMessage()]
    assert len(faults) == 1  # repeats within the window are counted, not logged
    assert "simulated outage" in faults[0].getMessage()
    with pytest.raises(StoreUnavailable):
        sessions.start(ALICE)
    with pytest.raises(StoreUnavailable):
        sessions.end(value)
    store.down = False
    assert sessions.check(value).user is not None


def test_a_cookie_without_a_session_id_is_signed_out_once_a_store_is_used(clock: Clock, store: FlakyStore) -> None:
    stateless = make_sessions(clock, None)
    old_cookie = stateless.start(ALICE).value
    assert stateless.check(old_cookie).user is not None
    assert make_sessions(clock, store).check(old_cookie).ended == "expired"


def test_a_session_id_for_another_user_is_refused(sessions: Sessions, store: FlakyStore, clock: Clock) -> None:
    value = sessions.start(ALICE).value
    user = sessions.check(value).user
    assert user is not None and user.session_id is not None
    forged = SessionCookie(SECRETS, name="streamlit_auth", timeout=MAX_AGE, clock=clock).issue(
        Identity(sub="mallory", issuer="https://idp.example", provider="corp", name="M"), user.session_id
    )
    assert sessions.check(forged.value).ended == "expired"


def test_without_a_store_the_cookie_age_is_the_only_timeout(clock: Clock) -> None:
    sessions = make_sessions(clock, None)
    value = sessions.start(ALICE).value
    assert "groups" in sessions.start(ALICE).dropped_claims
    clock.now += IDLE - 1
    user = sessions.check(value, activity=False).user
    assert user is not None and user.session_id is None and user.idle_expires_at is None
    clock.now += 2  # itsdangerous: valid up to and including the timeout
    assert sessions.check(value).ended == "expired"
    assert sessions.check(None).ended is None


def test_sign_out_state_is_ours_and_short_lived(sessions: Sessions, clock: Clock) -> None:
    state = sessions.sign_out_state()
    assert sessions.confirms_sign_out(state)
    tampered = state[:-10] + ("A" if state[-10] != "A" else "B") + state[-9:]
    assert not sessions.confirms_sign_out(tampered)
    assert not sessions.confirms_sign_out(state[:-2] + "xx" if state[-2:] != "xx" else state[:-2] + "yy")
    assert not sessions.confirms_sign_out(None)
    assert not sessions.confirms_sign_out("x" * 1000)
    clock.now += 601
    assert not sessions.confirms_sign_out(state)


def test_background_touch_reaches_the_store(clock: Clock, store: FlakyStore) -> None:
    cookie = SessionCookie(SECRETS, name="streamlit_auth", timeout=MAX_AGE, clock=clock)
    sessions = Sessions(cookie, store, secrets=SECRETS, idle_timeout=IDLE, max_age=MAX_AGE, clock=clock)
    value = sessions.start(ALICE).value
    clock.now += 30
    user = sessions.check(value).user
    sessions.flush()
    assert user is not None and user.session_id is not None
    assert store.get(user.session_id).last_active_at == clock.now  # type: ignore[union-attr]
    sessions.close()


def test_without_a_store_logout_only_logs_and_back_channel_ends_nothing(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = make_sessions(clock, None)
    value = sessions.start(ALICE).value
    with caplog.at_level(logging.INFO, logger="auth"):
        ended = sessions.end(value)
    assert ended is not None and ended.session_ids == () and ended.tokens is None
    assert any("reason=logout" in r.getMessage() for r in caplog.records)
    assert sessions.end(None) is None
    assert sessions.end_for_provider("corp", sub="alice", sid=None, jti="j", until=clock.now + 60) == 0


def test_a_logout_token_naming_neither_sub_nor_sid_ends_nothing(sessions: Sessions, clock: Clock) -> None:
    value = sessions.start(ALICE).value
    assert sessions.end_for_provider("corp", sub=None, sid=None, jti="j", until=clock.now + 60) == 0
    assert sessions.check(value).user is not None


def test_tokens_sealed_under_a_removed_secret_are_dropped_not_fatal(
    clock: Clock, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    old = make_sessions(clock, store)
    value = old.start(ALICE, StoredTokens(id_token="old-secret-token")).value
    cookie = SessionCookie(SECRETS, name="streamlit_auth", timeout=MAX_AGE, clock=clock)
    rotated = Sessions(
        cookie,
        store,
        secrets=[Secret(secrets.token_urlsafe(32)), *SECRETS],  # a new first secret; the old one still listed
        idle_timeout=IDLE,
        max_age=MAX_AGE,
        clock=clock,
    )
    rotated_end = rotated.end(value)
    assert rotated_end is not None and rotated_end.tokens is not None
    assert rotated_end.tokens.id_token == "old-secret-token"  # every listed secret still opens them
    # Tokens no listed secret opens for this session: here, another session's sealed tokens
    # that someone with write access to the store copied into it.
    other = old.start(ALICE, StoredTokens(id_token="someone-else's")).value
    mine = old.check(old.start(ALICE, StoredTokens(id_token="mine")).value, activity=False)
    theirs = old.check(other, activity=False)
    assert mine.user is not None and theirs.user is not None
    assert mine.user.session_id is not None and theirs.user.session_id is not None
    stolen = store.get(mine.user.session_id)
    assert stolen is not None and stolen.tokens is not None
    store.set_tokens(theirs.user.session_id, stolen.tokens)
    with caplog.at_level(logging.INFO, logger="auth"):
        ended = old.end(other)
    assert ended is not None and ended.tokens is None and len(ended.session_ids) == 1
    assert any("session_tokens_unreadable" in r.getMessage() for r in caplog.records)


def test_store_faults_while_ending_or_touching_are_logged_and_change_nothing(
    clock: Clock, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = make_sessions(clock, store)
    value = sessions.start(ALICE).value
    user = sessions.check(value).user
    assert user is not None and user.session_id is not None

    failing = FlakyStore(clock=clock)
    failing.create(store.get(user.session_id))  # type: ignore[arg-type]
    failing.failing = {"end": "end refused", "touch": "touch refused", "claim_once": "claim refused"}
    broken = make_sessions(clock, failing)
    with caplog.at_level(logging.INFO, logger="auth"):
        clock.now += IDLE / 2
        assert broken.check(value, force_touch=True).user is not None  # the touch failed, the check did not
        clock.now += IDLE
        assert broken.check(value).ended == "idle"  # the end was not recorded, but the answer is the same
        clock.now = T0 + MAX_AGE + 1
        assert broken.check(value).ended == "max_age"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "touch refused" in messages and "end refused" in messages and "claim refused" in messages
    assert "session_ended" not in messages


def test_every_lock_has_its_own_owner_and_a_late_unlock_frees_nothing(sessions: Sessions, clock: Clock) -> None:
    """Issue 13, item 3: the first holder's release used to delete the second holder's lock."""
    first = sessions.try_lock("refresh:s1", 30)
    assert first is not None and sessions.try_lock("refresh:s1", 30) is None
    assert first.owner not in repr(first)
    clock.now += 30  # the first holder's lock ran out, and another caller takes it
    second = sessions.try_lock("refresh:s1", 30)
    assert second is not None and second.key == first.key == "lock:refresh:s1" and second.owner != first.owner
    assert sessions.unlock(first) is False
    assert sessions.renew_lock(first, 30) is False
    assert sessions.try_lock("refresh:s1", 30) is None  # still the second holder's
    assert sessions.renew_lock(second, 60) is True
    clock.now += 59
    assert sessions.try_lock("refresh:s1", 30) is None
    assert sessions.unlock(second) is True
    assert sessions.try_lock("refresh:s1", 30) is not None
