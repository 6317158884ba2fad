"""Sessions in one SQLite file: several processes of one machine, no server to run.

The standard library's ``sqlite3`` in WAL mode, so readers never wait for the
writer. Every connection waits at most ``busy_timeout`` (200 ms) for a lock:
a database held by someone else answers ``StoreUnavailable`` quickly instead
of hanging a Streamlit rerun. Connections come from a small pool and each is
used by one thread at a time, which is safe whichever of Streamlit's threads
calls. Every change is one statement, or one ``BEGIN IMMEDIATE`` transaction
(taking the write lock up front, so two writers never deadlock on upgrading a
read). The schema is created on first use and versioned with ``PRAGMA
user_version``; a file of an older version is brought up to date in place, in
one transaction, by the first process of this version that opens it (older
processes then refuse the file, naming both versions). Records past
``expires_at`` are deleted in bounded batches whenever a session is created,
and are invisible until then.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..events import log_event
from .base import (
    SessionRecord,
    SessionStore,
    StoreUnavailable,
    check_lock_owner,
    claims_from_json,
    claims_to_json,
)

Clock = Callable[[], float]

SCHEMA_VERSION = 2
BUSY_TIMEOUT = 0.2
#: expired rows deleted per ``create``: enough to keep up with sign-ins, never a long lock
PURGE_BATCH = 100
MAX_IDLE_CONNECTIONS = 8
#: how long a write waits for the other writes of this process before the store counts as down
WRITE_QUEUE_TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    sub TEXT NOT NULL,
    provider_sid TEXT,
    created_at REAL NOT NULL,
    last_active_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    claims TEXT NOT NULL,
    ended_at REAL,
    end_reason TEXT,
    tokens BLOB,
    app TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_by_user ON sessions (provider, sub);
CREATE INDEX sessions_by_provider_sid ON sessions (provider, provider_sid);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE claimed_keys (key TEXT PRIMARY KEY, until REAL NOT NULL, owner TEXT);
CREATE INDEX claimed_keys_by_until ON claimed_keys (until);
"""
# What brings a file of version N to N + 1, run in the same transaction as the new user_version.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: a lock of acquire_lock carries its owner; a claim of claim_once has none (NULL); a
    # session names its app (auth.app_id: sessions of apps sharing a file stay apart)
    1: (
        "ALTER TABLE claimed_keys ADD COLUMN owner TEXT",
        "ALTER TABLE sessions ADD COLUMN app TEXT NOT NULL DEFAULT ''",
    ),
}
_COLUMNS = "session_id, provider, sub, provider_sid, created_at, last_active_at, expires_at, claims, ended_at, end_reason, tokens"
_LIVE = "ended_at IS NULL AND expires_at > ?"
# Every statement about sessions is about this app's only (the first parameter of each).
_OURS = "app = ?"


def keep_out_of_git(directory: Path) -> None:
    """Put a ``.gitignore`` of ``*`` in a folder the store has just created, as ``venv`` does.

    The default store is ``.streamlit-auth/`` in the app's own folder, usually a git
    checkout: without this, ``git status`` offers the users' sessions for a commit. ``*``
    matches the ``.gitignore`` too, so git sees nothing of the folder at all. Never a reason
    for the store to fail: if it cannot be written (an existing file is never replaced), the
    folder merely shows in ``git status``, and a warning says so."""
    try:
        descriptor = os.open(directory / ".gitignore", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(descriptor, b"*\n")
        finally:
            os.close(descriptor)
    except OSError as error:
        log_event(
            "session_store_gitignore_not_written",
            level=logging.WARNING,
            directory=str(directory),
            failure=error.strerror or type(error).__name__,
            detail="the store works; add the folder to your .gitignore so git never offers the sessions",
        )


class SqliteStore(SessionStore):
    def __init__(
        self, path: Path | str, *, clock: Clock = time.time, busy_timeout: float = BUSY_TIMEOUT, app: str = ""
    ) -> None:
        """No I/O here: the file, its directory and the schema are made on first use.

        ``app`` (see ``auth.app_id``) keeps this app's sessions, claims and locks apart
        from those of other apps that share the file: none of them sees, ends or frees
        another's."""
        self.path = Path(path)
        self.app = app
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._backend = f"sqlite {self.path}"
        self._pool_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._schema_lock = threading.Lock()  # one thread per store prepares the file
        self._write_lock = threading.Lock()  # this process's writers, one at a time (see _writing)
        self._schema_ready = False
        self._warned_mode = False

    # -- connections ------------------------------------------------------------------

    def _unavailable(self, error: sqlite3.Error | OSError) -> StoreUnavailable:
        text = str(error)
        if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            wait = round(self._busy_timeout * 1000)
            return StoreUnavailable(self._backend, f"database is locked by another connection (waited {wait} ms)")
        return StoreUnavailable(self._backend, f"{text} ({type(error).__name__})")

    def _open(self) -> sqlite3.Connection:
        if not self._schema_ready:
            self._create_private_file()
        # Autocommit (isolation_level=None): transactions are explicit BEGIN IMMEDIATE ... COMMIT.
        connection = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            # With WAL, NORMAL syncs at checkpoints instead of at every commit (touch runs on reruns):
            # an app crash loses nothing, a power cut or OS crash at most the last commits, and
            # never leaves the file inconsistent.
            connection.execute("PRAGMA synchronous = NORMAL")
            if not self._schema_ready:
                with self._schema_lock:
                    if not self._schema_ready:
                        self._prepare(connection)
                        self._schema_ready = True
        except BaseException:
            connection.close()
            raise
        return connection

    def _create_private_file(self) -> None:
        """Make the folder (0700) and the database file (0600) before SQLite does, so that
        the sessions (identities, sealed tokens) are readable by this user alone; SQLite
        gives its ``-wal`` and ``-shm`` files the database file's permissions. An existing
        file keeps its mode (an operator may share it on purpose), with a warning when
        other users can read it. A folder made here also gets a ``.gitignore`` (see
        ``keep_out_of_git``)."""
        directory = self.path.parent
        try:
            # exist_ok=False tells "made it now" (another process may win the race: then it writes
            # the .gitignore) from "it was there": an operator's folder is not ours to add to.
            directory.mkdir(mode=0o700, parents=True)
        except FileExistsError as error:
            if not directory.is_dir():
                raise StoreUnavailable(
                    self._backend, f"cannot create the directory {directory}: File exists"
                ) from error
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise StoreUnavailable(self._backend, f"cannot create the directory {directory}: {reason}") from error
        else:
            keep_out_of_git(directory)
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                mode = os.fstat(descriptor).st_mode
            finally:
                os.close(descriptor)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise StoreUnavailable(self._backend, f"cannot create {self.path}: {reason}") from error
        if mode & 0o077 and not self._warned_mode:
            self._warned_mode = True
            log_event(
                "session_store_readable_by_others",
                level=logging.WARNING,
                backend=self._backend,
                mode=oct(mode & 0o777),
                detail="the sessions are personal data: chmod 600 the file (and 700 its folder)",
            )

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """Create the schema once per file, or migrate an older one; several processes may
        race here, BEGIN IMMEDIATE orders them and the loser finds the work done."""
        version = self._user_version(connection)
        if version == 0:
            connection.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        if version < SCHEMA_VERSION:
            connection.execute("BEGIN IMMEDIATE")  # on a failure the caller closes the connection: rollback
            version = self._user_version(connection)
            if version == 0:
                statements = [statement for statement in _SCHEMA.split(";") if statement.strip()]
            else:
                statements = [sql for step in range(version, SCHEMA_VERSION) for sql in _MIGRATIONS[step]]
            if version < SCHEMA_VERSION:
                for statement in statements:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        version = self._user_version(connection)
        if version != SCHEMA_VERSION:
            raise StoreUnavailable(
                self._backend, f"schema version {version}, but this package reads version {SCHEMA_VERSION}"
            )

    @staticmethod
    def _user_version(connection: sqlite3.Connection) -> int:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for this thread alone while the block runs; SQLite's failures
        become ``StoreUnavailable``, and a connection that saw any failure is closed."""
        with self._pool_lock:
            connection = self._idle.pop() if self._idle else None
        try:
            if connection is None:
                connection = self._open()
            yield connection
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            self._discard(connection)
            raise  # a bug in the caller or here, not the backend
        except (sqlite3.Error, OSError) as error:
            self._discard(connection)
            raise self._unavailable(error) from error
        except BaseException:
            self._discard(connection)
            raise
        with self._pool_lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    @staticmethod
    def _discard(connection: sqlite3.Connection | None) -> None:
        if connection is not None:
            connection.close()  # also rolls back an open transaction

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A connection for one write. Writers of this process take turns on a Python lock
        first: SQLite's own busy handler sleeps and retries, so fifty sign-ins writing at
        once would starve some past ``busy_timeout``. SQLite's lock then only arbitrates
        between processes."""
        if not self._write_lock.acquire(timeout=WRITE_QUEUE_TIMEOUT):
            raise StoreUnavailable(self._backend, f"too many writes waiting (over {WRITE_QUEUE_TIMEOUT:g} s)")
        try:
            with self._connection() as connection:
                yield connection
        finally:
            self._write_lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock from the start (within ``busy_timeout``), COMMIT at the end."""
        with self._writing() as connection:
            connection.execute("BEGIN IMMEDIATE")
            yield connection  # on an exception ``_connection`` closes it, which rolls back
            connection.execute("COMMIT")

    # -- the store --------------------------------------------------------------------

    def _key(self, key: str) -> str:
        """A claimed key of this app: another app's claim of the same key is another row."""
        return f"{self.app}\x1f{key}" if self.app else key

    def create(self, record: SessionRecord) -> None:
        claims = claims_to_json(record.claims)
        now = self._clock()
        with self._transaction() as db:
            for table, column in (("sessions", "expires_at"), ("claimed_keys", "until")):
                db.execute(
                    f"DELETE FROM {table} WHERE rowid IN "
                    f"(SELECT rowid FROM {table} WHERE {column} <= ? ORDER BY {column} LIMIT {PURGE_BATCH})",
                    (now,),
                )
            db.execute("DELETE FROM sessions WHERE session_id = ? AND expires_at <= ?", (record.session_id, now))
            if db.execute("SELECT 1 FROM sessions WHERE session_id = ?", (record.session_id,)).fetchone():
                raise ValueError("session id already in the store")
            if record.expires_at <= now:
                return
            db.execute(
                f"INSERT INTO sessions ({_COLUMNS}, app) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.session_id,
                    record.provider,
                    record.sub,
                    record.provider_sid,
                    record.created_at,
                    record.last_active_at,
                    record.expires_at,
                    claims,
                    record.ended_at,
                    record.end_reason,
                    record.tokens,
                    self.app,
                ),
            )

    def get(self, session_id: str) -> SessionRecord | None:
        with self._connection() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE {_OURS} AND session_id = ? AND expires_at > ?",
                (self.app, session_id, self._clock()),
            ).fetchone()
        if row is None:
            return None
        return SessionRecord(
            session_id=row[0],
            provider=row[1],
            sub=row[2],
            provider_sid=row[3],
            created_at=row[4],
            last_active_at=row[5],
            expires_at=row[6],
            claims=claims_from_json(row[7]),
            ended_at=row[8],
            end_reason=row[9],
            tokens=row[10],
        )

    def touch(self, session_id: str, at: float) -> None:
        with self._writing() as db:
            db.execute(
                f"UPDATE sessions SET last_active_at = ? "
                f"WHERE {_OURS} AND session_id = ? AND {_LIVE} AND last_active_at < ?",
                (at, self.app, session_id, max(at, self._clock()), at),
            )

    def end(self, session_id: str, reason: str, at: float) -> bool:
        with self._writing() as db:
            cursor = db.execute(
                f"UPDATE sessions SET ended_at = ?, end_reason = ?, tokens = NULL "
                f"WHERE {_OURS} AND session_id = ? AND {_LIVE}",
                (at, reason, self.app, session_id, max(at, self._clock())),
            )
            return cursor.rowcount == 1

    def _end_where(self, condition: str, values: tuple[str, str], reason: str, at: float) -> list[str]:
        live_at = max(at, self._clock())
        with self._transaction() as db:
            ended = [
                row[0]
                for row in db.execute(
                    f"SELECT session_id FROM sessions WHERE {_OURS} AND {condition} AND {_LIVE}",
                    (self.app, *values, live_at),
                )
            ]
            db.execute(
                f"UPDATE sessions SET ended_at = ?, end_reason = ?, tokens = NULL "
                f"WHERE {_OURS} AND {condition} AND {_LIVE}",
                (at, reason, self.app, *values, live_at),
            )
        return sorted(ended)

    def end_all_for_user(self, provider: str, sub: str, reason: str, at: float) -> list[str]:
        return self._end_where("provider = ? AND sub = ?", (provider, sub), reason, at)

    def end_by_provider_sid(self, provider: str, provider_sid: str, reason: str, at: float) -> list[str]:
        return self._end_where("provider = ? AND provider_sid = ?", (provider, provider_sid), reason, at)

    def claim_once(self, key: str, until: float) -> bool:
        now = self._clock()
        if until <= now:
            return False
        with self._writing() as db:
            # One statement: a new key is inserted, an expired claim is taken over, a live one is left alone.
            cursor = db.execute(
                "INSERT INTO claimed_keys (key, until) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET until = excluded.until, owner = NULL WHERE claimed_keys.until <= ?",
                (self._key(key), until, now),
            )
            return cursor.rowcount == 1

    def release(self, key: str) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM claimed_keys WHERE key = ? AND owner IS NULL", (self._key(key),))

    def acquire_lock(self, key: str, owner: str, until: float) -> bool:
        check_lock_owner(owner)
        now = self._clock()
        if until <= now:
            return False
        with self._writing() as db:
            # One statement, as in claim_once; a lock its owner already holds gets the new end.
            cursor = db.execute(
                "INSERT INTO claimed_keys (key, until, owner) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET until = excluded.until, owner = excluded.owner "
                "WHERE claimed_keys.until <= ? OR claimed_keys.owner = excluded.owner",
                (self._key(key), until, owner, now),
            )
            return cursor.rowcount == 1

    def release_lock(self, key: str, owner: str) -> bool:
        with self._writing() as db:
            cursor = db.execute(
                "DELETE FROM claimed_keys WHERE key = ? AND owner = ? AND until > ?",
                (self._key(key), owner, self._clock()),
            )
            return cursor.rowcount == 1

    def set_tokens(self, session_id: str, tokens: bytes, claims: Mapping[str, Any] | None = None) -> None:
        new_claims = claims_to_json(claims) if claims is not None else None
        with self._writing() as db:
            db.execute(
                f"UPDATE sessions SET tokens = ?, claims = COALESCE(?, claims) "
                f"WHERE {_OURS} AND session_id = ? AND {_LIVE}",
                (bytes(tokens), new_claims, self.app, session_id, self._clock()),
            )

    def ping(self) -> None:
        """Opens (creating the schema if needed) and takes the write lock once, then lets it go:
        a read-only file or a database someone holds fails here, not at the first sign-in."""
        with self._transaction() as db:
            db.execute("SELECT count(*) FROM sessions WHERE rowid = 0").fetchone()

    def close(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
