"""The stores under test: memory, SQLite (a file in tmp_path) and Redis (a real server on 127.0.0.1).

``store`` is parametrized over all three, so every test that takes it is part
of the one contract suite. The Redis server is started once per test session,
only when a Redis test runs, and emptied before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auth.stores.base import SessionStore
from auth.stores.memory import MemoryStore
from auth.stores.redis import RedisStore
from auth.stores.sqlite import SqliteStore
from tests.support.redis_server import RedisServer

BACKENDS = ("memory", "sqlite", "redis")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def open_backend(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> SessionStore:
    if name == "memory":
        return MemoryStore()
    if name == "sqlite":
        return SqliteStore(tmp_path / "sessions.db")
    server: RedisServer = request.getfixturevalue("redis_server")
    with server.client() as client:
        client.flushdb()
    return RedisStore(server.url)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    opened = open_backend(request.param, tmp_path, request)
    yield opened
    opened.close()
