"""What a session check does *not* trust: an ended cookie, the store's claims, another app.

The review's findings 1, 5 and 6 (issue 13), each against a real SQLite file: tampering
is done with plain SQL, as anyone with write access to the store could.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from pathlib import Path

import pytest

from auth.errors import AccessDenied
from auth.identity import Identity, User
from auth.secret import Secret
from auth.session_cookie import SessionCookie
from auth.sessions import ACCESS_DENIED, BACKCHANNEL, IDLE, RECORD_INVALID, Sessions
from auth.stores.sqlite import SqliteStore
from auth.vault import StoredTokens
from tests.support.clock import T0, Clock

IDLE_TIMEOUT = 600.0
MAX_AGE = 8 * 3600.0
SECRETS = [Secret(secrets.token_urlsafe(32))]
ALICE = Identity(
    sub="alice",
    issuer="https://idp.example",
    provider="corp",
    name="Alice",
    email="alice@example.com",
    email_verified=True,
    roles=("admin",),
    sid="alice-provider-session",
)
BOB = Identity(sub="bob", issuer="https://idp.example", provider="corp", name="Bob", roles=("user",))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SqliteStore:
    return SqliteStore(tmp_path / "sessions.db", clock=clock)


def make_sessions(clock: Clock, store: SqliteStore, *, app_id: str = "", admit: object = None) -> Sessions:
    return Sessions(
        SessionCookie(SECRETS, name="streamlit_auth", timeout=MAX_AGE, clock=clock, app_id=app_id),
        store,
        secrets=SECRETS,
        idle_timeout=IDLE_TIMEOUT,
        max_age=MAX_AGE,
        clock=clock,
        touch_in_background=False,
        admit=admit,  # type: ignore[arg-type]
    )


@pytest.fixture
def sessions(clock: Clock, store: SqliteStore) -> Sessions:
    return make_sessions(clock, store)


def session_id(sessions: Sessions, value: str) -> str:
    user = sessions.check(value, activity=False).user
    assert user is not None and user.session_id is not None
    return user.session_id


def sql(store: SqliteStore, statement: str, *args: object) -> None:
    """Write to the store's file as another program with access to it would."""
    with sqlite3.connect(store.path) as connection:
        connection.execute(statement, args)


def stored_claims(store: SqliteStore, sid: str) -> dict[str, object]:
    with sqlite3.connect(store.path) as connection:
        row = connection.execute("SELECT claims FROM sessions WHERE session_id = ?", (sid,)).fetchone()
    return dict(json.loads(row[0]))


# -- 1. only a live session may sign out everywhere -------------------------------------


@pytest.mark.parametrize("how", ["logout", "idle", "backchannel", "refresh_failed"])
def test_a_cookie_of_an_ended_session_cannot_sign_its_user_out_everywhere(
    sessions: Sessions, clock: Clock, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    stolen_copy = sessions.start(ALICE).value
    other_device = sessions.start(ALICE).value
    if how == "logout":
        assert sessions.end(stolen_copy) is not None
    elif how == "backchannel":
        sessions.end_for_provider("corp", sub=None, sid=None, jti="j", until=clock.now + 60)  # names nobody
        sessions.store.end(session_id(sessions, stolen_copy), BACKCHANNEL, clock.now)  # type: ignore[union-attr]
    elif how == "refresh_failed":
        sessions.store.end(session_id(sessions, stolen_copy), "refresh_failed", clock.now)  # type: ignore[union-attr]
    else:
        clock.now += IDLE_TIMEOUT / 2
        assert sessions.check(other_device).user is not None  # the other device is in use
        clock.now += IDLE_TIMEOUT / 2 + 1
        assert sessions.check(stolen_copy, activity=False).ended == IDLE
    with caplog.at_level(logging.INFO, logger="auth"):
        assert sessions.end(stolen_copy, everywhere=True) is None
    assert sessions.check(other_device).user is not None
    assert any("event=logout_ignored" in r.getMessage() and "everywhere=True" in r.getMessage() for r in caplog.records)


def test_a_live_session_still_signs_out_everywhere(sessions: Sessions) -> None:
    first, second = sessions.start(ALICE).value, sessions.start(ALICE).value
    bobs = sessions.start(BOB).value
    ended = sessions.end(first, everywhere=True)
    assert ended is not None and len(ended.session_ids) == 2
    assert sessions.check(second).ended == "logout_everywhere"
    assert sessions.check(bobs).user is not None


# -- 5. the store cannot change who is signed in, nor move tokens ------------------------


def test_claims_rewritten_in_the_store_sign_the_session_out(sessions: Sessions, store: SqliteStore) -> None:
    """Bob, with write access to the store, gives his own session Alice's identity (the
    record's columns still name him, which is all the cookie is compared with)."""
    bobs = sessions.start(BOB).value
    alices = sessions.start(ALICE).value
    sql(
        store,
        "UPDATE sessions SET claims = ? WHERE session_id = ?",
        json.dumps(stored_claims(store, session_id(sessions, alices))),
        session_id(sessions, bobs),
    )
    status = sessions.check(bobs)
    assert status.user is None and status.ended == RECORD_INVALID
    assert sessions.check(alices).user is not None  # Alice's own session is untouched


def test_roles_added_in_the_store_sign_the_session_out(sessions: Sessions, store: SqliteStore) -> None:
    bobs = sessions.start(BOB).value
    sid = session_id(sessions, bobs)
    claims = stored_claims(store, sid)
    claims["roles"] = ["user", "admin"]  # the tag stays the one made for Bob's real claims
    sql(store, "UPDATE sessions SET claims = ? WHERE session_id = ?", json.dumps(claims), sid)
    assert sessions.check(bobs).ended == RECORD_INVALID


def test_claims_without_a_tag_are_refused(
    sessions: Sessions, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """As a record written by an earlier release, or by anyone but this app, would be."""
    value = sessions.start(BOB).value
    sid = session_id(sessions, value)
    untagged = {key: item for key, item in stored_claims(store, sid).items() if key != "_tag"}
    sql(store, "UPDATE sessions SET claims = ? WHERE session_id = ?", json.dumps(untagged), sid)
    with caplog.at_level(logging.WARNING, logger="auth"):
        assert sessions.check(value).ended == RECORD_INVALID
    assert any("session_record_refused" in r.getMessage() for r in caplog.records)


def test_a_tag_made_for_one_session_fails_for_another(sessions: Sessions, store: SqliteStore) -> None:
    first, second = sessions.start(BOB).value, sessions.start(BOB).value
    sql(
        store,
        "UPDATE sessions SET claims = ? WHERE session_id = ?",
        json.dumps(stored_claims(store, session_id(sessions, first))),
        session_id(sessions, second),
    )
    assert sessions.check(second).ended == RECORD_INVALID
    assert sessions.check(first).user is not None


def test_tokens_moved_into_another_session_are_not_handed_out(sessions: Sessions, store: SqliteStore) -> None:
    alices = sessions.start(ALICE, StoredTokens(access_token="alice-access", refresh_token="alice-refresh")).value
    bobs = sessions.start(BOB, StoredTokens(access_token="bob-access")).value
    with sqlite3.connect(store.path) as connection:
        connection.execute(
            "UPDATE sessions SET tokens = (SELECT tokens FROM sessions WHERE session_id = ?) WHERE session_id = ?",
            (session_id(sessions, alices), session_id(sessions, bobs)),
        )
    status, record = sessions.check_record(bobs)
    assert status.user is not None and status.user.sub == "bob" and record is not None
    assert sessions.tokens_of(record) is None


def test_refreshed_claims_are_tagged_too(sessions: Sessions, store: SqliteStore) -> None:
    value = sessions.start(ALICE).value
    sid = session_id(sessions, value)
    fewer_roles = {"sub": "alice", "iss": "https://idp.example", "provider": "corp", "roles": ["user"]}
    sessions.replace_tokens(sid, StoredTokens(access_token="new"), fewer_roles)
    user = sessions.check(value).user
    assert user is not None and user.roles == ("user",)


def test_the_sqlite_file_and_folder_are_private(tmp_path: Path, clock: Clock) -> None:
    store = SqliteStore(tmp_path / "new-folder" / "sessions.db", clock=clock)
    make_sessions(clock, store).start(ALICE)
    assert (tmp_path / "new-folder").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "new-folder").iterdir():  # the database, its WAL and shared-memory files
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"


# -- 6. sessions are bound to their app, and the access rules apply on every check ------


def test_a_cookie_of_another_app_with_the_same_secret_and_store_is_signed_out(clock: Clock, store: SqliteStore) -> None:
    app_a = make_sessions(clock, store, app_id="app-a")
    app_b = make_sessions(clock, store, app_id="app-b")
    value = app_a.start(ALICE).value
    assert app_a.check(value).user is not None
    assert app_b.check(value).user is None
    assert app_b.end(value, everywhere=True) is None
    assert app_a.check(value).user is not None


def test_access_rules_are_applied_again_on_every_check(clock: Clock, store: SqliteStore) -> None:
    admins_only = {"on": False}

    def admit(user: User) -> None:
        if admins_only["on"] and not user.has_role("admin"):
            raise AccessDenied("none of the required roles admin")

    sessions = make_sessions(clock, store, admit=admit)
    alice, bob = sessions.start(ALICE).value, sessions.start(BOB).value
    assert sessions.check(bob).user is not None
    admins_only["on"] = True  # the rules were tightened (another app's, or a new configuration)
    assert sessions.check(bob).ended == ACCESS_DENIED
    assert sessions.check(bob).ended == ACCESS_DENIED  # ended in the store, so it stays ended
    assert sessions.check(alice).user is not None
