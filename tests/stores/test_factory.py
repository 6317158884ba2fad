"""parse_store_url and open_store: every accepted form, every refusal, and no password in any text."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth.secret import Secret
from auth.stores.factory import StoreSpec, open_store, parse_store_url
from auth.stores.memory import MemoryStore
from auth.stores.redis import RedisStore
from auth.stores.sqlite import SqliteStore

BASE = Path("/srv/app")
FORMS = (
    "A session store URL is one of: sqlite:///relative/path.db (relative to /srv/app), sqlite:////absolute/path.db, "
    "redis://[:password@]host:port/db, rediss://[:password@]host:port/db (TLS), memory:// or none"
)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("none", StoreSpec("none")),
        ("  none\n", StoreSpec("none")),
        ("memory://", StoreSpec("memory")),
        ("sqlite:///sessions.db", StoreSpec("sqlite", path=BASE / "sessions.db")),
        ("sqlite:///var/sessions.db", StoreSpec("sqlite", path=BASE / "var" / "sessions.db")),
        ("sqlite:///../shared/sessions.db", StoreSpec("sqlite", path=BASE / ".." / "shared" / "sessions.db")),
        ("sqlite:////var/lib/app/sessions.db", StoreSpec("sqlite", path=Path("/var/lib/app/sessions.db"))),
        ("SQLITE:////tmp/s.db", StoreSpec("sqlite", path=Path("/tmp/s.db"))),
        ("redis://localhost:6379/0", StoreSpec("redis", url=Secret("redis://localhost:6379/0"))),
        ("redis://localhost", StoreSpec("redis", url=Secret("redis://localhost"))),
        ("redis://:pa55@cache:6380/2", StoreSpec("redis", url=Secret("redis://:pa55@cache:6380/2"))),
        ("redis://app:pa55@cache:6380/2", StoreSpec("redis", url=Secret("redis://app:pa55@cache:6380/2"))),
        (
            "rediss://:pa55@cache.example.com:6380/1",
            StoreSpec("redis", url=Secret("rediss://:pa55@cache.example.com:6380/1")),
        ),
        ("redis://[::1]:6379/0", StoreSpec("redis", url=Secret("redis://[::1]:6379/0"))),
    ],
)
def test_accepted_forms(text: str, spec: StoreSpec) -> None:
    assert parse_store_url(text, base_dir=BASE) == spec


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Not a session store URL"),
        ("sessions.db", "Not a session store URL"),
        ("None", "Not a session store URL"),
        ("memory", "Not a session store URL"),
        ("mysql+pymysql://db", "Unknown session store type 'mysql+pymysql'"),
        ("memory://here", "memory:// takes nothing after its two slashes"),
        ("memory:", "memory:// takes nothing after its two slashes"),
        ("postgres://db/sessions", "Unknown session store type 'postgres'"),
        ("pass word://x", "Unknown session store type"),
        ("sqlite://sessions.db", "A sqlite URL has three slashes before a relative path, four before an absolute one"),
        (
            "sqlite://host/sessions.db",
            "A sqlite URL has three slashes before a relative path, four before an absolute one",
        ),
        ("sqlite://", "A sqlite URL has three slashes before a relative path, four before an absolute one"),
        ("sqlite:///", "The sqlite URL names no file"),
        ("sqlite:////", "The sqlite URL names no file"),
        ("sqlite:///:memory:", "An in-memory SQLite database is private to one connection; use memory://"),
        ("sqlite:///s.db?mode=ro", "The sqlite URL has options (after ? or #); none are supported"),
        ("sqlite:///data/", "The sqlite URL names a directory, not a file"),
        ("redis://", "The redis URL names no host"),
        ("redis://:pa55@/0", "The redis URL names no host"),
        ("redis://:pa55@cache:port/0", "The redis URL's port is not a number from 0 to 65535"),
        ("redis://:pa55@cache:70000/0", "The redis URL's port is not a number from 0 to 65535"),
        ("redis://:pa55@cache:6379/zero", "The redis URL's database (after the last /) is not a number"),
        (
            "redis://:pa55@cache:6379/0?ssl_cert_reqs=none",
            "The redis URL has options (after ? or #); none are supported",
        ),
    ],
)
def test_refused_forms_name_the_problem_and_every_form_without_the_text(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_store_url(text, base_dir=BASE)
    assert str(raised.value) == f"{problem}. {FORMS}"
    assert "pa55" not in str(raised.value)


def test_a_redis_spec_never_shows_its_password() -> None:
    spec = parse_store_url("redis://:pa55@cache:6380/2", base_dir=BASE)
    assert "pa55" not in repr(spec) and "pa55" not in str(spec)
    assert spec.describe() == "redis cache:6380/2 (with password)"
    assert parse_store_url("rediss://cache", base_dir=BASE).describe() == "rediss cache:6379/0"


def test_describe_names_the_other_stores() -> None:
    assert parse_store_url("sqlite:///s.db", base_dir=BASE).describe() == "sqlite /srv/app/s.db"
    assert parse_store_url("memory://", base_dir=BASE).describe() == "memory"
    assert parse_store_url("none", base_dir=BASE).describe() == "none"


def test_open_store_builds_each_backend_without_connecting(tmp_path: Path) -> None:
    assert open_store(StoreSpec("none")) is None
    assert isinstance(open_store(StoreSpec("memory")), MemoryStore)
    sqlite = open_store(parse_store_url("sqlite:///data/s.db", base_dir=tmp_path))
    assert isinstance(sqlite, SqliteStore) and sqlite.path == tmp_path / "data" / "s.db"
    assert not (tmp_path / "data").exists()
    assert isinstance(open_store(parse_store_url("rediss://:pa55@cache.invalid:6380/1", base_dir=tmp_path)), RedisStore)


@pytest.mark.parametrize("spec", [StoreSpec("sqlite"), StoreSpec("redis")])
def test_an_incomplete_spec_is_refused(spec: StoreSpec) -> None:
    with pytest.raises(ValueError, match="^incomplete store spec"):
        open_store(spec)
