"""Two apps sharing one store (a SQLite file, a Redis database) never see, end or free each
other's sessions, claims or locks (issue 13, finding 6). Stores are opened as the app opens
them, through ``open_store`` with the app's id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth.secret import Secret
from auth.stores.base import SessionStore, new_lock_owner
from auth.stores.factory import StoreSpec, open_store
from tests.stores.records import make_record
from tests.support.redis_server import RedisServer


@pytest.fixture(params=["sqlite", "redis"])
def two_apps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SessionStore, SessionStore]]:
    if request.param == "sqlite":
        spec = StoreSpec("sqlite", path=tmp_path / "shared.db")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        with server.client() as client:
            client.flushdb()
        spec = StoreSpec("redis", url=Secret(server.url))
    first, second = open_store(spec, app_id="app-a"), open_store(spec, app_id="app-b")
    assert first is not None and second is not None
    yield first, second
    first.close()
    second.close()


def test_a_session_of_one_app_is_unknown_to_the_other(two_apps: tuple[SessionStore, SessionStore]) -> None:
    app_a, app_b = two_apps
    now = time.time()
    record = make_record(now)
    app_a.create(record)
    assert app_b.get(record.session_id) is None
    app_b.touch(record.session_id, now + 5)
    assert app_b.end(record.session_id, "logout", now + 5) is False
    app_b.set_tokens(record.session_id, b"other")
    kept = app_a.get(record.session_id)
    assert kept is not None and kept.ended_at is None and kept.last_active_at == now and kept.tokens == record.tokens


def test_sign_out_everywhere_and_back_channel_end_only_their_apps_sessions(
    two_apps: tuple[SessionStore, SessionStore],
) -> None:
    app_a, app_b = two_apps
    now = time.time()
    in_a, in_b = make_record(now), make_record(now)  # the same user and provider session in both
    app_a.create(in_a)
    app_b.create(in_b)
    assert app_b.end_all_for_user("corp", "alice", "logout_everywhere", now + 1) == [in_b.session_id]
    assert app_b.end_by_provider_sid("corp", "corp-sid-1", "backchannel", now + 1) == []
    live = app_a.get(in_a.session_id)
    assert live is not None and live.ended_at is None
    assert app_a.end_by_provider_sid("corp", "corp-sid-1", "backchannel", now + 2) == [in_a.session_id]


def test_claims_and_locks_are_per_app(two_apps: tuple[SessionStore, SessionStore]) -> None:
    app_a, app_b = two_apps
    now = time.time()
    assert app_a.claim_once("logout-token:corp:jti-1", now + 60) is True
    assert app_b.claim_once("logout-token:corp:jti-1", now + 60) is True  # the provider told both apps
    owner = new_lock_owner()
    assert app_a.acquire_lock("lock:refresh:x", owner, now + 60) is True
    assert app_b.acquire_lock("lock:refresh:x", new_lock_owner(), now + 60) is True
    assert app_b.release_lock("lock:refresh:x", owner) is False
    assert app_a.release_lock("lock:refresh:x", owner) is True
