"""The signed-in user as the app sees it, and its compact form inside the cookie."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The claims a session keeps, in the order they are dropped when the cookie
# would grow past the browser's limit (first dropped first). ``sub``, ``iss``
# and ``provider`` are never dropped: without them there is no identity.
OPTIONAL_CLAIMS_BY_DROP_ORDER = (
    "picture",
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
SESSION_CLAIMS = ESSENTIAL_CLAIMS + tuple(reversed(OPTIONAL_CLAIMS_BY_DROP_ORDER))


@dataclass(frozen=True)
class User:
    """Who is signed in. ``sub`` + ``issuer`` is the stable key; email may change or repeat."""

    sub: str
    issuer: str
    provider: str
    name: str
    email: str | None = None
    email_verified: bool = False
    preferred_username: str | None = None
    picture: str | None = None
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    sid: str | None = None
    auth_time: int | None = None
    signed_in_at: float = 0.0
    expires_at: float = 0.0

    def has_role(self, *roles: str) -> bool:
        """True when the user has any of ``roles``."""
        return any(role in self.roles for role in roles)

    def in_group(self, *groups: str) -> bool:
        """True when the user is in any of ``groups``; Keycloak's "/name" paths match "name"."""
        mine = {group.lstrip("/") for group in self.groups}
        return any(group.lstrip("/") in mine for group in groups)

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.expires_at - now)



def session_payload(identity: Mapping[str, Any]) -> dict[str, Any]:
    """Only the allow-listed claims, with empty values left out to save cookie bytes."""
    return {
        key: identity[key]
        for key in SESSION_CLAIMS
        if key in identity and identity[key] not in (None, "", [], ())
    }


def user_from_payload(payload: Any, signed_in_at: float, expires_at: float) -> User | None:
    """Rebuild a ``User`` from a verified cookie payload; None if its shape is wrong.

    The signature proves we wrote it, but a payload from an older release or
    a bug must still mean "signed out", never an exception on every rerun.
    """
    if not isinstance(payload, dict):
        return None
    sub, issuer, provider = payload.get("sub"), payload.get("iss"), payload.get("provider")
    # Runs on every rerun: plain checks rather than a generator keep it cheap.
    if not (_optional_str(sub) and _optional_str(issuer) and _optional_str(provider)):
        return None
    email = _optional_str(payload.get("email"))
    preferred_username = _optional_str(payload.get("preferred_username"))
    name = _optional_str(payload.get("name")) or preferred_username or email or sub
    auth_time = payload.get("auth_time")
    return User(
        sub=sub,
        issuer=issuer,
        provider=provider,
        name=name,
        email=email,
        email_verified=payload.get("email_verified") is True,
        preferred_username=preferred_username,
        picture=_optional_str(payload.get("picture")),
        roles=_str_tuple(payload.get("roles")),
        groups=_str_tuple(payload.get("groups")),
        sid=_optional_str(payload.get("sid")),
        auth_time=auth_time if isinstance(auth_time, int) and not isinstance(auth_time, bool) else None,
        signed_in_at=signed_in_at,
        expires_at=expires_at,
    )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _str_tuple(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple([item for item in value if isinstance(item, str)])
