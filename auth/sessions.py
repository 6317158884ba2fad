"""Sessions the server can end: the signed cookie checked against the session store.

``auth.session_cookie`` makes the cookie, the cheap proof a rerun verifies
first; this module adds what a cookie alone cannot do. At sign-in it writes a
record (identity, provider ``sid``, times, sealed tokens) to the store, and on
every rerun it asks the store whether that session is still live: ended
(logout, sign-out everywhere, back-channel), idle past ``AUTH_SESSION_TIMEOUT``
or older than ``AUTH_SESSION_MAX_AGE`` all mean signed out, wherever the
cookie was copied to. With ``AUTH_STORE=none`` there is no store and the
cookie's own age is the only timeout.

Store faults never sign anyone in: a check that cannot reach the store says
"unavailable", and the routes answer 503. Activity is written at most once
per ``touch_interval`` per session and off the rerun's thread, so a busy page
costs one read per rerun and the occasional write.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .errors import AccessDenied, LogoutTokenReplayed
from .events import CountedEvent, log_event
from .identity import Identity, SessionStatus, User
from .record_claims import RecordClaims
from .secret import Secret
from .session_cookie import IssuedCookie, SessionCookie, cookie_payload, user_from_payload
from .signing import LOGOUT_SALT, TimedSigner
from .stores.base import SessionRecord, SessionStore, StoreUnavailable, new_lock_owner, new_session_id
from .vault import StoredTokens, TokensUnreadable, TokenVault

# Why a session ended: the store's ``end_reason`` and the log line's ``reason``.
LOGOUT = "logout"
LOGOUT_EVERYWHERE = "logout_everywhere"
BACKCHANNEL = "backchannel"
IDLE = "idle"
MAX_AGE = "max_age"
#: the provider refused to refresh the session's tokens (revoked, expired, user disabled)
REFRESH_FAILED = "refresh_failed"
#: a refreshed identity no longer passes the access rules (a required role was removed)
ACCESS_DENIED = "access_denied"
#: a cookie that no live record backs for any other reason (too old, unknown to the store)
EXPIRED = "expired"
#: the record's claims fail their tag or contradict its own columns (written by someone else)
RECORD_INVALID = "record_invalid"

#: at most one activity write per session this often (capped at a tenth of the idle timeout)
MAX_TOUCH_INTERVAL = 5.0
#: a cookie this much past its maximum age is still read, to log "max_age" once
MAX_AGE_GRACE = 300.0
#: identical store faults within this window are logged once, with a count on the next line
FAULT_LOG_WINDOW = 10.0
#: a successful store ping stands for this long (failures are never reused)
PING_REUSE_SECONDS = 2.0
#: sessions whose decrypted tokens are remembered (least recently used forgotten first)
MAX_OPENED_TOKENS = 4096
#: how long the ``state`` of a sign-out round trip through the provider stays valid
SIGN_OUT_STATE_MAX_AGE = 600.0


@dataclass(frozen=True)
class EndedSession:
    """What a sign-out ended, for the provider side of logging out."""

    provider: str
    sub: str
    session_ids: tuple[str, ...]
    #: the session's tokens (ID token for ``id_token_hint``, tokens to revoke); None without a store
    tokens: StoredTokens | None = None


@dataclass(frozen=True)
class StoreLock:
    """A lock ``Sessions.try_lock`` took: the store key and the owner value only its holder knows."""

    key: str
    owner: str = field(repr=False)


class Sessions:
    def __init__(
        self,
        cookie: SessionCookie,
        store: SessionStore | None,
        *,
        secrets: Sequence[Secret],
        idle_timeout: float,
        max_age: float,
        clock: Callable[[], float] = time.time,
        touch_in_background: bool = True,
        admit: Callable[[User], None] | None = None,
    ) -> None:
        """``cookie`` must verify for ``max_age`` (the session's whole life) when a store is used.

        ``admit`` is the access policy, re-applied to the session's identity on every
        check (it raises ``AccessDenied``): rules tightened after sign-in take effect at
        the next rerun, not at the next sign-in.
        """
        self.cookie = cookie
        self.store = store
        self.idle_timeout = idle_timeout
        self.max_age = max_age if store is not None else idle_timeout
        self.touch_interval = min(MAX_TOUCH_INTERVAL, idle_timeout / 10)
        self._clock = clock
        self._admit = admit
        self._vault = TokenVault(secrets)
        self._record_claims = RecordClaims(secrets)
        self._sign_out_states = TimedSigner(secrets, LOGOUT_SALT, clock)
        self._touch_in_background = touch_in_background
        self._touch_pool: ThreadPoolExecutor | None = None
        self._touch_lock = threading.Lock()
        self._touches_pending: set[str] = set()
        self._opened: OrderedDict[str, tuple[bytes, StoredTokens]] = OrderedDict()
        self._opened_lock = threading.Lock()
        self._answered_at = -PING_REUSE_SECONDS
        self._faults = CountedEvent(
            "session_store_unavailable", level=logging.ERROR, window=FAULT_LOG_WINDOW, key_fields=("backend", "failure")
        )

    @property
    def stateful(self) -> bool:
        return self.store is not None

    @property
    def cookie_max_age(self) -> int:
        """The cookie's Max-Age: the session's absolute life (idle expiry is the store's job)."""
        return int(self.max_age)

    def now(self) -> float:
        return self._clock()

    # -- sign-in ----------------------------------------------------------------------

    def start(self, identity: Identity, tokens: StoredTokens | None = None) -> IssuedCookie:
        """Record a new session and sign its cookie. Blocks on the store (run it in a
        worker thread); raises ``StoreUnavailable`` (nobody is signed in then)."""
        if self.store is None:
            return self.cookie.issue(identity)
        now = self._clock()
        session_id = new_session_id()
        issued = self.cookie.issue(identity, session_id)
        self.store.create(
            SessionRecord(
                session_id=session_id,
                provider=identity.provider,
                sub=identity.sub,
                provider_sid=identity.sid,
                created_at=now,
                last_active_at=now,
                expires_at=now + self.max_age,
                claims=self._record_claims.tag(session_id, cookie_payload(identity)),
                tokens=self._vault.seal(tokens, session_id) if tokens is not None else None,
            )
        )
        return issued

    # -- every rerun ------------------------------------------------------------------

    def check(self, value: str | None, *, activity: bool = True, force_touch: bool = False) -> SessionStatus:
        """Is the session behind this cookie live? Never raises for a store fault.

        ``activity`` is False for the timer that re-checks idle pages: that
        rerun is not the user's doing and must not keep the session alive.
        ``force_touch`` records activity now ("Stay signed in"), unthrottled.
        """
        return self.check_record(value, activity=activity, force_touch=force_touch)[0]

    def check_record(
        self, value: str | None, *, activity: bool = True, force_touch: bool = False
    ) -> tuple[SessionStatus, SessionRecord | None]:
        """``check``, with the live session's record (for its tokens), else None."""
        if self.store is None:
            user = self.cookie.verify(value)
            if user is None:
                return SessionStatus(ended=EXPIRED if value else None), None
            refused = self._refused(user)
            return SessionStatus(user=None if refused else user, ended=refused), None
        user = self.cookie.verify(value, grace=MAX_AGE_GRACE)
        if user is None or user.session_id is None:
            return SessionStatus(ended=EXPIRED if value else None), None
        session_id = user.session_id
        try:
            record = self.store.get(session_id)
        except StoreUnavailable as error:
            self._report_fault(error, "check")
            return SessionStatus(unavailable=True), None
        now = self._clock()
        touch = record is not None and (
            force_touch or (activity and now - record.last_active_at >= self.touch_interval)
        )
        idle_end = (now if touch else record.last_active_at if record else now) + self.idle_timeout
        ended, record_user = self._judge(user, record, now, idle_end=idle_end)
        if ended is not None or record is None or record_user is None:
            return SessionStatus(ended=ended or EXPIRED), None
        if touch:  # only once the session is known to be live and admitted
            self._touch(session_id, now, wait=force_touch)
        return SessionStatus(user=record_user), record

    def _judge(
        self, user: User, record: SessionRecord | None, now: float, *, idle_end: float | None = None
    ) -> tuple[str | None, User | None]:
        """Is the record behind a verified cookie a live session of that same identity?

        ``(None, the user the record describes)`` when it is, whose session ends at
        ``idle_end`` when idle (None: the record's own idle end); else ``(why not, None)``,
        after ending the session in the store where that is the consequence (idle, a
        record someone else wrote, an identity the access rules now refuse).
        """
        assert self.store is not None and user.session_id is not None
        if record is None or record.provider != user.provider or record.sub != user.sub:
            if record is None and now >= user.signed_in_at + self.max_age:
                self._log_max_age(user)
                return MAX_AGE, None
            return EXPIRED, None
        if record.ended_at is not None:
            return record.end_reason or EXPIRED, None
        if now >= record.last_active_at + self.idle_timeout:
            self._end_idle(record, now)
            return IDLE, None
        record_user = self._record_user(user, record, idle_end or record.last_active_at + self.idle_timeout)
        if record_user is None:
            self._end_for(record, RECORD_INVALID, now)
            return RECORD_INVALID, None
        refused = self._refused(record_user)
        if refused is not None:
            self._end_for(record, refused, now)
            return refused, None
        return None, record_user

    def _record_user(self, user: User, record: SessionRecord, idle_end: float) -> User | None:
        """The user the record's claims describe, if their tag holds and they name the same
        provider, ``sub`` and issuer as the record's columns and the signed cookie."""
        claims = self._record_claims.verify(record.session_id, record.claims)
        if claims is None:
            log_event(
                "session_record_refused", level=logging.WARNING, provider=record.provider, reason="claims tag invalid"
            )
            return None
        record_user = user_from_payload(
            claims,
            record.created_at,
            min(idle_end, record.expires_at),
            session_id=record.session_id,
            idle_expires_at=idle_end,
        )
        if record_user is None or (record_user.provider, record_user.sub, record_user.issuer) != (
            record.provider,
            record.sub,
            user.issuer,
        ):
            log_event(
                "session_record_refused",
                level=logging.WARNING,
                provider=record.provider,
                reason="claims name another identity than the record and cookie",
            )
            return None
        return record_user

    def _refused(self, user: User) -> str | None:
        """``ACCESS_DENIED`` when the access policy no longer admits ``user``, else None."""
        if self._admit is None:
            return None
        try:
            self._admit(user)
        except AccessDenied as error:
            log_event("session_access_refused", level=logging.INFO, provider=user.provider, detail=error.detail)
            return ACCESS_DENIED
        return None

    def _end_for(self, record: SessionRecord, reason: str, now: float) -> None:
        """End one session for a reason found while checking it; logged once, by whoever ends it."""
        try:
            ended = self.store.end(record.session_id, reason, now) if self.store else False
        except StoreUnavailable as error:
            self._report_fault(error, "end")
            return
        if ended:
            self._log_end(reason, record.provider, record.sub, 1)

    def _end_idle(self, record: SessionRecord, now: float) -> None:
        try:
            ended = self.store.end(record.session_id, IDLE, now) if self.store else False
        except StoreUnavailable as error:
            self._report_fault(error, "end")
            return
        if ended:  # exactly one rerun, on one replica, ends it: one log line
            self._log_end(IDLE, record.provider, record.sub, 1, idle_seconds=round(now - record.last_active_at))

    def _log_max_age(self, user: User) -> None:
        assert self.store is not None and user.session_id is not None
        try:
            first = self.store.claim_once(
                f"ended:{user.session_id}", until=user.signed_in_at + self.max_age + MAX_AGE_GRACE
            )
        except StoreUnavailable as error:
            self._report_fault(error, "end")
            return
        if first:
            self._log_end(MAX_AGE, user.provider, user.sub, 1)

    def _touch(self, session_id: str, at: float, *, wait: bool) -> None:
        assert self.store is not None
        if wait or not self._touch_in_background:
            self._write_touch(session_id, at)
            return
        with self._touch_lock:
            if session_id in self._touches_pending:
                return  # one queued write per session is enough: touch never moves backwards
            self._touches_pending.add(session_id)
            if self._touch_pool is None:
                self._touch_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auth-touch")
            pool = self._touch_pool
        pool.submit(self._write_touch, session_id, at, True)

    def _write_touch(self, session_id: str, at: float, queued: bool = False) -> None:
        assert self.store is not None
        try:
            self.store.touch(session_id, at)
        except StoreUnavailable as error:
            self._report_fault(error, "touch")
        finally:
            if queued:
                with self._touch_lock:
                    self._touches_pending.discard(session_id)

    def flush(self) -> None:
        """Wait for queued activity writes (tests, benchmarks, shutdown)."""
        with self._touch_lock:
            pool = self._touch_pool
        if pool is not None:
            pool.submit(lambda: None).result()

    # -- sign-out ---------------------------------------------------------------------

    def end(self, value: str | None, *, everywhere: bool = False) -> EndedSession | None:
        """End the session behind this cookie (or, ``everywhere``, every session of its user).

        Only a live session may end anything: a cookie whose session has already
        ended (logout, idle, back-channel, a refused refresh) or is unknown to the
        store ends nothing, and above all not the user's other sessions, since a
        copy of an old cookie would otherwise sign its owner out of every device
        for as long as its signature lasts. Then None; the caller deletes the
        cookie in this browser either way. Blocks on the store; raises
        ``StoreUnavailable``, and then nothing was ended: the caller must say so.
        """
        if self.store is None:
            user = self.cookie.verify(value)
            if user is None:
                return None
            self._log_end(LOGOUT, user.provider, user.sub, 1)
            return EndedSession(user.provider, user.sub, ())
        user = self.cookie.verify(value, grace=MAX_AGE_GRACE)
        if user is None or user.session_id is None:
            return None
        reason = LOGOUT_EVERYWHERE if everywhere else LOGOUT
        record = self.store.get(user.session_id)
        now = self._clock()
        not_live, _ = self._judge(user, record, now)
        if not_live is not None or record is None:
            log_event(
                "logout_ignored",
                level=logging.INFO,
                provider=user.provider,
                sub=user.sub,
                everywhere=everywhere or None,
                reason=f"session not live ({not_live or EXPIRED})",
            )
            return None
        tokens = self._open_tokens(record)
        if everywhere:
            ended = tuple(self.store.end_all_for_user(record.provider, record.sub, reason, now))
        else:
            ended = (record.session_id,) if self.store.end(record.session_id, reason, now) else ()
        self._log_end(reason, record.provider, record.sub, len(ended))
        return EndedSession(record.provider, record.sub, ended, tokens)

    def end_for_provider(self, provider: str, *, sub: str | None, sid: str | None, jti: str, until: float) -> int:
        """Back-channel logout: end the sessions a validated ``logout_token`` names (by the
        provider's ``sid``, else every session of ``sub``); 0 when its ``jti`` was seen before.

        Raises ``LogoutTokenReplayed`` for a replayed token and ``StoreUnavailable`` on faults.
        """
        if self.store is None:
            return 0
        key = f"logout-token:{provider}:{jti}"
        if not self.store.claim_once(key, until):
            raise LogoutTokenReplayed("logout token already used (jti seen before)")
        now = self._clock()
        try:
            if sid is not None:
                ended = self.store.end_by_provider_sid(provider, sid, BACKCHANNEL, now)
            elif sub is not None:
                ended = self.store.end_all_for_user(provider, sub, BACKCHANNEL, now)
            else:
                ended = []
        except StoreUnavailable:
            # Nothing was ended: the provider's retry with the same token must not count as a replay.
            with contextlib.suppress(StoreUnavailable):
                self.store.release(key)
            raise
        self._log_end(BACKCHANNEL, provider, sub, len(ended), provider_sid_given=sid is not None)
        return len(ended)

    # -- tokens (auth.tokens keeps them fresh) -------------------------------------------

    def tokens_of(self, record: SessionRecord) -> StoredTokens | None:
        """The record's tokens, decrypted; None when it has none or no secret opens them."""
        return self._open_tokens(record)

    def reread(self, session_id: str) -> SessionRecord | None:
        """The record as the store has it now (after waiting for another refresh); raises
        ``StoreUnavailable``."""
        assert self.store is not None
        return self.store.get(session_id)

    def replace_tokens(self, session_id: str, tokens: StoredTokens, claims: Mapping[str, Any] | None) -> None:
        """Store refreshed tokens (and the refreshed identity's claims); raises ``StoreUnavailable``."""
        assert self.store is not None
        tagged = self._record_claims.tag(session_id, claims) if claims is not None else None
        self.store.set_tokens(session_id, self._vault.seal(tokens, session_id), tagged)

    def end_session(self, record: SessionRecord, reason: str) -> bool:
        """End one session for a reason of the server's own (a refused refresh); logged once."""
        assert self.store is not None
        ended = self.store.end(record.session_id, reason, self._clock())
        if ended:
            self._log_end(reason, record.provider, record.sub, 1)
        return ended

    def try_lock(self, key: str, seconds: float) -> StoreLock | None:
        """A lock in the store for ``seconds``, shared by every thread and replica; None while
        another holder has it. Each acquisition gets a fresh random owner, so only this holder
        can renew or release it, even after it lapsed. Raises ``StoreUnavailable``."""
        assert self.store is not None
        lock = StoreLock(f"lock:{key}", new_lock_owner())
        return lock if self.store.acquire_lock(lock.key, lock.owner, self._clock() + seconds) else None

    def renew_lock(self, lock: StoreLock, seconds: float) -> bool:
        """Hold ``lock`` for ``seconds`` from now; False when another owner has it (it lapsed and
        was taken). A lapsed lock nobody took is taken back. Raises ``StoreUnavailable``."""
        assert self.store is not None
        return self.store.acquire_lock(lock.key, lock.owner, self._clock() + seconds)

    def unlock(self, lock: StoreLock) -> bool:
        """Release ``lock`` if it is still this holder's (True); another owner's lock is left
        alone. Raises ``StoreUnavailable``."""
        assert self.store is not None
        return self.store.release_lock(lock.key, lock.owner)

    def _open_tokens(self, record: SessionRecord | None) -> StoredTokens | None:
        """Decrypted tokens. The last result per session is remembered with the exact
        sealed bytes it came from: a page calling ``access_token()`` on every rerun pays
        for a decryption only when the stored tokens changed (about half the cost)."""
        if record is None or record.tokens is None:
            return None
        with self._opened_lock:
            cached = self._opened.get(record.session_id)
            if cached is not None and cached[0] == record.tokens:
                self._opened.move_to_end(record.session_id)
                return cached[1]
        try:
            tokens = self._vault.open(record.tokens, record.session_id)
        except TokensUnreadable:
            log_event("session_tokens_unreadable", level=logging.WARNING, provider=record.provider)
            return None
        with self._opened_lock:
            self._opened[record.session_id] = (record.tokens, tokens)
            self._opened.move_to_end(record.session_id)
            while len(self._opened) > MAX_OPENED_TOKENS:
                self._opened.popitem(last=False)
        return tokens

    # -- the state of a sign-out round trip ---------------------------------------------

    def sign_out_state(self) -> str:
        """A ``state`` for the provider's end-session redirect, or for our own landing page:
        signed and timestamped, so "You have signed out." is shown only after a real sign-out."""
        return self._sign_out_states.sign("signed-out")

    def confirms_sign_out(self, state: str | None) -> bool:
        if not state or len(state) > 512:
            return False
        verified = self._sign_out_states.unsign(state, max_age=SIGN_OUT_STATE_MAX_AGE)
        return verified is not None and verified[0] == "signed-out"

    # -- health and logging -----------------------------------------------------------

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers (no store: nothing to ask)."""
        if self.store is not None:
            self.store.ping()
            self._answered_at = time.monotonic()

    def ping_recently(self) -> None:
        """``ping``, unless one succeeded within ``PING_REUSE_SECONDS``: a burst of sign-ins
        asks once (a SQLite ping takes the write lock, which the sign-ins' own writes need)."""
        if time.monotonic() - self._answered_at >= PING_REUSE_SECONDS:
            self.ping()

    def report_fault(self, error: StoreUnavailable, operation: str) -> None:
        self._report_fault(error, operation)

    def _report_fault(self, error: StoreUnavailable, operation: str) -> None:
        """One log line per fault; the same fault (backend and failure, whatever the operation)
        repeated within ``FAULT_LOG_WINDOW`` is counted instead, so an outage with many open
        pages does not flood the log."""
        self._faults.log(operation=operation, backend=error.backend, failure=error.failure)

    def _log_end(
        self,
        reason: str,
        provider: str,
        sub: str | None,
        count: int,
        *,
        idle_seconds: int | None = None,
        provider_sid_given: bool | None = None,
    ) -> None:
        """The one log line per end of session (or per sign-out that ended several)."""
        log_event(
            "session_ended",
            reason=reason,
            provider=provider,
            sub=sub,
            sessions=count,
            idle_seconds=idle_seconds,
            by_sid=provider_sid_given,
        )

    def close(self) -> None:
        with self._touch_lock:
            pool, self._touch_pool = self._touch_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
