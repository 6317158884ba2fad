"""The session cookie: signed, timestamped identity, checked on every Streamlit rerun.

The cookie is the only record of who is signed in, so nothing needs to be
shared between server processes. It is signed (HMAC-SHA256 through
itsdangerous), not encrypted: the user can read their own claims, which is
why it carries identity claims only and never a token.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

from .errors import SessionTooLarge
from .events import log_event
from .secret import Secret
from .user import OPTIONAL_CLAIMS_BY_DROP_ORDER, User, session_payload, user_from_payload

Clock = Callable[[], float]

SESSION_SALT = "streamlit-oidc-auth.session.v1"
# Browsers keep at most 4096 bytes per cookie (RFC 6265 §6.1 minimum, and what
# Chrome and Firefox enforce for name + value). Leave room for the attributes
# some browsers count too, and never emit something a browser would drop.
MAX_COOKIE_BYTES = 4096
ATTRIBUTE_ALLOWANCE = 160


class _UncompressedSerializer(URLSafeTimedSerializer):
    """Plain base64 JSON: decoding it on every rerun costs less than decompressing.

    ``load_payload`` still reads both forms, so compressed values stay valid.
    """

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


def timed_serializer(
    secrets: Sequence[Secret], salt: str, clock: Clock = time.time, *, compress: bool = True
) -> URLSafeTimedSerializer:
    """An itsdangerous serializer where the first secret signs and every secret verifies.

    itsdangerous treats the *last* key of its list as the newest, so the
    configured order (newest first, the order operators write) is reversed.
    ``clock`` is injectable so expiry is testable without waiting.
    """

    class _ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

        def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
            # The derived key depends only on the secret and salt: compute it once
            # per signer instead of on every verification.
            cache: dict[str | bytes | None, bytes] = self.__dict__.setdefault("_derived_keys", {})
            if secret_key not in cache:
                cache[secret_key] = super().derive_key(secret_key)
            return cache[secret_key]

    return (URLSafeTimedSerializer if compress else _UncompressedSerializer)(
        [secret.value for secret in reversed(secrets)],
        salt=salt,
        signer=_ClockedSigner,
        signer_kwargs={"digest_method": hashlib.sha256},
    )


@dataclass(frozen=True)
class IssuedCookie:
    value: str
    dropped_claims: tuple[str, ...]


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
    ) -> None:
        """``accepted_issuers`` maps provider name to issuers; sessions from any other
        provider or issuer (say, one removed from the configuration) are signed out."""
        self.name = name
        self.timeout = timeout
        self._clock = clock
        self._serializer = timed_serializer(secrets, SESSION_SALT, clock)
        self._plain_serializer = timed_serializer(secrets, SESSION_SALT, clock, compress=False)
        # Built once: itsdangerous would otherwise construct a signer per call,
        # which is most of the per-rerun cost.
        self._signers = tuple(self._serializer.iter_unsigners(SESSION_SALT))
        self._accepted_issuers = (
            {name: frozenset(issuers) for name, issuers in accepted_issuers.items()}
            if accepted_issuers is not None
            else None
        )

    def issue(self, identity: Mapping[str, Any]) -> IssuedCookie:
        """Sign the allow-listed claims; drop optional ones until the cookie fits.

        Raises ``SessionTooLarge`` when even the essential claims do not fit,
        instead of emitting a cookie the browser would silently discard.
        """
        payload = session_payload(identity)
        dropped: list[str] = []
        # Uncompressed is cheaper to check on every rerun; compress only what would not fit.
        value = self._plain_serializer.dumps(payload)
        if not self._fits(value):
            value = self._serializer.dumps(payload)
        for claim in OPTIONAL_CLAIMS_BY_DROP_ORDER:
            if self._fits(value):
                break
            if claim in payload:
                del payload[claim]
                dropped.append(claim)
                value = self._serializer.dumps(payload)
        if not self._fits(value):
            raise SessionTooLarge(f"essential claims need {len(value)} bytes")
        if dropped:
            log_event(
                "session_claims_dropped",
                level=logging.WARNING,
                reason="session cookie too large",
                dropped_claims=",".join(dropped),
                sub=payload.get("sub"),
            )
        return IssuedCookie(value=value, dropped_claims=tuple(dropped))

    def verify(self, value: str | None) -> User | None:
        """The user this cookie value proves, or None: absent, tampered, expired,
        oversized or malformed values all simply mean "signed out"."""
        if not value or len(value) > MAX_COOKIE_BYTES:
            return None
        for signer in self._signers:
            try:
                raw, signed_at = signer.unsign(value, max_age=self.timeout, return_timestamp=True)
                payload = self._serializer.load_payload(raw)
            except BadData:
                continue
            signed_in_at = signed_at.timestamp()
            user = user_from_payload(payload, signed_in_at, signed_in_at + self.timeout)
            if user is None or not self._issuer_accepted(user):
                return None
            return user
        return None

    def now(self) -> float:
        return self._clock()

    def _issuer_accepted(self, user: User) -> bool:
        if self._accepted_issuers is None:
            return True
        return user.issuer in self._accepted_issuers.get(user.provider, ())

    def _fits(self, value: str) -> bool:
        return len(self.name) + 1 + len(value) + ATTRIBUTE_ALLOWANCE <= MAX_COOKIE_BYTES
