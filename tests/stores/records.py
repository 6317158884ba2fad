"""Records for the store tests: realistic, with every field set unless a test says otherwise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from auth.stores.base import SessionRecord, SessionStore, new_lock_owner, new_session_id

HOUR = 3600.0


def make_record(now: float, **changes: Any) -> SessionRecord:
    """Alice at provider ``corp``, signed in at ``now`` for an hour, with a token blob."""
    record = SessionRecord(
        session_id=new_session_id(),
        provider="corp",
        sub="alice",
        provider_sid="corp-sid-1",
        created_at=now,
        last_active_at=now,
        expires_at=now + HOUR,
        claims={"sub": "alice", "email": "alice@example.com", "groups": ["staff"], "email_verified": True},
        tokens=b"\x00encrypted\xfftokens",
    )
    return replace(record, **changes)


#: one call of every store method, for the outage tests: each must raise StoreUnavailable
EVERY_METHOD: dict[str, Callable[[SessionStore, float], object]] = {
    "create": lambda store, now: store.create(make_record(now)),
    "get": lambda store, now: store.get(new_session_id()),
    "touch": lambda store, now: store.touch(new_session_id(), now),
    "end": lambda store, now: store.end(new_session_id(), "logout", now),
    "end_all_for_user": lambda store, now: store.end_all_for_user("corp", "alice", "logout", now),
    "end_by_provider_sid": lambda store, now: store.end_by_provider_sid("corp", "corp-sid-1", "logout", now),
    "claim_once": lambda store, now: store.claim_once("jti:corp:1", now + 60),
    "release": lambda store, now: store.release("jti:corp:1"),
    "acquire_lock": lambda store, now: store.acquire_lock("lock:refresh:1", new_lock_owner(), now + 60),
    "release_lock": lambda store, now: store.release_lock("lock:refresh:1", new_lock_owner()),
    "set_tokens": lambda store, now: store.set_tokens(new_session_id(), b"tokens"),
    "ping": lambda store, now: store.ping(),
}
WRITES = (
    "create",
    "touch",
    "end",
    "end_all_for_user",
    "end_by_provider_sid",
    "claim_once",
    "release",
    "acquire_lock",
    "release_lock",
    "set_tokens",
)
