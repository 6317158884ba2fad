"""The session cookie: signed, timestamped identity, checked on every Streamlit rerun.

The cookie is the cheap per-rerun proof: it carries the identity (what fits)
and, with a session store, the server-side session id that ``auth.sessions``
then looks up; with ``AUTH_STORE=none`` it is the only record. It is signed (HMAC-SHA256 through
itsdangerous, see ``auth.signing``), not encrypted: the user can read their
own claims, which is why it carries identity claims only and never a token.
How an ``Identity`` is written into the cookie, and which claims give way
when it would grow too large, lives here too.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import SessionTooLarge
from .events import log_event
from .identity import Identity, User, optional_str, str_tuple
from .secret import Secret
from .signing import SESSION_SALT, Clock, TimedSigner

# Browsers keep at most 4096 bytes per cookie (RFC 6265 §6.1 minimum, and what
# Chrome and Firefox enforce for name + value). Leave room for the attributes
# some browsers count too, and never emit something a browser would drop.
MAX_COOKIE_BYTES = 4096
ATTRIBUTE_ALLOWANCE = 160
# What ``TimedSigner.sign`` writes: URL-safe base64 parts joined by dots. base64 decoding is
# lenient (padding, "+/", stray bytes), so a value outside this alphabet is refused outright:
# one genuine cookie has exactly one accepted spelling.
_SIGNED_VALUE = re.compile(r"[A-Za-z0-9_\-.]+")

# Payload keys are the claim names; ``iss`` holds ``Identity.issuer`` and ``hd`` its
# ``hosted_domain``. Optional claims are listed in the order they are dropped when the
# cookie would outgrow the browser's limit (first dropped first); ``sub``, ``iss`` and
# ``provider`` are never dropped: without them there is no identity.
OPTIONAL_CLAIMS_BY_DROP_ORDER = (
    "picture",
    "hd",
    "auth_time",
    "sid",
    "preferred_username",
    "name",
    "groups",
    "roles",
    "email_verified",
    "email",
)
ESSENTIAL_CLAIMS = ("sub", "iss", "provider")
#: the payload key of our server-side session id (never dropped)
SESSION_ID_KEY = "session"


@dataclass(frozen=True)
class IssuedCookie:
    value: str
    dropped_claims: tuple[str, ...]


def cookie_payload(identity: Identity) -> dict[str, Any]:
    """The claims a session cookie keeps, with empty values left out to save bytes."""
    payload: dict[str, Any] = {
        "sub": identity.sub,
        "iss": identity.issuer,
        "provider": identity.provider,
        "email": identity.email,
        "email_verified": identity.email_verified or None,
        "roles": list(identity.roles),
        "groups": list(identity.groups),
        # Left out when the reader would compute the same name (see user_from_payload).
        "name": identity.name
        if identity.name != (identity.preferred_username or identity.email or identity.sub)
        else None,
        "preferred_username": identity.preferred_username,
        "sid": identity.sid,
        "auth_time": identity.auth_time,
        "hd": identity.hosted_domain,
        "picture": identity.picture,
    }
    return {key: value for key, value in payload.items() if value not in (None, "", [])}


def user_from_payload(
    payload: Any,
    signed_in_at: float,
    expires_at: float,
    *,
    session_id: str | None = None,
    idle_expires_at: float | None = None,
) -> User | None:
    """Rebuild a ``User`` from a verified cookie payload; None if its shape is wrong.

    The signature proves we wrote it, but a payload from an older release or
    a bug must still mean "signed out", never an exception on every rerun.
    """
    if not isinstance(payload, dict):
        return None
    sub, issuer = optional_str(payload.get("sub")), optional_str(payload.get("iss"))
    provider = optional_str(payload.get("provider"))
    session_id = payload.get(SESSION_ID_KEY, session_id)
    if sub is None or issuer is None or provider is None or not isinstance(session_id, (str, type(None))):
        return None
    email = optional_str(payload.get("email"))
    preferred_username = optional_str(payload.get("preferred_username"))
    auth_time = payload.get("auth_time")
    return User(
        sub=sub,
        issuer=issuer,
        provider=provider,
        name=optional_str(payload.get("name")) or preferred_username or email or sub,
        email=email,
        email_verified=payload.get("email_verified") is True,
        preferred_username=preferred_username,
        picture=optional_str(payload.get("picture")),
        roles=str_tuple(payload.get("roles")),
        groups=str_tuple(payload.get("groups")),
        sid=optional_str(payload.get("sid")),
        auth_time=auth_time if isinstance(auth_time, int) and not isinstance(auth_time, bool) else None,
        hosted_domain=optional_str(payload.get("hd")),
        signed_in_at=signed_in_at,
        expires_at=expires_at,
        session_id=session_id,
        idle_expires_at=idle_expires_at,
    )


def session_salt(app_id: str) -> str:
    """The session cookie's signing salt, bound to the app (unbound when ``app_id`` is empty)."""
    return f"{SESSION_SALT}:{app_id}" if app_id else SESSION_SALT


class SessionCookie:
    """Signs identities into cookie values and turns cookie values back into users."""

    def __init__(
        self,
        secrets: Sequence[Secret],
        *,
        name: str,
        timeout: float,
        clock: Clock = time.time,
        accepted_issuers: Mapping[str, Sequence[str]] | None = None,
        app_id: str = "",
    ) -> None:
        """``accepted_issuers`` maps provider name to issuers; sessions from any other
        provider or issuer (say, one removed from the configuration) are signed out.
        ``app_id`` (see ``auth.app_id``) salts the signature: a cookie another app signed
        with the same secret does not verify here."""
        self.name = name
        self.timeout = timeout
        self._clock = clock
        self._signer = TimedSigner(secrets, session_salt(app_id), clock)
        self._accepted_issuers = (
            {name: frozenset(issuers) for name, issuers in accepted_issuers.items()}
            if accepted_issuers is not None
            else None
        )

    def issue(self, identity: Identity, session_id: str | None = None) -> IssuedCookie:
        """Sign the identity (and the store's session id); drop optional claims until it fits.

        With a session id the store keeps every claim, so a dropped claim only
        shrinks the cookie; without one it is lost, and a warning says which.
        Raises ``SessionTooLarge`` when even the essential claims do not fit,
        instead of emitting a cookie the browser would silently discard.
        """
        payload = cookie_payload(identity)
        if session_id is not None:
            payload[SESSION_ID_KEY] = session_id
        dropped: list[str] = []
        value = self._signer.sign(payload)
        for claim in OPTIONAL_CLAIMS_BY_DROP_ORDER:
            if self._fits(value):
                break
            if claim in payload:
                del payload[claim]
                dropped.append(claim)
                value = self._signer.sign(payload)
        if not self._fits(value):
            raise SessionTooLarge(f"essential claims need {len(value)} bytes")
        if dropped and session_id is None:
            log_event(
                "session_claims_dropped",
                level=logging.WARNING,
                reason="session cookie too large",
                dropped_claims=",".join(dropped),
                sub=identity.sub,
            )
        return IssuedCookie(value=value, dropped_claims=tuple(dropped))

    def verify(self, value: str | None, *, grace: float = 0.0) -> User | None:
        """The user this cookie value proves, or None: absent, tampered, expired,
        oversized or malformed values all simply mean "signed out".

        ``grace`` accepts a cookie that many seconds past its lifetime (its
        ``expires_at`` is then in the past), so the caller can tell "reached its
        maximum age" from "not ours" and say so once in the log.
        """
        if not value or len(value) > MAX_COOKIE_BYTES or not _SIGNED_VALUE.fullmatch(value):
            return None
        verified = self._signer.unsign(value, max_age=self.timeout + grace)
        if verified is None:
            return None
        payload, signed_in_at = verified
        user = user_from_payload(payload, signed_in_at, signed_in_at + self.timeout)
        if user is None or not self._issuer_accepted(user):
            return None
        return user

    def now(self) -> float:
        return self._clock()

    def _issuer_accepted(self, user: User) -> bool:
        if self._accepted_issuers is None:
            return True
        return user.issuer in self._accepted_issuers.get(user.provider, ())

    def _fits(self, value: str) -> bool:
        return len(self.name) + 1 + len(value) + ATTRIBUTE_ALLOWANCE <= MAX_COOKIE_BYTES
