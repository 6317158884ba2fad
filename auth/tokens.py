"""Access tokens for calling APIs as the signed-in user, kept fresh on the server.

The provider's tokens live only in the session store, encrypted (``auth.vault``).
``AccessTokens.get`` hands a page script an access token with at least
``min_validity`` seconds left, refreshing it with the refresh token first when
needed (RFC 6749 §6). Providers that rotate refresh tokens revoke the whole
grant when one is spent twice, so a refresh is **single-flight**: one caller,
on one thread of one replica, takes a lock in the store and refreshes;
everyone else waits for the new tokens and re-reads them. The lock is held for
as long as the refresh runs, however slow the provider, and only its holder
can release it (``auth.refresh_lock`` says why). A refreshed ID token
is validated like the first (OpenID Connect Core §12.2: same ``iss`` and
``sub``), and the identity it carries replaces the session's claims, so a role
removed at the provider is gone from the next rerun. A refused refresh ends
the session (``refresh_failed``); a provider that is down or slow only makes
this call fail (``RefreshUnavailable``), and the session stays.

Everything here blocks on the store and the provider: page scripts run in
their own threads, never on the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .claims import identity_from_claims
from .errors import (
    AccessDenied,
    GrantRejected,
    InvalidIdToken,
    LoginError,
    NoTokens,
    NotSignedIn,
    RefreshRefused,
    RefreshUnavailable,
)
from .events import log_event
from .login import LoginFlow
from .oidc import ProviderClient, RefreshedTokens
from .refresh_lock import RefreshLease
from .session_cookie import cookie_payload
from .sessions import ACCESS_DENIED, REFRESH_FAILED, Sessions
from .stores.base import SessionRecord, StoreUnavailable
from .vault import StoredTokens

#: an access token with less life than this is refreshed before it is handed out
DEFAULT_MIN_VALIDITY = 60.0
#: how often a caller waiting for another caller's refresh looks again
WAIT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class AccessToken:
    """An access token for the signed-in user; ``repr`` never shows the value."""

    value: str = field(repr=False)
    #: seconds since the epoch; None when the provider did not say
    expires_at: float | None = None
    token_type: str = "Bearer"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value: ``Bearer <token>``."""
        return f"{self.token_type} {self.value}"

    def seconds_left(self, now: float | None = None) -> float | None:
        if self.expires_at is None:
            return None
        return max(0.0, self.expires_at - (time.time() if now is None else now))


class AccessTokens:
    def __init__(
        self,
        sessions: Sessions,
        flow: LoginFlow,
        *,
        http_timeout: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sessions = sessions
        self.flow = flow
        self._clock = clock
        self._sleep = sleep
        #: how long the refresh lock lasts without renewal, i.e. how long a holder that died
        #: blocks the others; a live holder renews it (``RefreshLease``) for as long as it refreshes
        self.lock_seconds = 3 * http_timeout + 5
        #: how long a caller waits for another caller's refresh: a few provider calls' worth
        self.wait_seconds = self.lock_seconds

    def get(self, cookie_value: str | None, *, min_validity: float = DEFAULT_MIN_VALIDITY) -> AccessToken:
        """A valid access token for the session behind this cookie; raises a ``TokenError``."""
        status, record = self.sessions.check_record(cookie_value, activity=False)
        if status.unavailable:
            raise RefreshUnavailable("session store unavailable")
        if status.user is None or (self.sessions.stateful and record is None):
            raise NotSignedIn("no live session")
        if record is None:
            raise NoTokens("AUTH_STORE=none: tokens are kept only in a session store, never in a cookie")
        tokens = self.sessions.tokens_of(record)
        if tokens is None or tokens.access_token is None:
            raise NoTokens("the provider issued no access token for this session")
        if self._fresh(tokens, min_validity):
            return _token(tokens)
        if tokens.refresh_token is None:
            if self._fresh(tokens, 0):
                return _token(tokens)  # the little life it has left is better than nothing
            raise NoTokens("the access token expired and the provider issued no refresh token")
        return self._single_flight(record, min_validity)

    def _fresh(self, tokens: StoredTokens, min_validity: float) -> bool:
        """Enough life left. A token that lives less than twice ``min_validity`` (Keycloak's
        default is 5 minutes, test realms use seconds) counts as fresh for half its life,
        or it would be refreshed on every call."""
        if tokens.access_token is None:
            return False
        expires = tokens.access_token_expires_at
        if expires is None:
            return True  # the provider did not say: use it until an API refuses it
        margin = min_validity
        if tokens.access_token_lifetime:
            margin = min(min_validity, tokens.access_token_lifetime / 2)
        return expires - self._clock() > margin

    # -- one refresh at a time, everywhere ---------------------------------------------

    def _single_flight(self, record: SessionRecord, min_validity: float) -> AccessToken:
        key = f"refresh:{record.session_id}"
        give_up = time.monotonic() + self.wait_seconds
        while True:
            try:
                lock = self.sessions.try_lock(key, self.lock_seconds)
                if lock is not None:
                    lease = RefreshLease(self.sessions, lock, self.lock_seconds)
                    try:
                        return self._refresh_if_still_needed(record.session_id, min_validity, lease)
                    finally:
                        lease.end()
                self._sleep(WAIT_POLL_SECONDS)
                current = self._reread(record.session_id)
            except StoreUnavailable as error:
                self.sessions.report_fault(error, "refresh")
                raise RefreshUnavailable("session store unavailable") from None
            tokens = self.sessions.tokens_of(current)
            if tokens is not None and self._fresh(tokens, min_validity):
                return _token(tokens)  # another caller refreshed meanwhile
            if time.monotonic() > give_up:
                raise RefreshUnavailable("another refresh of this session did not finish in time")

    def _reread(self, session_id: str) -> SessionRecord:
        """The record now; a refused refresh elsewhere (another tab, replica) shows here."""
        current = self.sessions.reread(session_id)
        if current is None or not current.live_at(self._clock()):
            if current is not None and current.end_reason in (REFRESH_FAILED, ACCESS_DENIED):
                raise RefreshRefused(f"session ended: {current.end_reason}")
            raise NotSignedIn("the session ended")
        return current

    def _refresh_if_still_needed(self, session_id: str, min_validity: float, lease: RefreshLease) -> AccessToken:
        """Holding the lock: read again (the previous holder may have refreshed), then refresh."""
        record = self._reread(session_id)
        tokens = self.sessions.tokens_of(record)
        if tokens is None or tokens.refresh_token is None:
            raise NoTokens("the session's tokens are gone")
        if self._fresh(tokens, min_validity):
            return _token(tokens)
        return self._refresh(record, tokens, lease, min_validity)

    def _refresh(
        self, record: SessionRecord, tokens: StoredTokens, lease: RefreshLease, min_validity: float
    ) -> AccessToken:
        assert tokens.refresh_token is not None
        client = self.flow.clients.get(record.provider)
        if client is None:
            raise NotSignedIn(f"provider {record.provider!r} is no longer configured")
        try:
            client.metadata()  # discovery first, when stale: the lock is confirmed after it
            if not lease.confirm():
                raise RefreshUnavailable("another caller holds the refresh lock now")  # nothing spent
            new = client.refresh(tokens.refresh_token)
        except GrantRejected as error:
            if error.error == "invalid_grant":
                self._end(record, REFRESH_FAILED, error.detail)
                raise RefreshRefused(error.detail) from None
            log_event("token_refresh_failed", level=logging.WARNING, provider=record.provider, detail=error.detail)
            raise RefreshUnavailable(error.detail) from None
        except LoginError as error:
            log_event("token_refresh_failed", level=logging.WARNING, provider=record.provider, detail=error.detail)
            raise RefreshUnavailable(error.detail) from None
        try:
            claims = self._refreshed_claims(client, record, tokens, new)
        except RefreshUnavailable as error:
            # The provider has rotated, but the new ID token could not be checked (its keys could
            # not be fetched). Keep the new refresh token, so the next refresh presents it and not
            # the spent one; the unchecked access token and identity are not used.
            log_event("token_refresh_failed", level=logging.WARNING, provider=record.provider, detail=str(error))
            if new.refresh_token != tokens.refresh_token:
                kept = self._store(record, lease, replace(tokens, refresh_token=new.refresh_token), None, min_validity)
                if kept is not None:
                    return kept
            raise
        now = self._clock()
        stored = StoredTokens(
            id_token=new.id_token or tokens.id_token,
            access_token=new.access_token,
            refresh_token=new.refresh_token,
            access_token_expires_at=now + new.expires_in if new.expires_in else None,
            access_token_lifetime=new.expires_in,
            nonce=tokens.nonce,
        )
        kept = self._store(record, lease, stored, claims, min_validity)
        if kept is not None:
            return kept
        log_event(
            "tokens_refreshed",
            provider=record.provider,
            sub=record.sub,
            rotated=new.refresh_token != tokens.refresh_token,
            claims_updated=claims is not None,
        )
        return _token(stored)

    def _store(
        self,
        record: SessionRecord,
        lease: RefreshLease,
        stored: StoredTokens,
        claims: Mapping[str, Any] | None,
        min_validity: float,
    ) -> AccessToken | None:
        """Store a refresh's answer (step 4 in ``auth.refresh_lock``); None once stored, else the
        token to hand out instead (another caller's, stored while this holder's lock had lapsed)."""
        try:
            kept = self._keep_if_still_ours(record, lease, min_validity)
            if kept is None:
                self.sessions.replace_tokens(record.session_id, stored, claims)
            return kept
        except StoreUnavailable as error:
            # The provider may have spent the old refresh token: the next refresh may then be refused.
            self.sessions.report_fault(error, "refresh")
            raise RefreshUnavailable("session store unavailable while saving refreshed tokens") from None

    def _keep_if_still_ours(
        self, record: SessionRecord, lease: RefreshLease, min_validity: float
    ) -> AccessToken | None:
        """Before the answer is stored: None when it may be (the lock is this holder's, now
        renewed, and the stored tokens are still those the refresh started from); else the
        token to hand out instead, or ``RefreshUnavailable``. Why: ``auth.refresh_lock``, step 4."""
        if not lease.confirm():
            log_event("token_refresh_discarded", level=logging.WARNING, provider=record.provider, reason="lock_taken")
            raise RefreshUnavailable("the refresh lock lapsed and another caller holds it now")
        current = self._reread(record.session_id)
        if current.tokens == record.tokens:
            return None
        log_event("token_refresh_discarded", level=logging.WARNING, provider=record.provider, reason="tokens_changed")
        theirs = self.sessions.tokens_of(current)
        if theirs is not None and self._fresh(theirs, min_validity):
            return _token(theirs)
        raise RefreshUnavailable("the session's tokens changed while the refresh lock had lapsed")

    def _refreshed_claims(
        self, client: ProviderClient, record: SessionRecord, tokens: StoredTokens, new: RefreshedTokens
    ) -> Mapping[str, Any] | None:
        """The session's new claims from a refreshed ID token (None without one); a token
        that breaks OIDC Core §12.2, or an identity the access rules now refuse, ends it."""
        if new.id_token is None:
            return None
        try:
            id_claims = client.id_token_validator().validate_refreshed(
                new.id_token, client.key_set, signed_in={**record.claims, "sub": record.sub}, nonce=tokens.nonce
            )
        except InvalidIdToken as error:
            self._end(record, REFRESH_FAILED, error.detail)
            raise RefreshRefused(error.detail) from None
        except LoginError as error:  # the provider's keys could not be fetched
            raise RefreshUnavailable(error.detail) from None
        extra = self.flow.extra_claims(client, id_claims, new.access_token)
        identity = identity_from_claims(client.settings, id_claims, extra)
        try:
            self.flow.access.check(identity, client.settings)
        except AccessDenied as error:
            self._end(record, ACCESS_DENIED, error.detail)
            raise RefreshRefused(error.detail) from None
        return cookie_payload(identity)

    def _end(self, record: SessionRecord, reason: str, detail: str) -> None:
        log_event(
            "token_refresh_refused", level=logging.WARNING, provider=record.provider, reason=reason, detail=detail
        )
        try:
            self.sessions.end_session(record, reason)
        except StoreUnavailable as error:
            self.sessions.report_fault(error, "end")


def _token(tokens: StoredTokens) -> AccessToken:
    assert tokens.access_token is not None
    return AccessToken(tokens.access_token, tokens.access_token_expires_at)
