"""Sessions in this process's memory: for tests, demos and single-process development.

Nothing is shared between processes and everything is lost on restart, which
is why the factory offers it only as ``memory://``. One lock serialises every
method, so Streamlit's threads see each change whole. Records past
``expires_at`` are forgotten lazily: every call first drops what has expired,
in expiry order from a heap, so the cost stays proportional to what expires.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .base import SessionRecord, SessionStore, check_lock_owner, claims_from_json, claims_to_json

Clock = Callable[[], float]


class MemoryStore(SessionStore):
    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # Claims are kept as JSON text, as the other backends keep them: a caller that
        # changes its dict after ``create`` changes nothing here, and every backend hands
        # back the same plain JSON types.
        self._sessions: dict[str, tuple[SessionRecord, str]] = {}
        # key -> (until, owner); the owner is None for a claim of ``claim_once``
        self._claimed: dict[str, tuple[float, str | None]] = {}
        self._session_expiry: list[tuple[float, str]] = []
        self._claim_expiry: list[tuple[float, str]] = []

    def _forget_expired(self) -> float:
        """Drop what expired by now (call with the lock held); returns now."""
        now = self._clock()
        while self._session_expiry and self._session_expiry[0][0] <= now:
            _, session_id = heapq.heappop(self._session_expiry)
            self._sessions.pop(session_id, None)
        while self._claim_expiry and self._claim_expiry[0][0] <= now:
            until, key = heapq.heappop(self._claim_expiry)
            claim = self._claimed.get(key)
            if claim is not None and claim[0] == until:  # else renewed or released since
                del self._claimed[key]
        return now

    def _live(self, session_id: str, at: float) -> SessionRecord | None:
        entry = self._sessions.get(session_id)
        return entry[0] if entry is not None and entry[0].live_at(at) else None

    def _put(self, record: SessionRecord) -> None:
        """Replace a stored record's fields, keeping its claims."""
        self._sessions[record.session_id] = (record, self._sessions[record.session_id][1])

    def create(self, record: SessionRecord) -> None:
        claims = claims_to_json(record.claims)
        with self._lock:
            now = self._forget_expired()
            if record.session_id in self._sessions:
                raise ValueError("session id already in the store")
            if record.expires_at <= now:
                return
            self._sessions[record.session_id] = (replace(record, claims={}), claims)
            heapq.heappush(self._session_expiry, (record.expires_at, record.session_id))

    def get(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            self._forget_expired()
            entry = self._sessions.get(session_id)
        if entry is None:
            return None
        record, claims = entry
        return replace(record, claims=claims_from_json(claims))

    def touch(self, session_id: str, at: float) -> None:
        with self._lock:
            self._forget_expired()
            record = self._live(session_id, at)
            if record is not None and at > record.last_active_at:
                self._put(replace(record, last_active_at=at))

    def end(self, session_id: str, reason: str, at: float) -> bool:
        with self._lock:
            self._forget_expired()
            record = self._live(session_id, at)
            if record is None:
                return False
            self._put(replace(record, ended_at=at, end_reason=reason, tokens=None))
            return True

    def _end_matching(self, matches: Callable[[SessionRecord], bool], reason: str, at: float) -> list[str]:
        with self._lock:
            self._forget_expired()
            matching = [record for record, _ in self._sessions.values() if matches(record) and record.live_at(at)]
            for record in matching:
                self._put(replace(record, ended_at=at, end_reason=reason, tokens=None))
        return sorted(record.session_id for record in matching)

    def end_all_for_user(self, provider: str, sub: str, reason: str, at: float) -> list[str]:
        return self._end_matching(lambda record: (record.provider, record.sub) == (provider, sub), reason, at)

    def end_by_provider_sid(self, provider: str, provider_sid: str, reason: str, at: float) -> list[str]:
        return self._end_matching(
            lambda record: (record.provider, record.provider_sid) == (provider, provider_sid), reason, at
        )

    def claim_once(self, key: str, until: float) -> bool:
        with self._lock:
            now = self._forget_expired()
            if until <= now or key in self._claimed:
                return False
            self._claimed[key] = (until, None)
            heapq.heappush(self._claim_expiry, (until, key))
            return True

    def release(self, key: str) -> None:
        with self._lock:
            claim = self._claimed.get(key)
            if claim is not None and claim[1] is None:
                del self._claimed[key]

    def acquire_lock(self, key: str, owner: str, until: float) -> bool:
        check_lock_owner(owner)
        with self._lock:
            now = self._forget_expired()
            claim = self._claimed.get(key)
            if until <= now or (claim is not None and claim[1] != owner):
                return False
            self._claimed[key] = (until, owner)
            heapq.heappush(self._claim_expiry, (until, key))
            return True

    def release_lock(self, key: str, owner: str) -> bool:
        with self._lock:
            self._forget_expired()
            claim = self._claimed.get(key)
            if claim is None or claim[1] != owner:
                return False
            del self._claimed[key]
            return True

    def set_tokens(self, session_id: str, tokens: bytes, claims: Mapping[str, Any] | None = None) -> None:
        new_claims = claims_to_json(claims) if claims is not None else None
        with self._lock:
            now = self._forget_expired()
            record = self._live(session_id, now)
            if record is not None:
                self._put(replace(record, tokens=bytes(tokens)))
                if new_claims is not None:
                    self._sessions[session_id] = (self._sessions[session_id][0], new_claims)

    def ping(self) -> None:
        """Memory always answers."""

    def close(self) -> None:
        """Nothing to release; the sessions stay readable until the object is dropped."""
