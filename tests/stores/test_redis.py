"""RedisStore beyond the contract: its key layout and TTLs, Redis forgetting sessions on its
own, and a Redis that is absent, stopped, silent or refuses the password."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis

from auth.stores.base import StoreUnavailable
from auth.stores.redis import KEY_PREFIX, RedisStore
from tests.stores.records import EVERY_METHOD, HOUR, make_record
from tests.support.app_process import free_port, wait_until
from tests.support.redis_server import RedisServer


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    with redis_server.client() as client:
        client.flushdb()
    yield redis_server


@pytest.fixture
def store(server: RedisServer) -> Iterator[RedisStore]:
    opened = RedisStore(server.url)
    yield opened
    opened.close()


@pytest.fixture
def raw(server: RedisServer) -> Iterator[redis.Redis]:
    with server.client() as client:
        yield client


def test_the_key_layout_and_ttls(store: RedisStore, raw: redis.Redis) -> None:
    now = time.time()
    record = make_record(now)
    store.create(record)
    session_key = f"{KEY_PREFIX}session:{record.session_id}"
    user_key, sid_key = f"{KEY_PREFIX}user:4:corp:alice", f"{KEY_PREFIX}sid:4:corp:corp-sid-1"
    assert sorted(raw.keys("*")) == sorted(key.encode() for key in (session_key, user_key, sid_key))
    assert raw.hget(session_key, "sub") == b"alice"
    assert raw.hget(session_key, "expires_at") == repr(now + HOUR).encode()
    assert raw.smembers(user_key) == raw.smembers(sid_key) == {record.session_id.encode()}
    for key in (session_key, user_key, sid_key):
        assert HOUR * 1000 - 5000 < raw.pttl(key) <= HOUR * 1000
    store.claim_once("jti:corp:1", now + 60)
    assert 55_000 < raw.pttl(f"{KEY_PREFIX}claim:jti:corp:1") <= 60_000


def test_an_index_lives_as_long_as_its_longest_session(store: RedisStore, raw: redis.Redis) -> None:
    now = time.time()
    user_key = f"{KEY_PREFIX}user:4:corp:alice"
    store.create(make_record(now, expires_at=now + 2 * HOUR))
    store.create(make_record(now, expires_at=now + HOUR))
    assert raw.pttl(user_key) > 1.9 * HOUR * 1000
    assert raw.scard(user_key) == 2


def test_ending_keeps_the_ttl(store: RedisStore, raw: redis.Redis) -> None:
    now = time.time()
    record = make_record(now)
    store.create(record)
    store.touch(record.session_id, now + 1)
    store.end(record.session_id, "logout", now + 2)
    assert raw.pttl(f"{KEY_PREFIX}session:{record.session_id}") > (HOUR - 5) * 1000


def test_redis_forgets_a_session_and_its_indexes_when_it_expires(store: RedisStore, raw: redis.Redis) -> None:
    now = time.time()
    record = make_record(now, expires_at=now + 1)
    store.create(record)
    assert store.get(record.session_id) == record
    wait_until(lambda: store.get(record.session_id) is None, 5, "the session to expire")
    wait_until(lambda: raw.dbsize() == 0, 5, "the index sets to expire")


def test_a_claim_expires_and_can_be_made_again(store: RedisStore) -> None:
    assert store.claim_once("jti:corp:short", time.time() + 1) is True
    assert store.claim_once("jti:corp:short", time.time() + 60) is False
    wait_until(lambda: store.claim_once("jti:corp:short", time.time() + 60), 5, "the claim to expire")


def test_an_index_member_whose_session_is_gone_is_dropped(store: RedisStore, raw: redis.Redis) -> None:
    now = time.time()
    gone, kept = make_record(now), make_record(now)
    store.create(gone)
    store.create(kept)
    raw.delete(f"{KEY_PREFIX}session:{gone.session_id}")  # as if its TTL had run out
    assert store.end_all_for_user("corp", "alice", "logout", now) == [kept.session_id]
    assert raw.smembers(f"{KEY_PREFIX}user:4:corp:alice") == {kept.session_id.encode()}


def test_two_prefixes_share_one_redis_without_seeing_each_other(server: RedisServer) -> None:
    now = time.time()
    first, second = RedisStore(server.url, key_prefix="app-1:"), RedisStore(server.url, key_prefix="app-2:")
    record = make_record(now)
    first.create(record)
    assert second.get(record.session_id) is None
    assert second.end_all_for_user("corp", "alice", "logout", now) == []
    assert first.get(record.session_id) == record
    first.close()
    second.close()


# -- unavailable ----------------------------------------------------------------------


def assert_quickly_unavailable(store: RedisStore, method: str, within: float = 1.0) -> StoreUnavailable:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        EVERY_METHOD[method](store, time.time())
    assert time.monotonic() - started < within
    return raised.value


@pytest.mark.parametrize("method", EVERY_METHOD)
def test_nothing_listening_is_unavailable_at_once(method: str) -> None:
    port = free_port()
    store = RedisStore(f"redis://:hunter2-pass@127.0.0.1:{port}/3")
    error = assert_quickly_unavailable(store, method)
    assert error.backend == f"redis 127.0.0.1:{port}/3"
    assert error.failure.startswith("cannot connect (Error 111 connecting to 127.0.0.1:")
    assert "hunter2" not in str(error) and "hunter2" not in repr(error)


def test_a_stopped_redis_is_unavailable_for_every_method_and_recovers_when_back() -> None:
    with RedisServer() as server:
        store = RedisStore(server.url)
        store.create(make_record(time.time()))
        server.stop()
        for method in EVERY_METHOD:
            error = assert_quickly_unavailable(store, method)
            assert error.failure.startswith("cannot connect ("), (method, error.failure)
        server.start()  # same port, empty (no persistence)
        store.ping()
        assert store.claim_once("jti:corp:1", time.time() + 60) is True
        store.close()


def test_a_redis_that_never_answers_times_out_in_about_a_second() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        store = RedisStore(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        error = assert_quickly_unavailable(store, "get", within=2.5)
    assert error.failure.startswith("timed out (")


@pytest.fixture(scope="module")
def guarded() -> Iterator[RedisServer]:
    with RedisServer(password="right-Pa55word") as server:
        yield server


def test_a_password_in_the_url_signs_in(guarded: RedisServer) -> None:
    store = RedisStore(f"redis://:right-Pa55word@127.0.0.1:{guarded.port}/0")
    store.ping()
    assert store.claim_once("jti:corp:1", time.time() + 60) is True
    store.close()


@pytest.mark.parametrize("userinfo", [":wrong-Pa55word", "default:wrong-Pa55word", ""])
def test_a_refused_password_is_unavailable_and_never_echoed(guarded: RedisServer, userinfo: str) -> None:
    at = "@" if userinfo else ""
    store = RedisStore(f"redis://{userinfo}{at}127.0.0.1:{guarded.port}/0")
    error = assert_quickly_unavailable(store, "ping")
    assert error.backend == f"redis 127.0.0.1:{guarded.port}/0"
    assert error.failure.startswith(("authentication failed (", "refused the command ("))
    assert "Pa55word" not in str(error)


def test_a_rediss_url_takes_the_tls_path_and_names_it() -> None:
    """TLS itself is not tested here: nothing listens, so the handshake is never reached."""
    port = free_port()
    store = RedisStore(f"rediss://:secret-Pa55@127.0.0.1:{port}/2")
    error = assert_quickly_unavailable(store, "ping")
    assert error.backend == f"rediss 127.0.0.1:{port}/2"
    assert error.failure.startswith("cannot connect (")
    assert "secret-Pa55" not in str(error)


@pytest.mark.parametrize("method", ["create", "claim_once"])
def test_a_full_redis_refuses_writes_and_still_answers_reads(method: str) -> None:
    with RedisServer() as server:
        store = RedisStore(server.url)
        record = make_record(time.time())
        store.create(record)
        with server.client() as client:
            client.config_set("maxmemory", 1)  # noeviction (the default policy): every write is refused
        error = assert_quickly_unavailable(store, method)
        assert error.failure.startswith(
            "out of memory, refusing writes (command not allowed when used memory > 'maxmemory'"
        )
        assert store.get(record.session_id) == record
        store.close()
