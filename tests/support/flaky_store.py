"""A memory store whose backend can fail on demand, for tests of what store faults do.

``down`` makes every call fail (Redis gone, SQLite locked); ``failing`` names single
methods that fail with their own text (a write refused after a read worked). ``calls``
counts every call by method name. Real outages of each backend are tested against the
real SQLite and Redis (tests/stores, tests/integration/test_sessions_real_app.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from auth.stores.base import SessionRecord, StoreUnavailable
from auth.stores.memory import MemoryStore


class FlakyStore(MemoryStore):
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        backend: str = "memory",
        failure: str = "simulated outage",
    ) -> None:
        super().__init__(clock=clock)
        self.backend = backend
        self.failure = failure
        self.down = False
        #: method name -> the failure it reports, even while the store is up
        self.failing: dict[str, str] = {}
        self.calls: Counter[str] = Counter()

    def _call(self, method: str) -> None:
        self.calls[method] += 1
        if method in self.failing:
            raise StoreUnavailable(self.backend, self.failing[method])
        if self.down:
            raise StoreUnavailable(self.backend, self.failure)

    def create(self, record: SessionRecord) -> None:
        self._call("create")
        super().create(record)

    def get(self, session_id: str) -> SessionRecord | None:
        self._call("get")
        return super().get(session_id)

    def touch(self, session_id: str, at: float) -> None:
        self._call("touch")
        super().touch(session_id, at)

    def end(self, session_id: str, reason: str, at: float) -> bool:
        self._call("end")
        return super().end(session_id, reason, at)

    def end_all_for_user(self, provider: str, sub: str, reason: str, at: float) -> list[str]:
        self._call("end_all_for_user")
        return super().end_all_for_user(provider, sub, reason, at)

    def end_by_provider_sid(self, provider: str, provider_sid: str, reason: str, at: float) -> list[str]:
        self._call("end_by_provider_sid")
        return super().end_by_provider_sid(provider, provider_sid, reason, at)

    def claim_once(self, key: str, until: float) -> bool:
        self._call("claim_once")
        return super().claim_once(key, until)

    def release(self, key: str) -> None:
        self._call("release")
        super().release(key)

    def acquire_lock(self, key: str, owner: str, until: float) -> bool:
        self._call("acquire_lock")
        return super().acquire_lock(key, owner, until)

    def release_lock(self, key: str, owner: str) -> bool:
        self._call("release_lock")
        return super().release_lock(key, owner)

    def set_tokens(self, session_id: str, tokens: bytes, claims: Mapping[str, Any] | None = None) -> None:
        self._call("set_tokens")
        super().set_tokens(session_id, tokens, claims)

    def ping(self) -> None:
        self._call("ping")
