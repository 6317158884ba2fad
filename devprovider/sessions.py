"""Provider sessions (Keycloak's "user sessions"): who is signed in at the provider, by browser cookie.

Sessions are opened on the server thread and ended from both the server thread
(end-session) and the test thread (admin sign-out, ``reset()``), so they live behind one
lock here, apart from the endpoints that use them.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Container

from .records import _ProviderSession


class ProviderSessions:
    """The live provider sessions, by the opaque id their browser cookie carries."""

    def __init__(self) -> None:
        self._sessions: dict[str, _ProviderSession] = {}
        self._lock = threading.Lock()

    def live(self, cookie: str, users: Container[str]) -> _ProviderSession | None:
        """The session the cookie value names; one whose user is no longer among
        ``users`` (subjects) counts as ended."""
        with self._lock:
            session = self._sessions.get(cookie)
        return session if session is not None and session.sub in users else None

    def open(self, sub: str, auth_time: float) -> _ProviderSession:
        """A new session for ``sub`` with a fresh cookie id and ``sid``."""
        session = _ProviderSession(id=secrets.token_urlsafe(32), sub=sub, sid=str(uuid.uuid4()), auth_time=auth_time)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def all(self) -> list[_ProviderSession]:
        """Every live session, oldest first."""
        with self._lock:
            return list(self._sessions.values())

    def sids_of(self, sub: str) -> list[str]:
        """The ``sid`` of every live session of ``sub``, oldest first."""
        with self._lock:
            return [session.sid for session in self._sessions.values() if session.sub == sub]

    def end(self, doomed: Callable[[_ProviderSession], bool]) -> list[_ProviderSession]:
        """End (forget) every session ``doomed`` picks; returns them."""
        with self._lock:
            ended = [session for session in self._sessions.values() if doomed(session)]
            for session in ended:
                del self._sessions[session.id]
        return ended

    def clear(self) -> None:
        """Forget every session, quietly (no logout is reported)."""
        with self._lock:
            self._sessions.clear()
