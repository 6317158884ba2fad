"""The session-store interface, the record it keeps, and the one error a backend raises.

Modelled on oauth2-proxy's ``pkg/apis/sessions``: the interface lives apart
from its backends (``memory``, ``sqlite``, ``redis``), one factory picks the
backend, and one contract suite (``tests/stores/test_contract.py``) runs
against every one. Times are explicit floats (seconds since the epoch) passed
by the caller, so the session lifecycle is decided in one place and tested
without sleeping; a backend only uses its own clock to forget records whose
``expires_at`` has passed.
"""

from __future__ import annotations

import abc
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import AuthError

# 22 URL-safe base64 characters carry 132 bits: the least a session id may have (OWASP
# asks for at least 64 bits of entropy; 128 leaves no doubt). The alphabet also keeps the
# id safe inside Redis keys, SQL and log lines.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22,128}")
# A lock's owner is as unguessable as a session id, so no other holder can release or renew
# it by accident or by guessing; the length also keeps it apart from a plain claim's marker.
_LOCK_OWNER = re.compile(r"[A-Za-z0-9_-]{22,128}")


def new_session_id() -> str:
    """A fresh session id: 256 random bits, URL-safe (what callers should put in ``SessionRecord``)."""
    return secrets.token_urlsafe(32)


def new_lock_owner() -> str:
    """A fresh owner for ``SessionStore.acquire_lock``: 128 random bits, URL-safe. Take a new one
    for every acquisition, so a holder whose lock lapsed can never release its successor's."""
    return secrets.token_urlsafe(16)


def check_lock_owner(owner: str) -> None:
    """``ValueError`` unless ``owner`` looks like ``new_lock_owner()``'s (stores call this first)."""
    if not _LOCK_OWNER.fullmatch(owner):
        raise ValueError("a lock owner must be 22 to 128 URL-safe base64 characters; use new_lock_owner()")


class StoreUnavailable(AuthError):
    """The backend could not answer: down, locked, timed out, unreadable.

    Never means "signed in": a caller that gets this must treat the session
    as unknown (refuse, or show a "try again" page), not as valid. The message
    names the backend and the kind of failure, never a password.
    """

    def __init__(self, backend: str, failure: str) -> None:
        #: where, without credentials: ``redis 127.0.0.1:6379/0``, ``sqlite /var/lib/app/sessions.db``
        self.backend = backend
        #: what went wrong, e.g. ``connection refused``, ``database is locked (waited 200 ms)``
        self.failure = failure
        super().__init__(f"Session store unavailable ({backend}): {failure}")


@dataclass(frozen=True)
class SessionRecord:
    """One server-side session, as the store keeps it.

    ``claims`` is the whole identity as a JSON-able mapping; it may be far larger
    than a cookie (hundreds of groups). ``tokens`` is an opaque blob the caller
    encrypts before it gets here; it is left out of ``repr`` so it never reaches
    a log line, and stores drop it when the session ends. An ended record is kept,
    with ``ended_at`` and ``end_reason``, until ``expires_at``, so "ended, and
    why" can be answered for as long as the cookie could have been valid.
    """

    session_id: str
    provider: str
    sub: str
    #: the provider's session id (OIDC ``sid``), what back-channel logout names
    provider_sid: str | None
    created_at: float
    last_active_at: float
    #: the absolute end: ``created_at`` + the maximum session age; the store forgets the record then
    expires_at: float
    claims: Mapping[str, Any]
    ended_at: float | None = None
    end_reason: str | None = None
    tokens: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _SESSION_ID.fullmatch(self.session_id):
            raise ValueError(
                "session_id must be 22 to 128 URL-safe base64 characters (at least 128 random bits); "
                "use auth.stores.base.new_session_id()"
            )

    def live_at(self, now: float) -> bool:
        """Not ended, and ``now`` is before the absolute end."""
        return self.ended_at is None and now < self.expires_at


def claims_to_json(claims: Mapping[str, Any]) -> str:
    """How every backend writes ``claims``, so each hands back the same plain JSON types."""
    return json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def claims_from_json(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored claims are not a JSON object")
    return value


class SessionStore(abc.ABC):
    """Where server-side sessions live; every backend passes the same contract suite.

    Every method that talks to the backend raises ``StoreUnavailable`` when the
    backend cannot answer, and nothing else for a backend fault (programming
    errors, such as claims that are not JSON, stay what they are). A record whose
    ``expires_at`` has passed (by the store's clock) is gone: never returned,
    touched or ended. Methods that change a session act only on one that is
    live at the given ``at`` (see ``SessionRecord.live_at``).
    """

    @abc.abstractmethod
    def create(self, record: SessionRecord) -> None:
        """Store a new session right after sign-in.

        Raises ``ValueError`` if the id is already stored: ids are random, so a
        repeat means a bug, and silently replacing a session would hide it. A
        record whose ``expires_at`` has already passed is not stored at all.
        """

    @abc.abstractmethod
    def get(self, session_id: str) -> SessionRecord | None:
        """The record, live or ended, for the per-rerun check; None if unknown or past ``expires_at``."""

    @abc.abstractmethod
    def touch(self, session_id: str, at: float) -> None:
        """Record activity for the idle timeout: ``last_active_at = max(current, at)``.

        Never moves backwards, so reruns racing on several threads or servers
        cannot undo each other. A no-op for an ended, unknown or expired session:
        activity must not revive anything.
        """

    @abc.abstractmethod
    def end(self, session_id: str, reason: str, at: float) -> bool:
        """End one session (sign-out, idle timeout); True if it was live at ``at``.

        The record is kept with ``ended_at = at`` and ``end_reason = reason`` until
        its ``expires_at``, and its tokens are dropped. Ending an ended session
        changes nothing, so the first reason stays.
        """

    @abc.abstractmethod
    def end_all_for_user(self, provider: str, sub: str, reason: str, at: float) -> list[str]:
        """End every live session of one user at one provider; the ids ended, sorted.

        For "sign out everywhere", and for a back-channel ``logout_token`` that
        names only a ``sub`` (OpenID Connect Back-Channel Logout 1.0 §2.4).
        """

    @abc.abstractmethod
    def end_by_provider_sid(self, provider: str, provider_sid: str, reason: str, at: float) -> list[str]:
        """End every live session of one provider session (the ``sid`` of a back-channel
        ``logout_token``, Back-Channel Logout 1.0 §2.4); the ids ended, sorted."""

    @abc.abstractmethod
    def claim_once(self, key: str, until: float) -> bool:
        """True the first time ``key`` is claimed, False while that claim lasts (until ``until``).

        For replay protection of a ``logout_token``'s ``jti`` (Back-Channel Logout
        1.0 §2.6): claim it until the token's ``exp``. False also when ``until``
        has already passed, so a stale token can never pass as fresh. Atomic: of
        racing claims exactly one wins, across threads and processes.
        """

    @abc.abstractmethod
    def release(self, key: str) -> None:
        """Give up a claim of ``claim_once`` before its time (a back-channel logout that
        ended nothing, so the provider's retry is not taken for a replay); a no-op for a key
        nobody claimed. Never frees a lock of ``acquire_lock``: only its owner may."""

    @abc.abstractmethod
    def acquire_lock(self, key: str, owner: str, until: float) -> bool:
        """Hold ``key`` for ``owner`` until ``until``; True if ``owner`` holds it now.

        True when the key was free (never held, released, or past its time) and also when
        ``owner`` held it already: the lock's end then moves to ``until``, which is how a
        holder keeps its lock while its work runs. False while another owner (or a claim of
        ``claim_once``) holds the key, and when ``until`` has already passed. Atomic: of
        racing acquisitions by different owners exactly one wins, across threads and
        processes. ``owner`` comes from ``new_lock_owner()``, fresh for every acquisition
        (``ValueError`` otherwise); the lock shares the keys of ``claim_once``.
        """

    @abc.abstractmethod
    def release_lock(self, key: str, owner: str) -> bool:
        """Free ``key`` if ``owner`` holds it; True if it did. Atomic compare-and-delete: a
        holder whose lock lapsed and was taken by someone else leaves the new holder's lock
        alone (False), as does anyone releasing a key it never held."""

    @abc.abstractmethod
    def set_tokens(self, session_id: str, tokens: bytes, claims: Mapping[str, Any] | None = None) -> None:
        """Replace the token blob of a live session (after a refresh), and its claims when
        given (a refreshed ID token's); a no-op for an ended, unknown or expired session."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the backend answers (and, where that can
        fail on its own, accepts writes); for ``python -m auth doctor`` and health checks."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; call once, when no other thread uses the store."""
