"""SqliteStore beyond the contract: the file's schema, several stores and processes on one
file, purging, and the ways a database can be unavailable (locked, unreadable, no directory)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auth.stores.base import SessionStore, StoreUnavailable, new_lock_owner, new_session_id
from auth.stores.sqlite import PURGE_BATCH, SCHEMA_VERSION, SqliteStore, keep_out_of_git
from tests.stores.records import EVERY_METHOD, HOUR, WRITES, make_record
from tests.support.clock import T0, Clock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sessions.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(path)
    yield opened
    opened.close()


def rows(path: Path, table: str = "sessions") -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_nothing_is_touched_before_first_use(path: Path) -> None:
    SqliteStore(path)
    assert not path.parent.exists()


def test_first_use_creates_the_directory_and_a_versioned_wal_schema(store: SqliteStore, path: Path) -> None:
    store.ping()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"sessions_by_user", "sessions_by_provider_sid", "sessions_by_expiry", "claimed_keys_by_until"} <= indexes


def test_a_folder_the_store_creates_keeps_itself_out_of_git(tmp_path: Path) -> None:
    """The default store, ``.streamlit-auth/`` in the app's folder, must never show in the
    user's ``git status``: the folder it creates holds a ``.gitignore`` of ``*`` (which
    ignores itself too), and a real git sees nothing to add after a sign-in."""
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True, timeout=30)
    store = SqliteStore(tmp_path / ".streamlit-auth" / "sessions.db")
    try:
        store.create(make_record(time.time()))
    finally:
        store.close()

    assert (tmp_path / ".streamlit-auth" / ".gitignore").read_text(encoding="utf-8") == "*\n"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert status.stdout == ""


def test_a_folder_that_already_exists_gets_no_gitignore(path: Path) -> None:
    """The operator's own folder (``/var/lib/app``, a volume) is theirs: nothing is added to it."""
    path.parent.mkdir()
    store = SqliteStore(path)
    store.ping()
    store.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["sessions.db"]


@pytest.mark.parametrize("obstacle", ["a .gitignore of its own", "a folder named .gitignore", "no folder"])
def test_a_gitignore_that_cannot_be_written_is_left_out_quietly(
    tmp_path: Path, obstacle: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Never a reason for the store to fail: at worst the folder shows in ``git status``."""
    folder = tmp_path / "store"
    if obstacle == "a .gitignore of its own":
        folder.mkdir()
        (folder / ".gitignore").write_text("mine\n", encoding="utf-8")
    elif obstacle == "a folder named .gitignore":
        (folder / ".gitignore").mkdir(parents=True)

    keep_out_of_git(folder)

    if obstacle == "a .gitignore of its own":
        assert (folder / ".gitignore").read_text(encoding="utf-8") == "mine\n"
    assert "session_store_gitignore_not_written" in caplog.text


def test_the_lookups_use_their_indexes(store: SqliteStore, path: Path) -> None:
    store.ping()
    with sqlite3.connect(path) as db:
        by_user = db.execute("EXPLAIN QUERY PLAN SELECT session_id FROM sessions WHERE provider = 'a' AND sub = 'b'")
        by_sid = db.execute(
            "EXPLAIN QUERY PLAN SELECT session_id FROM sessions WHERE provider = 'a' AND provider_sid = 'b'"
        )
        assert "sessions_by_user" in str(by_user.fetchall())
        assert "sessions_by_provider_sid" in str(by_sid.fetchall())


def test_two_stores_on_one_file_see_each_others_changes(store: SqliteStore, path: Path) -> None:
    other = SqliteStore(path)
    now = time.time()
    record = make_record(now)
    store.create(record)
    assert other.get(record.session_id) == record
    assert other.end_all_for_user("corp", "alice", "logout_everywhere", now + 1) == [record.session_id]
    assert store.get(record.session_id).end_reason == "logout_everywhere"  # type: ignore[union-attr]
    assert store.claim_once("jti:corp:1", now + 60) is True
    assert other.claim_once("jti:corp:1", now + 60) is False
    other.close()


WRITER = """
import sys, time
from auth.stores.base import SessionRecord
from auth.stores.sqlite import SqliteStore

store = SqliteStore(sys.argv[1])
now = time.time()
store.create(SessionRecord(
    session_id=sys.argv[2], provider="corp", sub="alice", provider_sid=None, created_at=now,
    last_active_at=now, expires_at=now + 3600, claims={"groups": ["written-by-another-process"]},
))
print(store.claim_once("jti:corp:cross-process", now + 60))
store.close()
"""


def test_another_process_writes_and_this_one_reads(store: SqliteStore, path: Path) -> None:
    store.ping()  # the schema exists already: the other process opens a file in use
    session_id = new_session_id()
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), session_id], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    record = store.get(session_id)
    assert record is not None and record.claims == {"groups": ["written-by-another-process"]}
    assert store.claim_once("jti:corp:cross-process", time.time() + 60) is False


def test_create_purges_expired_rows_in_bounded_batches(path: Path) -> None:
    clock = Clock(T0)
    store = SqliteStore(path, clock=clock)
    for _ in range(PURGE_BATCH + 50):
        store.create(make_record(T0, expires_at=T0 + 10))
    store.claim_once("jti:corp:old", T0 + 10)
    clock.now = T0 + 20
    store.create(make_record(T0 + 20))
    assert rows(path) == 50 + 1
    assert rows(path, "claimed_keys") == 0
    store.create(make_record(T0 + 20))
    assert rows(path) == 2
    store.close()


def test_records_vanish_when_the_clock_passes_their_expiry(path: Path) -> None:
    clock = Clock(T0)
    store = SqliteStore(path, clock=clock)
    record = make_record(T0)
    store.create(record)
    assert store.claim_once("jti:corp:1", T0 + 60) is True
    clock.now = T0 + HOUR - 0.001
    assert store.get(record.session_id) == record
    clock.now = T0 + HOUR
    assert store.get(record.session_id) is None
    assert store.end_all_for_user("corp", "alice", "logout", T0) == []
    assert store.claim_once("jti:corp:1", T0 + 2 * HOUR) is True
    store.close()


# -- unavailable ----------------------------------------------------------------------


@pytest.fixture
def lock_holder(store: SqliteStore, path: Path) -> Iterator[Callable[[bool], None]]:
    """Another connection that takes the database: a write transaction (``BEGIN EXCLUSIVE``,
    which WAL readers still read past), or with ``whole_file`` the file itself
    (``locking_mode = EXCLUSIVE``), which stops readers too."""
    store.ping()
    holder = sqlite3.connect(path, isolation_level=None, timeout=1)

    def take(whole_file: bool) -> None:
        if whole_file:
            store.close()  # the file lock needs every other connection gone; the store reconnects
            holder.execute("PRAGMA locking_mode = EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("DELETE FROM claimed_keys")
            holder.execute("COMMIT")  # in exclusive locking mode the lock outlives the commit
        else:
            holder.execute("BEGIN EXCLUSIVE")

    yield take
    holder.close()


def assert_quickly_unavailable(store: SessionStore, call: Callable[[SessionStore, float], object]) -> StoreUnavailable:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        call(store, time.time())
    assert time.monotonic() - started < 1.0
    return raised.value


@pytest.mark.parametrize("method", [*WRITES, "ping"])
def test_a_write_transaction_elsewhere_makes_writes_unavailable_within_the_busy_timeout(
    store: SqliteStore, path: Path, lock_holder: Callable[[bool], None], method: str
) -> None:
    lock_holder(False)
    error = assert_quickly_unavailable(store, EVERY_METHOD[method])
    assert str(error) == (
        f"Session store unavailable (sqlite {path}): database is locked by another connection (waited 200 ms)"
    )
    assert (error.backend, error.failure) == (
        f"sqlite {path}",
        "database is locked by another connection (waited 200 ms)",
    )


def test_a_write_transaction_elsewhere_still_lets_sessions_be_read(
    store: SqliteStore, lock_holder: Callable[[bool], None]
) -> None:
    record = make_record(time.time())
    store.create(record)
    lock_holder(False)
    assert store.get(record.session_id) == record


@pytest.mark.parametrize("method", EVERY_METHOD)
def test_a_database_held_in_exclusive_locking_mode_makes_every_method_unavailable(
    store: SqliteStore, path: Path, lock_holder: Callable[[bool], None], method: str
) -> None:
    lock_holder(True)
    error = assert_quickly_unavailable(store, EVERY_METHOD[method])
    assert error.failure == "database is locked by another connection (waited 200 ms)"


def test_the_store_recovers_when_the_lock_is_released(store: SqliteStore, path: Path) -> None:
    store.ping()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailable):
        store.claim_once("jti:corp:1", time.time() + 60)
    holder.execute("ROLLBACK")
    holder.close()
    assert store.claim_once("jti:corp:1", time.time() + 60) is True


def test_a_directory_that_cannot_be_created_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    path = tmp_path / "a-file" / "sessions" / "sessions.db"
    store = SqliteStore(path)
    with pytest.raises(StoreUnavailable) as raised:
        store.get(new_session_id())
    assert str(raised.value) == (
        f"Session store unavailable (sqlite {path}): "
        f"cannot create the directory {tmp_path / 'a-file' / 'sessions'}: Not a directory"
    )


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    path.write_bytes(b"this is not SQLite, " * 100)
    with pytest.raises(StoreUnavailable) as raised:
        SqliteStore(path).ping()
    assert raised.value.failure == "file is not a database (DatabaseError)"


def test_a_schema_from_a_newer_version_is_refused(path: Path) -> None:
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(StoreUnavailable) as raised:
        SqliteStore(path).get(new_session_id())
    assert raised.value.failure == "schema version 7, but this package reads version 2"


# The schema as version 1 wrote it (before locks had owners): what an upgrade finds on disk.
VERSION_1_SCHEMA = """
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY, provider TEXT NOT NULL, sub TEXT NOT NULL, provider_sid TEXT,
    created_at REAL NOT NULL, last_active_at REAL NOT NULL, expires_at REAL NOT NULL, claims TEXT NOT NULL,
    ended_at REAL, end_reason TEXT, tokens BLOB
);
CREATE INDEX sessions_by_user ON sessions (provider, sub);
CREATE INDEX sessions_by_provider_sid ON sessions (provider, provider_sid);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE claimed_keys (key TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE INDEX claimed_keys_by_until ON claimed_keys (until);
"""


def version_1_file(path: Path, now: float) -> str:
    """A version-1 file in WAL mode with one session, one replay claim and one old-style lock
    (``claim_once("lock:…")``, as version 1 locked a refresh); the session's id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    session_id = new_session_id()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(VERSION_1_SCHEMA)
        db.execute(
            "INSERT INTO sessions VALUES (?, 'corp', 'alice', 'corp-sid-1', ?, ?, ?, '{\"sub\":\"alice\"}', NULL, NULL, ?)",
            (session_id, now, now, now + HOUR, b"sealed"),
        )
        db.execute("INSERT INTO claimed_keys VALUES ('logout-token:corp:jti-1', ?)", (now + 60,))
        db.execute("INSERT INTO claimed_keys VALUES ('lock:refresh:old', ?)", (now + 60,))
        db.execute("PRAGMA user_version = 1")
    return session_id


def test_a_version_1_file_is_upgraded_in_place_keeping_sessions_claims_and_locks(path: Path) -> None:
    now = time.time()
    session_id = version_1_file(path, now)
    store = SqliteStore(path)
    record = store.get(session_id)
    assert record is not None and record.tokens == b"sealed" and record.claims == {"sub": "alice"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert [row[1] for row in db.execute("PRAGMA table_info(claimed_keys)")] == ["key", "until", "owner"]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.claim_once("logout-token:corp:jti-1", now + 60) is False  # the replay claim stands
    owner = new_lock_owner()
    assert store.acquire_lock("lock:refresh:old", owner, now + 60) is False  # a version-1 lock is respected
    store.release("lock:refresh:old")  # and, ownerless, is undone like a claim
    assert store.acquire_lock("lock:refresh:old", owner, now + 60) is True
    assert store.release_lock("lock:refresh:old", new_lock_owner()) is False
    assert store.release_lock("lock:refresh:old", owner) is True
    store.close()
    reopened = SqliteStore(path)  # an upgraded file opens as it is
    assert reopened.get(session_id) == record
    reopened.close()


def test_stores_racing_to_upgrade_one_file_upgrade_it_once(path: Path) -> None:
    import threading

    now = time.time()
    session_id = version_1_file(path, now)
    stores = [SqliteStore(path, busy_timeout=2.0) for _ in range(8)]
    failures: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def first_use(store: SqliteStore) -> None:
        start.wait()
        try:
            assert store.get(session_id) is not None
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with sqlite3.connect(path) as db:
        assert [row[1] for row in db.execute("PRAGMA table_info(claimed_keys)")] == ["key", "until", "owner"]
    for store in stores:
        store.close()


def test_a_burst_of_writers_in_one_process_all_get_through(path: Path) -> None:
    """SQLite's busy handler sleeps and retries; fifty threads on it alone starve some past
    the busy timeout (a sign-in burst answered 503 in scripts/load.py). They take turns first."""
    import threading

    store = SqliteStore(path, busy_timeout=0.05)
    now = time.time()
    store.ping()
    failures: list[BaseException] = []
    start = threading.Barrier(50)

    def sign_in() -> None:
        start.wait()
        try:
            for _ in range(5):
                store.create(make_record(now))
                store.claim_once(new_session_id(), now + 60)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=sign_in) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    assert failures == []
    assert rows(path) == 250
