"""Expiry by the store's own clock, for the stores that take one (memory, SQLite): a record
live when created is gone once the clock passes its ``expires_at``. Redis is tested against
real time in test_redis.py, because its server's clock decides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auth.stores.base import SessionStore, new_lock_owner
from auth.stores.memory import MemoryStore
from auth.stores.sqlite import SqliteStore
from tests.stores.records import HOUR, make_record
from tests.support.clock import T0, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, clock: Clock, tmp_path: Path) -> Iterator[SessionStore]:
    opened: SessionStore = (
        MemoryStore(clock=clock) if request.param == "memory" else SqliteStore(tmp_path / "s.db", clock=clock)
    )
    yield opened
    opened.close()


def test_a_session_is_gone_once_the_clock_passes_its_expiry(store: SessionStore, clock: Clock) -> None:
    record = make_record(T0)
    ended = make_record(T0, expires_at=T0 + 2 * HOUR)
    store.create(record)
    store.create(ended)
    store.end(ended.session_id, "logout", T0 + 1)
    clock.now = T0 + HOUR - 0.001
    assert store.get(record.session_id) == record
    clock.now = T0 + HOUR
    assert store.get(record.session_id) is None
    store.touch(record.session_id, T0 + 10)
    store.set_tokens(record.session_id, b"late")
    assert store.end(record.session_id, "logout", T0 + 10) is False
    assert store.end_all_for_user("corp", "alice", "logout", T0 + 10) == []
    assert store.get(ended.session_id).end_reason == "logout"  # type: ignore[union-attr]
    clock.now = T0 + 2 * HOUR
    assert store.get(ended.session_id) is None


def test_a_claim_lasts_until_its_time_and_can_then_be_made_again(store: SessionStore, clock: Clock) -> None:
    assert store.claim_once("jti:corp:1", T0 + 60) is True
    clock.now = T0 + 59.999
    assert store.claim_once("jti:corp:1", T0 + 600) is False
    clock.now = T0 + 60
    assert store.claim_once("jti:corp:1", T0 + 600) is True
    assert store.claim_once("jti:corp:1", T0 + 600) is False


def test_a_lock_lasts_until_its_time_and_its_late_owner_then_frees_nothing(store: SessionStore, clock: Clock) -> None:
    first, second = new_lock_owner(), new_lock_owner()
    assert store.acquire_lock("lock:refresh:1", first, T0 + 60) is True
    clock.now = T0 + 59.999
    assert store.acquire_lock("lock:refresh:1", second, T0 + 600) is False
    assert store.acquire_lock("lock:refresh:1", first, T0 + 120) is True  # renewed by its owner
    clock.now = T0 + 119.999
    assert store.acquire_lock("lock:refresh:1", second, T0 + 600) is False
    clock.now = T0 + 120
    assert store.release_lock("lock:refresh:1", first) is False  # its time is up: nothing to release
    assert store.acquire_lock("lock:refresh:1", second, T0 + 600) is True
    assert store.release_lock("lock:refresh:1", first) is False  # the late owner leaves the new lock alone
    assert store.acquire_lock("lock:refresh:1", first, T0 + 600) is False
    clock.now = T0 + 600
    assert store.acquire_lock("lock:refresh:1", first, T0 + 700) is True


def test_many_expired_sessions_are_forgotten_and_new_ones_kept(store: SessionStore, clock: Clock) -> None:
    old = [make_record(T0, expires_at=T0 + 10 + index) for index in range(300)]
    for record in old:
        store.create(record)
    clock.now = T0 + 400
    fresh = make_record(T0 + 400)
    store.create(fresh)
    assert all(store.get(record.session_id) is None for record in old)
    assert store.get(fresh.session_id) == fresh
