"""Tokens at rest: the provider's tokens, encrypted before they reach the session store.

The store may be a shared Redis or a file on disk, so what it holds must be
useless to whoever reads it: tokens are sealed with Fernet (AES-128-CBC plus
HMAC-SHA256, from ``cryptography``) under keys derived from the cookie
secrets with HKDF, one key per secret. ``MultiFernet`` encrypts with the
first secret and decrypts with any, so rotating ``AUTH_COOKIE_SECRET``
(new secret first) keeps sessions readable. Deriving (instead of using the
secret directly) keeps the encryption key apart from the signing key.

Sealed tokens are bound to their session: the session id is sealed with
them and checked when they are opened. Whoever can write to the store
cannot move one user's sealed tokens into a record of their own (a session
their own cookie names) and call APIs as that user.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import AuthError
from .secret import Secret

_HKDF_INFO = b"streamlit-oidc-auth.token-vault.v1"


class TokensUnreadable(AuthError):
    """Stored tokens that no configured secret opens (secret removed, or tampered)."""


@dataclass(frozen=True)
class StoredTokens:
    """The provider's tokens of one session; ``repr`` never shows them."""

    id_token: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    #: when the access token expires (seconds since the epoch), if the provider said
    access_token_expires_at: float | None = None
    #: the access token's whole lifetime (``expires_in``), so a short-lived token is not refreshed on every call
    access_token_lifetime: float | None = None
    #: the sign-in's nonce: a refreshed ID token may repeat it, and must then match (OIDC Core §12.2)
    nonce: str | None = None

    def __repr__(self) -> str:
        present = [name for name in ("id_token", "access_token", "refresh_token") if getattr(self, name)]
        return f"StoredTokens(present={present})"

    def to_json(self, session_id: str) -> bytes:
        return json.dumps(
            {
                "session_id": session_id,
                "id_token": self.id_token,
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "access_token_expires_at": self.access_token_expires_at,
                "access_token_lifetime": self.access_token_lifetime,
                "nonce": self.nonce,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, session_id: str) -> StoredTokens:
        """Raises ``ValueError`` when the data is not tokens sealed for ``session_id``."""
        value = json.loads(data)
        if not isinstance(value, Mapping):
            raise ValueError("stored tokens are not a JSON object")
        if value.get("session_id") != session_id:
            raise ValueError("stored tokens belong to another session")

        def text(name: str) -> str | None:
            item = value.get(name)
            return item if isinstance(item, str) and item else None

        expires = value.get("access_token_expires_at")
        lifetime = value.get("access_token_lifetime")
        return cls(
            id_token=text("id_token"),
            access_token=text("access_token"),
            refresh_token=text("refresh_token"),
            access_token_expires_at=float(expires) if isinstance(expires, (int, float)) else None,
            access_token_lifetime=float(lifetime) if isinstance(lifetime, (int, float)) else None,
            nonce=text("nonce"),
        )


def derive_key(secret: Secret) -> bytes:
    """A Fernet key for ``secret``: 32 bytes from HKDF-SHA256, URL-safe base64."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.value.encode())
    return base64.urlsafe_b64encode(key)


class TokenVault:
    """Seals ``StoredTokens`` for the store and opens them again."""

    def __init__(self, secrets: Sequence[Secret]) -> None:
        if not secrets:
            raise ValueError("TokenVault needs at least one secret")
        self._fernet = MultiFernet([Fernet(derive_key(secret)) for secret in secrets])

    def seal(self, tokens: StoredTokens, session_id: str) -> bytes:
        return self._fernet.encrypt(tokens.to_json(session_id))

    def open(self, sealed: bytes, session_id: str) -> StoredTokens:
        """Raises ``TokensUnreadable`` when no secret opens it, or it was sealed for another session."""
        try:
            plain = self._fernet.decrypt(sealed)
        except (InvalidToken, TypeError) as error:
            raise TokensUnreadable("stored tokens cannot be decrypted with any configured secret") from error
        try:
            return StoredTokens.from_json(plain, session_id)
        except (ValueError, TypeError) as error:
            raise TokensUnreadable(f"stored tokens are unusable: {error}") from error
