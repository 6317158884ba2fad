"""ID-token validation, one method per rule of OpenID Connect Core 1.0 §3.1.3.7.

Signature verification and claim validation are two explicit steps: first
the JOSE header is checked against an allow-list (never ``none``, never an
HMAC algorithm, since a public-key provider's client secret must not become
a signing key), the key is found by ``kid`` in the provider's JWKS (fetched
again once if the ``kid`` is unknown, which is how key rotation shows up),
and joserfc verifies the signature. Then each claim rule runs in order.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeGuard

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, DecodeError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from .errors import InvalidIdToken

# Asymmetric JWS algorithms (RFC 7518 §3, RFC 8037). HMAC ("HS*") is left out
# on purpose: with a confidential client the "key" would be our client secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)
DEFAULT_ALGORITHMS = ("RS256",)  # OIDC Discovery §3: the default when none are advertised
DEFAULT_LEEWAY = 60.0
MAX_TOKEN_AGE = 600.0  # an ID token from a fresh code exchange was issued moments ago

KeySetSource = Callable[[bool], KeySet]  # force_refresh -> key set


def allowed_algorithms(advertised: Sequence[str] | None) -> tuple[str, ...]:
    """The provider's advertised signing algorithms that we accept, never HMAC or ``none``."""
    if not advertised:
        return DEFAULT_ALGORITHMS
    return tuple(alg for alg in advertised if alg in ASYMMETRIC_ALGORITHMS)


class IdTokenValidator:
    def __init__(
        self,
        *,
        issuers: Collection[str],
        client_id: str,
        algorithms: Collection[str],
        leeway: float = DEFAULT_LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuers = frozenset(issuers)
        self.client_id = client_id
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self._clock = clock

    def validate(self, id_token: str, keys: KeySetSource, nonce: str) -> dict[str, Any]:
        """Verified claims of ``id_token``; raises ``InvalidIdToken`` naming the failed rule."""
        claims = self._signed_and_current(id_token, keys)
        self.validate_nonce(claims, nonce)
        self.validate_sub(claims)
        self.validate_auth_time(claims)
        return claims

    def validate_refreshed(
        self,
        id_token: str,
        keys: KeySetSource,
        *,
        signed_in: Mapping[str, Any],
        nonce: str | None,
    ) -> dict[str, Any]:
        """Claims of an ID token from a refresh, validated like the first (``signed_in``: the
        session's claims, ``nonce``: the sign-in's) plus OpenID Connect Core §12.2: the same
        ``iss`` and ``sub``, the same ``auth_time`` where both have one, and a ``nonce`` only
        if it is the sign-in's (a refreshed token usually carries none)."""
        claims = self._signed_and_current(id_token, keys)
        self.validate_sub(claims)
        self.validate_auth_time(claims)
        if claims.get("sub") != signed_in.get("sub") or claims.get("iss") != signed_in.get("iss"):
            raise InvalidIdToken("refreshed ID token names another user or issuer than the session")
        if "nonce" in claims and not _same_text(claims["nonce"], nonce):
            raise InvalidIdToken("refreshed ID token carries a nonce that is not the sign-in's")
        first_auth_time = signed_in.get("auth_time")
        if "auth_time" in claims and first_auth_time is not None and claims["auth_time"] != first_auth_time:
            raise InvalidIdToken("refreshed ID token has another auth_time than the sign-in")
        return claims

    def _signed_and_current(self, id_token: str, keys: KeySetSource) -> dict[str, Any]:
        """Steps 2-10, shared by a sign-in's ID token and a refreshed one."""
        claims = self.verify_signature(id_token, keys)
        now = self._clock()
        self.validate_iss(claims)
        self.validate_aud(claims)
        self.validate_azp(claims)
        self.validate_exp(claims, now)
        self.validate_iat(claims, now)
        return claims

    def verify_signature(self, token: str, keys: KeySetSource) -> dict[str, Any]:
        """§3.1.3.7 steps 6–8: the allowed algorithm and a valid signature by the provider's key."""
        header = self.read_header(token)
        alg = header.get("alg")
        if alg == "none":
            raise InvalidIdToken("unsigned ID token (alg none)")
        if alg not in self.algorithms:
            raise InvalidIdToken(f"ID token algorithm {alg!r} is not allowed (allowed: {', '.join(self.algorithms)})")
        try:
            return self._decode(token, keys(False), alg)
        except InvalidKeyIdError:
            pass
        try:
            return self._decode(token, keys(True), alg)
        except InvalidKeyIdError as error:
            raise InvalidIdToken(f"no key in the provider's JWKS for kid {header.get('kid')!r}") from error

    @staticmethod
    def read_header(token: str) -> dict[str, Any]:
        try:
            return dict(jws.extract_compact(token.encode("ascii")).headers())
        except (JoseError, ValueError, UnicodeError) as error:
            raise InvalidIdToken("ID token is not a well-formed JWS") from error

    @staticmethod
    def _decode(token: str, key_set: KeySet, alg: str) -> dict[str, Any]:
        try:
            return dict(jwt.decode(token, key_set, algorithms=[alg]).claims)
        except BadSignatureError as error:
            raise InvalidIdToken("ID token signature is invalid") from error
        except InvalidKeyIdError:
            raise
        except (DecodeError, JoseError, ValueError, TypeError) as error:
            # TypeError: joserfc iterates header members such as "crit" without checking their type.
            raise InvalidIdToken(f"ID token could not be verified ({type(error).__name__})") from error

    def validate_iss(self, claims: dict[str, Any]) -> None:
        """Step 2: the issuer must exactly match the configured one."""
        if claims.get("iss") not in self.issuers:
            raise InvalidIdToken(f"ID token issuer {claims.get('iss')!r} is not the configured issuer")

    def validate_aud(self, claims: dict[str, Any]) -> None:
        """Step 3: our client id must be among the audiences."""
        if self.client_id not in audiences(claims):
            raise InvalidIdToken("ID token audience does not include this client")

    def validate_azp(self, claims: dict[str, Any]) -> None:
        """Steps 4–5: with several audiences ``azp`` is required; when present it must be us."""
        azp = claims.get("azp")
        if len(audiences(claims)) > 1 and azp is None:
            raise InvalidIdToken("ID token has several audiences but no azp")
        if azp is not None and azp != self.client_id:
            raise InvalidIdToken("ID token azp is not this client")

    def validate_exp(self, claims: dict[str, Any], now: float) -> None:
        """Step 9: not expired (with a small leeway for clock skew)."""
        exp = claims.get("exp")
        if not is_number(exp):
            raise InvalidIdToken("ID token has no valid exp")
        if now > exp + self.leeway:
            raise InvalidIdToken("ID token has expired")

    def validate_iat(self, claims: dict[str, Any], now: float) -> None:
        """Step 10: issued now-ish, neither in the future nor long ago."""
        iat = claims.get("iat")
        if not is_number(iat):
            raise InvalidIdToken("ID token has no valid iat")
        if iat > now + self.leeway:
            raise InvalidIdToken("ID token was issued in the future (check the clocks)")
        if iat < now - MAX_TOKEN_AGE - self.leeway:
            raise InvalidIdToken("ID token was issued too long ago")

    def validate_nonce(self, claims: dict[str, Any], expected: str) -> None:
        """Step 11: the nonce we sent, compared in constant time. Always required here."""
        if not _same_text(claims.get("nonce"), expected):
            raise InvalidIdToken("ID token nonce does not match this sign-in")

    def validate_sub(self, claims: dict[str, Any]) -> None:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidIdToken("ID token has no sub")
        try:
            sub.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidIdToken("ID token sub is not valid text (a lone surrogate)") from None

    def validate_auth_time(self, claims: dict[str, Any]) -> None:
        """Step 13 (type only: we do not send max_age)."""
        if "auth_time" in claims and not is_number(claims["auth_time"]):
            raise InvalidIdToken("ID token auth_time is not a number")


def _same_text(given: Any, expected: str | None) -> bool:
    """``given`` is the non-empty ``expected`` string, compared in constant time."""
    if not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def audiences(claims: dict[str, Any]) -> list[str]:
    """The ``aud`` claim as a list of strings (a string or a list, RFC 7519 §4.1.3)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [item for item in aud if isinstance(item, str)]
    return []


def finite_number(value: Any) -> float | None:
    """A JSON number as a float, else None.

    Booleans are not numbers here, and neither are the NaN and Infinity that Python's JSON
    parser reads, nor integers too large for a float: a NaN ``exp`` compares as never
    expired, and ``float(10**400)`` raises where a readable refusal is due.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def is_number(value: Any) -> TypeGuard[float]:
    """``finite_number``, as a type guard for claims compared where they stand."""
    return finite_number(value) is not None
