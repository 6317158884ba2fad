"""Logout-token validation, OpenID Connect Back-Channel Logout 1.0 §2.4 and §2.6.

A provider ends a user's sessions by POSTing a signed ``logout_token`` to
``/auth/backchannel-logout``. Anyone can POST there, so that route must answer
anything invalid with 400 and a JSON error (§2.8), never with a 5xx: a 5xx
would say our side is broken and let forged requests fill the error logs. So
everything that can go wrong here is one exception type, ``InvalidLogoutToken``,
whose message is fit to send back as ``error_description``: it names the
failed rule and, at most, claim or header names, never a value taken from the
token.

The checks run in the order of §2.6: the token's size and shape; its ``iss``
(read unverified, only to pick the provider whose keys should have signed it);
the JOSE header (an allowed asymmetric ``alg``, a ``typ`` that is not another
kind of JWT, RFC 8725 §3.11, no ``crit`` extensions); the signature, through
the same ``IdTokenValidator.verify_signature`` as ID tokens (JWKS refetched once
for an unknown ``kid``); then the claims. The ``events`` claim keeps an ID token
from passing for a logout token, and the ``nonce`` a logout token must not have
keeps it from passing for an ID token.

Replay is not tracked here: the caller claims ``LogoutRequest.jti`` in a store
until ``LogoutRequest.replay_until`` and refuses a token whose ``jti`` is
already claimed. Validation itself only reads (it may fetch the provider's
discovery document and JWKS through ``ProviderClient``, so it blocks).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError

from .errors import AuthError, InvalidIdToken, LoginError
from .id_token import audiences, finite_number
from .identity import is_text
from .oidc import ProviderClient

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_TOKEN_LENGTH = 16 * 1024  # real logout tokens are well under 2 KB
MAX_JTI_LENGTH = 256  # the caller stores it
DEFAULT_LEEWAY = 60.0
DEFAULT_MAX_AGE = 600.0  # a provider sends the token the moment the user signs out
# §2.4 recommends "logout+jwt"; "JWT" and no typ are what most providers still send.
# RFC 7515 §4.1.9: "application/" may be left off, so both spellings are the same type.
ACCEPTED_TYPES = frozenset({"jwt", "logout+jwt", "application/jwt", "application/logout+jwt"})


class InvalidLogoutToken(AuthError):
    """The logout token failed one of the checks of Back-Channel Logout §2.6.

    ``str(error)`` is a short reason safe to send back as ``error_description``:
    it never echoes token content beyond claim names.
    """


@dataclass(frozen=True)
class LogoutRequest:
    """What a valid logout token asks for: end ``sid``'s session, or every session of ``sub``."""

    provider: str  # the configured provider whose issuer signed it
    sub: str | None
    sid: str | None
    jti: str
    #: keep ``jti`` claimed until then: afterwards the token is refused as expired or too old anyway
    replay_until: float


class LogoutTokenValidator:
    """Validates logout tokens for a set of configured providers, by name."""

    def __init__(
        self,
        clients: Mapping[str, ProviderClient],
        *,
        clock: Callable[[], float] = time.time,
        leeway: float = DEFAULT_LEEWAY,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.clients = dict(clients)
        self.leeway = leeway
        self.max_age = max_age
        self._clock = clock

    def validate(self, token: str) -> LogoutRequest:
        """The request ``token`` makes; raises ``InvalidLogoutToken`` (only) naming the failed rule.

        Blocks when the provider's discovery document or JWKS must be fetched.
        When several providers share the token's issuer, each whose ``client_id``
        is in ``aud`` is tried in turn; the first one's failure is reported.
        """
        header, unverified = self.read(token)
        first, *others = self.candidates(unverified)
        try:
            return self.validate_for(first, token, header)
        except InvalidLogoutToken:
            for client in others:
                try:
                    return self.validate_for(client, token, header)
                except InvalidLogoutToken:
                    continue
            raise

    @staticmethod
    def read(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and the *unverified* claims of a compact JWS, or ``InvalidLogoutToken``."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidLogoutToken("logout token is too large")
        try:
            compact = jws.extract_compact(token.encode("ascii"))
            claims = json.loads(compact.payload)
            header = dict(compact.headers())
        except (JoseError, ValueError, UnicodeError, RecursionError) as error:
            raise InvalidLogoutToken("logout token is not a well-formed JWT") from error
        if not isinstance(claims, dict):
            raise InvalidLogoutToken("logout token is not a well-formed JWT")
        return header, claims

    def candidates(self, unverified: dict[str, Any]) -> list[ProviderClient]:
        """The providers that may have signed the token: by its ``iss``, then by ``aud`` if shared."""
        iss = unverified.get("iss")
        found = [
            client
            for client in self.clients.values()
            if isinstance(iss, str) and iss in client.settings.accepted_issuers
        ]
        if not found:
            raise InvalidLogoutToken("logout token issuer is not a configured provider")
        if len(found) == 1:
            return found  # its aud is checked once the signature is
        addressees = audiences(unverified)
        addressed = [client for client in found if client.settings.client_id in addressees]
        if not addressed:
            raise InvalidLogoutToken("logout token audience does not include this client")
        return addressed

    def validate_for(self, client: ProviderClient, token: str, header: dict[str, Any]) -> LogoutRequest:
        """Every check of §2.6 against one provider, in order."""
        claims = self.verify_signature(client, token, header)
        now = self._clock()
        self.validate_iss(client, claims)
        self.validate_aud(client, claims)
        iat = self.validate_iat(claims, now)
        exp = self.validate_exp(claims, now)
        jti = self.validate_jti(claims)
        self.validate_events(claims)
        sub, sid = self.validate_sub_sid(claims)
        self.validate_nonce(claims)
        until = iat + self.max_age if exp is None else min(exp, iat + self.max_age)
        return LogoutRequest(provider=client.name, sub=sub, sid=sid, jti=jti, replay_until=until + self.leeway)

    def verify_signature(self, client: ProviderClient, token: str, header: dict[str, Any]) -> dict[str, Any]:
        """§2.6: the header (``alg`` as for ID tokens but never ``none``; ``typ``; ``crit``),
        then the signature, with the ID-token verifier and the provider's JWKS."""
        try:
            validator = client.id_token_validator()
            alg = header.get("alg")
            if alg == "none":
                raise InvalidLogoutToken("unsigned logout token (alg none)")
            if alg not in validator.algorithms:
                raise InvalidLogoutToken(
                    f"logout token algorithm is not allowed (allowed: {', '.join(validator.algorithms)})"
                )
            self.validate_typ(header)
            self.validate_crit(header)
            return validator.verify_signature(token, functools.partial(client.key_set, throttled=True))
        except InvalidIdToken as error:
            raise InvalidLogoutToken(_signature_failure(error)) from error
        except LoginError as error:  # ProviderUnavailable, ProviderTimeout, ProviderMisconfigured
            raise InvalidLogoutToken("the provider's keys could not be fetched") from error

    @staticmethod
    def validate_typ(header: dict[str, Any]) -> None:
        """§2.4 / RFC 8725 §3.11: no typ, ``JWT`` or ``logout+jwt``; never another token type."""
        if "typ" not in header:
            return
        typ = header["typ"]
        if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
            raise InvalidLogoutToken("logout token typ is neither JWT nor logout+jwt")

    @staticmethod
    def validate_crit(header: dict[str, Any]) -> None:
        """RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not understand,
        and a logout token needs none. (joserfc would also raise ``TypeError`` on a ``crit``
        that is not a list of strings.)"""
        if "crit" in header:
            raise InvalidLogoutToken("logout token header has crit, which this client does not support")

    @staticmethod
    def validate_iss(client: ProviderClient, claims: dict[str, Any]) -> None:
        """§2.6, as for ID tokens: exactly an issuer of this provider (now from the verified claims)."""
        if claims.get("iss") not in client.settings.accepted_issuers:
            raise InvalidLogoutToken("logout token issuer is not the provider's issuer")

    @staticmethod
    def validate_aud(client: ProviderClient, claims: dict[str, Any]) -> None:
        """§2.6, as for ID tokens: our client id among the audiences (a string or a list)."""
        if client.settings.client_id not in audiences(claims):
            raise InvalidLogoutToken("logout token audience does not include this client")

    def validate_iat(self, claims: dict[str, Any], now: float) -> float:
        """§2.6, as for ID tokens (OIDC Core §3.1.3.7): issued now-ish, within ``max_age``."""
        iat = finite_number(claims.get("iat"))
        if iat is None:
            raise InvalidLogoutToken("logout token has no valid iat")
        if iat > now + self.leeway:
            raise InvalidLogoutToken("logout token was issued in the future (check the clocks)")
        if iat < now - self.max_age - self.leeway:
            raise InvalidLogoutToken("logout token was issued too long ago")
        return iat

    def validate_exp(self, claims: dict[str, Any], now: float) -> float | None:
        """``exp``, when present, not past (with the leeway). 1.0 final requires ``exp`` but its
        drafts had none, and providers still omit it (ory Hydra, LemonLDAP::NG, Keycloak before
        23); without it ``max_age`` alone bounds the token's life."""
        if "exp" not in claims:
            return None
        exp = finite_number(claims["exp"])
        if exp is None:
            raise InvalidLogoutToken("logout token exp is not a number")
        if now > exp + self.leeway:
            raise InvalidLogoutToken("logout token has expired")
        return exp

    @staticmethod
    def validate_jti(claims: dict[str, Any]) -> str:
        """§2.4: a unique identifier, which the caller uses against replay."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or not is_text(jti):
            raise InvalidLogoutToken("logout token has no valid jti")
        if len(jti) > MAX_JTI_LENGTH:
            raise InvalidLogoutToken("logout token jti is too long")
        return jti

    @staticmethod
    def validate_events(claims: dict[str, Any]) -> None:
        """§2.6: ``events`` names the back-channel logout event, whose value is an object."""
        events = claims.get("events")
        if not isinstance(events, dict):
            raise InvalidLogoutToken("logout token has no valid events claim")
        if BACKCHANNEL_LOGOUT_EVENT not in events:
            raise InvalidLogoutToken("logout token events claim lacks the back-channel logout event")
        if not isinstance(events[BACKCHANNEL_LOGOUT_EVENT], dict):
            raise InvalidLogoutToken("logout token back-channel logout event is not a JSON object")

    @staticmethod
    def validate_sub_sid(claims: dict[str, Any]) -> tuple[str | None, str | None]:
        """§2.6: ``sub``, ``sid`` or both, each a non-empty string."""
        present = {name: claims[name] for name in ("sub", "sid") if name in claims}
        if not present:
            raise InvalidLogoutToken("logout token has neither sub nor sid")
        for name, value in present.items():
            if not isinstance(value, str) or not value or not is_text(value):
                raise InvalidLogoutToken(f"logout token {name} is not a non-empty string")
        return present.get("sub"), present.get("sid")

    @staticmethod
    def validate_nonce(claims: dict[str, Any]) -> None:
        """§2.6: a ``nonce`` means an ID token (or a forgery made of one)."""
        if "nonce" in claims:
            raise InvalidLogoutToken("logout token contains a nonce")


def _signature_failure(error: InvalidIdToken) -> str:
    """The ID-token verifier's failure in logout-token words, without the token's ``kid``."""
    if isinstance(error.__cause__, InvalidKeyIdError):
        return "no key in the provider's JWKS matches the logout token's kid"
    if isinstance(error.__cause__, BadSignatureError):
        return "logout token signature is invalid"
    return "logout token could not be verified"
