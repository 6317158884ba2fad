"""Signed, timestamped values (itsdangerous), one salt per purpose, keys that rotate.

Both cookies the package writes go through ``TimedSigner``: the session
cookie (every rerun verifies it) and the login-transaction cookie. A
separate salt per purpose means a value signed for one can never be
accepted as the other, even under the same secret. The clock is injectable
so expiry is tested without waiting.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from .secret import Secret

Clock = Callable[[], float]

SESSION_SALT = "streamlit-oidc-auth.session.v1"
TRANSACTION_SALT = "streamlit-oidc-auth.login-transaction.v1"
# The `state` of a sign-out round trip through the provider (RP-Initiated Logout 1.0).
LOGOUT_SALT = "streamlit-oidc-auth.logout-state.v1"


class TimedSigner:
    """Signs JSON-able values with the first secret; verifies with every secret.

    itsdangerous treats the *last* key of its list as the newest, so the
    configured order (newest first, the order operators write) is reversed.
    """

    def __init__(self, secrets: Sequence[Secret], salt: str, clock: Clock = time.time) -> None:
        class _ClockedSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializer = URLSafeTimedSerializer(
            [secret.value for secret in reversed(secrets)],
            salt=salt,
            signer=_ClockedSigner,
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        # Built once: itsdangerous would build a signer per key on every call, which
        # measured at about 15 % of a per-rerun check (python -m auth.bench).
        self._unsigners = tuple(self._serializer.iter_unsigners())

    def sign(self, value: Any) -> str:
        """URL-safe, compressed when that is shorter."""
        return self._serializer.dumps(value)

    def unsign(self, signed: str, max_age: float | None) -> tuple[Any, float] | None:
        """``(value, signed_at)`` if the signature holds under any secret and the value is
        at most ``max_age`` seconds old (``None``: any age); else None, never an exception."""
        if not _canonical_signature(signed):
            return None
        for unsigner in self._unsigners:
            try:
                # itsdangerous is typed for int ages but compares floats correctly.
                raw, signed_at = unsigner.unsign(signed, max_age=max_age, return_timestamp=True)  # type: ignore[call-overload]
                return self._serializer.load_payload(raw), signed_at.timestamp()
            except BadData:
                continue
        return None

    def failure(self, signed: str, max_age: float | None) -> str:
        """Why ``unsign`` refused ``signed``, for logs: ``SignatureExpired`` when a secret's
        signature holds but the value is too old, else itsdangerous' error for the newest
        secret. Slow path only: called after a refusal."""
        if not _canonical_signature(signed):
            return "BadTimeSignature"  # what itsdangerous says of any other wrong signature
        reasons = []
        for unsigner in self._unsigners:
            try:
                raw = unsigner.unsign(signed, max_age=max_age)  # type: ignore[arg-type]
                self._serializer.load_payload(raw)
            except SignatureExpired:
                return "SignatureExpired"
            except BadData as error:
                reasons.append(type(error).__name__)
            else:
                return "none"
        return reasons[0] if reasons else "none"


def _canonical_signature(signed: str) -> bool:
    """Whether the signature part is spelled as ``sign`` spells it.

    The payload and timestamp are signed as text, so any other spelling of them
    fails the HMAC; the signature itself is compared after base64 decoding,
    which ignores the unused low bits of its last character. Without this
    check four spellings of every signature verify (a 32-byte HMAC is 43
    characters carrying 258 bits), so "tamper with the last character" would
    pass one time in sixteen and a value would not have one accepted form.
    """
    _, dot, signature = signed.rpartition(".")
    if not dot:
        return True  # no signature at all: itsdangerous refuses it with its own reason
    try:
        return base64_encode(base64_decode(signature)) == signature.encode("ascii")
    except (BadData, UnicodeEncodeError):
        return False
