"""The one contract every session store keeps, run against memory, SQLite and Redis.

Times are explicit: each test takes ``now`` from the wall clock once (the
stores forget records by it, Redis through key TTLs) and passes ``at``/``until``
values relative to it, so nothing here sleeps. The few tests of a lock's
expiry give it a fraction of a second and wait for the store to say it is free.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from auth.stores.base import SessionRecord, SessionStore, new_lock_owner, new_session_id
from tests.stores.records import HOUR, make_record
from tests.support.app_process import wait_until


@pytest.fixture
def now() -> float:
    return time.time()


def live(store: SessionStore, session_id: str, at: float) -> bool:
    record = store.get(session_id)
    return record is not None and record.live_at(at)


# -- create and get -------------------------------------------------------------------


def test_a_created_record_reads_back_equal(store: SessionStore, now: float) -> None:
    record = make_record(now, last_active_at=now + 5)
    store.create(record)
    assert store.get(record.session_id) == record
    assert store.get(record.session_id).tokens == b"\x00encrypted\xfftokens"  # type: ignore[union-attr]


def test_optional_fields_read_back_as_none(store: SessionStore, now: float) -> None:
    record = make_record(now, provider_sid=None, tokens=None, claims={})
    store.create(record)
    assert store.get(record.session_id) == record


def test_an_unknown_session_is_none(store: SessionStore) -> None:
    assert store.get(new_session_id()) is None


def test_large_claims_and_any_text_round_trip(store: SessionStore, now: float) -> None:
    groups = [f"group-{index:03d}-".ljust(40, "x") for index in range(300)]
    claims = {
        "sub": "älice\u2028",
        "groups": groups,
        "roles": ["admin", "ünïcode ✓"],
        "address": {"country": "NO", "nested": [1, 2.5, None, True]},
    }
    record = make_record(now, claims=claims, sub="älice\u2028", provider_sid='sid "quoted" \n line')
    store.create(record)
    stored = store.get(record.session_id)
    assert stored is not None
    assert stored.claims == claims
    assert len(stored.claims["groups"]) == 300 and all(len(group) == 40 for group in stored.claims["groups"])
    assert (stored.sub, stored.provider_sid) == ("älice\u2028", 'sid "quoted" \n line')


def test_times_keep_their_fractions(store: SessionStore, now: float) -> None:
    record = make_record(now, created_at=now + 0.123456789, last_active_at=now + 1 / 3, expires_at=now + HOUR + 0.1)
    store.create(record)
    stored = store.get(record.session_id)
    assert stored is not None
    assert (stored.created_at, stored.last_active_at, stored.expires_at) == (
        record.created_at,
        record.last_active_at,
        record.expires_at,
    )


def test_the_same_id_twice_is_refused_and_the_first_record_stays(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    with pytest.raises(ValueError, match="^session id already in the store$"):
        store.create(replace(record, sub="mallory"))
    assert store.get(record.session_id) == record


def test_claims_changed_by_the_caller_after_create_do_not_change_the_store(store: SessionStore, now: float) -> None:
    claims = {"groups": ["staff"]}
    record = make_record(now, claims=claims)
    store.create(record)
    claims["groups"].append("admin")
    assert store.get(record.session_id).claims == {"groups": ["staff"]}  # type: ignore[union-attr]


def test_a_record_created_already_ended_stays_ended(store: SessionStore, now: float) -> None:
    record = make_record(now, ended_at=now + 1, end_reason="imported", tokens=None)
    store.create(record)
    assert store.get(record.session_id) == record
    assert store.end(record.session_id, "logout", now + 2) is False


# -- expiry ---------------------------------------------------------------------------


def test_a_record_past_its_expiry_is_never_visible(store: SessionStore, now: float) -> None:
    record = make_record(now - 2 * HOUR)  # expired an hour ago
    store.create(record)
    assert store.get(record.session_id) is None
    store.touch(record.session_id, now)
    store.set_tokens(record.session_id, b"new")
    assert store.end(record.session_id, "logout", now) is False
    assert store.end_all_for_user("corp", "alice", "logout", now) == []
    assert store.end_by_provider_sid("corp", "corp-sid-1", "logout", now) == []
    assert store.get(record.session_id) is None


def test_an_expired_id_may_be_used_again(store: SessionStore, now: float) -> None:
    expired = make_record(now - 2 * HOUR)
    store.create(expired)
    fresh = make_record(now, session_id=expired.session_id)
    store.create(fresh)
    assert store.get(fresh.session_id) == fresh


# -- touch ----------------------------------------------------------------------------


def test_touch_moves_last_activity_forward_only(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    store.touch(record.session_id, now + 60)
    assert store.get(record.session_id).last_active_at == now + 60  # type: ignore[union-attr]
    store.touch(record.session_id, now + 30)
    assert store.get(record.session_id).last_active_at == now + 60  # type: ignore[union-attr]
    store.touch(record.session_id, now + 60.5)
    stored = store.get(record.session_id)
    assert stored == replace(record, last_active_at=now + 60.5)


def test_touch_does_nothing_to_ended_unknown_or_outlived_sessions(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    store.touch(record.session_id, record.expires_at)  # not live at its own expiry
    assert store.get(record.session_id) == record
    store.end(record.session_id, "logout", now + 10)
    store.touch(record.session_id, now + 20)
    assert store.get(record.session_id).last_active_at == now  # type: ignore[union-attr]
    store.touch(new_session_id(), now)  # unknown: no error
    assert store.get(record.session_id).ended_at == now + 10  # type: ignore[union-attr]


def test_concurrent_touches_leave_the_latest_time(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    times = [now + step / 10 for step in range(200)]

    def toucher(offset: int) -> None:
        for at in reversed(times[offset::8]):  # each thread goes backwards in time
            store.touch(record.session_id, at)

    threads = [threading.Thread(target=toucher, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get(record.session_id).last_active_at == max(times)  # type: ignore[union-attr]


# -- end ------------------------------------------------------------------------------


def test_end_keeps_the_record_with_its_reason_time_and_no_tokens(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    assert store.end(record.session_id, "logout", now + 30) is True
    ended = store.get(record.session_id)
    assert ended == replace(record, ended_at=now + 30, end_reason="logout", tokens=None)
    assert not ended.live_at(now + 31)


def test_ending_twice_keeps_the_first_reason(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    assert store.end(record.session_id, "idle_timeout", now + 30) is True
    assert store.end(record.session_id, "logout", now + 40) is False
    ended = store.get(record.session_id)
    assert (ended.ended_at, ended.end_reason) == (now + 30, "idle_timeout")  # type: ignore[union-attr]


def test_end_of_an_unknown_or_outlived_session_is_false(store: SessionStore, now: float) -> None:
    assert store.end(new_session_id(), "logout", now) is False
    record = make_record(now)
    store.create(record)
    assert store.end(record.session_id, "logout", record.expires_at) is False
    assert store.get(record.session_id) == record


# -- end all for a user, end by provider sid -------------------------------------------


def test_end_all_for_user_ends_only_that_users_live_sessions_at_that_provider(store: SessionStore, now: float) -> None:
    first, second = make_record(now), make_record(now, provider_sid="corp-sid-2")
    already_ended = make_record(now, ended_at=now + 1, end_reason="idle_timeout", tokens=None)
    other_provider = make_record(now, provider="google")
    other_user = make_record(now, sub="bob")
    for record in (first, second, already_ended, other_provider, other_user):
        store.create(record)

    ended = store.end_all_for_user("corp", "alice", "logout_everywhere", now + 60)

    assert ended == sorted([first.session_id, second.session_id])
    for record in (first, second):
        assert store.get(record.session_id) == replace(
            record, ended_at=now + 60, end_reason="logout_everywhere", tokens=None
        )
    assert store.get(already_ended.session_id) == already_ended
    assert store.get(other_provider.session_id) == other_provider
    assert store.get(other_user.session_id) == other_user
    assert store.end_all_for_user("corp", "alice", "logout_everywhere", now + 61) == []


def test_end_all_for_user_with_no_sessions_is_empty(store: SessionStore, now: float) -> None:
    assert store.end_all_for_user("corp", "nobody", "logout_everywhere", now) == []


def test_provider_and_sub_never_blur_into_each_other(store: SessionStore, now: float) -> None:
    colon = make_record(now, provider="a:b", sub="c", provider_sid="x:y")
    store.create(colon)
    assert store.end_all_for_user("a", "b:c", "logout", now) == []
    assert store.end_by_provider_sid("a", "b:x:y", "logout", now) == []
    assert store.end_by_provider_sid("a:b:x", "y", "logout", now) == []
    assert live(store, colon.session_id, now)
    assert store.end_all_for_user("a:b", "c", "logout", now) == [colon.session_id]


def test_end_by_provider_sid_ends_only_live_sessions_with_that_sid_at_that_provider(
    store: SessionStore, now: float
) -> None:
    first, second = make_record(now), make_record(now, sub="bob")  # one provider session, two app sessions
    already_ended = make_record(now, ended_at=now + 1, end_reason="logout", tokens=None)
    other_sid = make_record(now, provider_sid="corp-sid-2")
    no_sid = make_record(now, provider_sid=None)
    same_sid_elsewhere = make_record(now, provider="google")
    for record in (first, second, already_ended, other_sid, no_sid, same_sid_elsewhere):
        store.create(record)

    ended = store.end_by_provider_sid("corp", "corp-sid-1", "backchannel_logout", now + 60)

    assert ended == sorted([first.session_id, second.session_id])
    for record in (first, second):
        assert store.get(record.session_id) == replace(
            record, ended_at=now + 60, end_reason="backchannel_logout", tokens=None
        )
    for untouched in (already_ended, other_sid, no_sid, same_sid_elsewhere):
        assert store.get(untouched.session_id) == untouched


def test_end_all_skips_sessions_that_outlived_their_expiry_at_the_given_time(store: SessionStore, now: float) -> None:
    short = make_record(now, expires_at=now + 60)
    long = make_record(now)
    store.create(short)
    store.create(long)
    assert store.end_all_for_user("corp", "alice", "logout", now + 60) == [long.session_id]
    assert store.get(short.session_id) == short


# -- claim_once -----------------------------------------------------------------------


def test_claim_once_is_true_only_the_first_time(store: SessionStore, now: float) -> None:
    assert store.claim_once("jti:corp:abc", now + 120) is True
    assert store.claim_once("jti:corp:abc", now + 120) is False
    assert store.claim_once("jti:corp:abc", now + 600) is False
    assert store.claim_once("jti:corp:other", now + 120) is True


def test_claim_once_after_the_window_closed_is_false(store: SessionStore, now: float) -> None:
    assert store.claim_once("jti:corp:stale", now - 1) is False
    assert store.claim_once("jti:corp:stale", now + 120) is True


def test_claim_keys_are_apart_from_sessions(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    assert store.claim_once(record.session_id, now + 120) is True
    assert store.get(record.session_id) == record


def test_of_racing_claims_exactly_one_wins(store: SessionStore, now: float) -> None:
    results: list[bool] = []
    start = threading.Barrier(16)

    def claim() -> None:
        start.wait()
        results.append(store.claim_once("jti:corp:raced", now + 120))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]


def test_a_released_claim_can_be_claimed_again(store: SessionStore, now: float) -> None:
    assert store.claim_once("refresh:lock", now + 30) is True
    store.release("refresh:lock")
    assert store.claim_once("refresh:lock", now + 30) is True
    assert store.claim_once("refresh:lock", now + 30) is False
    store.release("never-claimed")  # no error


# -- locks with an owner (acquire_lock, release_lock) -----------------------------------------


def expire_soon(store: SessionStore, key: str, owner: str) -> None:
    """Hold ``key`` for a fraction of a second, then wait until another owner can take it."""
    assert store.acquire_lock(key, owner, time.time() + 0.3) is True
    wait_until(lambda: store.acquire_lock(key, new_lock_owner(), time.time() + 60), 5, f"the lock {key} to expire")


def test_a_lock_is_held_by_its_owner_alone_until_the_owner_releases_it(store: SessionStore, now: float) -> None:
    first, second = new_lock_owner(), new_lock_owner()
    assert store.acquire_lock("lock:refresh:a", first, now + 60) is True
    assert store.acquire_lock("lock:refresh:a", second, now + 60) is False
    assert store.release_lock("lock:refresh:a", second) is False  # not the owner: nothing happens
    assert store.acquire_lock("lock:refresh:a", second, now + 60) is False
    assert store.release_lock("lock:refresh:a", first) is True
    assert store.release_lock("lock:refresh:a", first) is False  # released once
    assert store.acquire_lock("lock:refresh:a", second, now + 60) is True


def test_a_holder_whose_lock_expired_cannot_release_its_successors(store: SessionStore) -> None:
    """The review's second half (issue 13, item 3): the first holder's late release freed the
    second holder's lock, letting a third caller refresh alongside the second."""
    late = new_lock_owner()
    expire_soon(store, "lock:refresh:b", late)  # another owner holds it now
    assert store.release_lock("lock:refresh:b", late) is False
    assert store.acquire_lock("lock:refresh:b", late, time.time() + 60) is False
    assert store.acquire_lock("lock:refresh:b", new_lock_owner(), time.time() + 60) is False


def test_the_owner_renews_its_lock_past_its_first_end(store: SessionStore) -> None:
    owner = new_lock_owner()
    assert store.acquire_lock("lock:refresh:renewed", owner, time.time() + 0.3) is True
    assert store.acquire_lock("lock:refresh:renewed", owner, time.time() + 60) is True
    expire_soon(store, "lock:refresh:yardstick", new_lock_owner())  # held as briefly as the first end
    assert store.acquire_lock("lock:refresh:renewed", new_lock_owner(), time.time() + 60) is False
    assert store.release_lock("lock:refresh:renewed", owner) is True


def test_a_lock_whose_time_has_passed_is_not_taken_and_not_changed(store: SessionStore, now: float) -> None:
    owner = new_lock_owner()
    assert store.acquire_lock("lock:refresh:c", owner, now - 1) is False
    assert store.acquire_lock("lock:refresh:c", owner, now + 60) is True
    assert store.acquire_lock("lock:refresh:c", owner, now - 1) is False  # a renewal into the past
    assert store.acquire_lock("lock:refresh:c", new_lock_owner(), now + 60) is False  # still held
    assert store.release_lock("lock:refresh:c", owner) is True


def test_of_racing_acquisitions_exactly_one_wins(store: SessionStore, now: float) -> None:
    results: list[bool] = []
    start = threading.Barrier(16)

    def acquire() -> None:
        owner = new_lock_owner()
        start.wait()
        results.append(store.acquire_lock("lock:refresh:raced", owner, now + 60))

    threads = [threading.Thread(target=acquire) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]


def test_locks_and_claims_exclude_each_other_and_release_only_their_own(store: SessionStore, now: float) -> None:
    owner = new_lock_owner()
    assert store.claim_once("lock:refresh:d", now + 60) is True
    assert store.acquire_lock("lock:refresh:d", owner, now + 60) is False
    assert store.release_lock("lock:refresh:d", owner) is False
    assert store.claim_once("lock:refresh:d", now + 60) is False  # the claim stands
    assert store.acquire_lock("lock:refresh:e", owner, now + 60) is True
    assert store.claim_once("lock:refresh:e", now + 60) is False
    store.release("lock:refresh:e")  # release undoes claims, never someone's lock
    assert store.acquire_lock("lock:refresh:e", new_lock_owner(), now + 60) is False
    assert store.release_lock("lock:refresh:e", owner) is True


@pytest.mark.parametrize("owner", ["", "1", "too-short", "not base64 url-safe!!!!!", "x" * 129])
def test_an_owner_that_is_not_a_fresh_random_value_is_refused(store: SessionStore, now: float, owner: str) -> None:
    with pytest.raises(ValueError, match="new_lock_owner"):
        store.acquire_lock("lock:refresh:f", owner, now + 60)
    assert store.claim_once("lock:refresh:f", now + 60) is True  # nothing was written


# -- tokens, ping, close -----------------------------------------------------------------


def test_set_tokens_replaces_the_blob_of_a_live_session_only(store: SessionStore, now: float) -> None:
    record = make_record(now, tokens=None)
    store.create(record)
    store.set_tokens(record.session_id, b"\x01refreshed\x00")
    assert store.get(record.session_id) == replace(record, tokens=b"\x01refreshed\x00")
    store.end(record.session_id, "logout", now + 1)
    store.set_tokens(record.session_id, b"after the end")
    assert store.get(record.session_id).tokens is None  # type: ignore[union-attr]
    store.set_tokens(new_session_id(), b"unknown")  # no error


def test_set_tokens_with_claims_replaces_both_without_claims_keeps_them(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    store.set_tokens(record.session_id, b"first")
    assert store.get(record.session_id) == replace(record, tokens=b"first")
    new_claims = {"sub": record.sub, "roles": ["viewer"], "name": "Ünïcode ✓"}
    store.set_tokens(record.session_id, b"second", new_claims)
    assert store.get(record.session_id) == replace(record, tokens=b"second", claims=new_claims)
    store.end(record.session_id, "logout", now + 1)
    store.set_tokens(record.session_id, b"third", {"sub": "someone else"})
    assert store.get(record.session_id).claims == new_claims  # type: ignore[union-attr]


def test_ping_answers_and_close_releases(store: SessionStore) -> None:
    store.ping()
    store.close()


def test_one_record_type_for_every_store(store: SessionStore, now: float) -> None:
    record = make_record(now)
    store.create(record)
    assert type(store.get(record.session_id)) is SessionRecord
