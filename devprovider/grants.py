"""Authorization grants and disabled accounts: what decides whether issued tokens still work.

Grants are opened and refreshed on the server thread and revoked from both threads; users
are disabled from the test thread. One lock covers all of it, and callers that must make
a check-spend-issue sequence atomic (a refresh) hold ``lock`` across it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Container

from .records import _Grant


class Grants:
    """Every grant opened by an approval, and the set of disabled subjects."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}
        self._disabled: set[str] = set()

    def open(self, sub: str) -> _Grant | None:
        """A new live grant for ``sub``, or ``None`` (and no grant) when ``sub`` is disabled."""
        grant = _Grant(id=str(uuid.uuid4()), sub=sub)
        with self.lock:
            if sub in self._disabled:
                return None
            self._grants[grant.id] = grant
        return grant

    def get(self, grant_id: str) -> _Grant | None:
        """The grant with this id; call with ``lock`` held."""
        return self._grants.get(grant_id)

    def usable(self, grant_id: str, sub: str, users: Container[str]) -> bool:
        """Whether tokens of this grant still work: grant live, user present (among
        ``users``) and enabled. Call with ``lock`` held."""
        grant = self._grants.get(grant_id)
        return grant is not None and not grant.revoked and sub in users and sub not in self._disabled

    def revoke(self, grant_id: str) -> None:
        """Revoke one grant (if known)."""
        with self.lock:
            grant = self._grants.get(grant_id)
            if grant is not None:
                grant.revoked = True

    def revoke_all(self, sub: str) -> int:
        """Revoke every grant of ``sub``; returns how many were live."""
        with self.lock:
            live = [grant for grant in self._grants.values() if grant.sub == sub and not grant.revoked]
            for grant in live:
                grant.revoked = True
        return len(live)

    def disable(self, sub: str) -> None:
        with self.lock:
            self._disabled.add(sub)

    def enable(self, sub: str) -> None:
        with self.lock:
            self._disabled.discard(sub)

    def enable_all(self) -> None:
        with self.lock:
            self._disabled.clear()
