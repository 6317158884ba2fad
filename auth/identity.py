"""Who signed in: the identity built once from validated claims, and the user a rerun sees.

``Identity`` is made at the callback from the ID token (and, where the token
lacks them, userinfo and Keycloak's access token) by ``auth.claims``; access
rules judge it and the session cookie carries it. ``User`` is the same
identity as a page script meets it, with the session's times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .access import any_group, any_role


@dataclass(frozen=True)
class Identity:
    """``sub`` + ``issuer`` is the stable key; an email may change or be reused."""

    sub: str
    issuer: str
    provider: str
    #: the name to show: the ``name`` claim, else the username, the email or ``sub``
    name: str
    email: str | None = None
    email_verified: bool = False
    preferred_username: str | None = None
    #: an https URL only (``auth.claims`` drops anything else)
    picture: str | None = None
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    #: the provider's session id (OIDC ``sid``), for logout at the provider
    sid: str | None = None
    auth_time: int | None = None
    #: Google Workspace domain (``hd``)
    hosted_domain: str | None = None

    @property
    def account(self) -> str:
        """How the account is shown to its owner on a refusal: email, username or ``sub``."""
        return self.email or self.preferred_username or self.sub

    def has_role(self, *roles: str) -> bool:
        """True when the user has any of ``roles``."""
        return any_role(self.roles, roles)

    def in_group(self, *groups: str) -> bool:
        """True when the user is in any of ``groups``; Keycloak's "/name" paths match "name"."""
        return any_group(self.groups, groups)


@dataclass(frozen=True)
class User(Identity):
    """The signed-in user of a rerun, from a verified session cookie (and the store's record)."""

    signed_in_at: float = 0.0
    #: when the session ends unless something changes: the idle end or the absolute end, whichever is first
    expires_at: float = 0.0
    #: our server-side session id; None for a cookie-only session (``AUTH_STORE=none``)
    session_id: str | None = field(default=None, repr=False)
    #: when the session ends for inactivity (None without a store: no idle timeout)
    idle_expires_at: float | None = None

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.expires_at - now)

    @property
    def ends_when_idle(self) -> bool:
        """The next end is the idle timeout (activity would postpone it), not the absolute one."""
        return self.idle_expires_at is not None and self.idle_expires_at <= self.expires_at


@dataclass(frozen=True)
class SessionStatus:
    """What a rerun's session check found; the Streamlit layer decides what to show.

    ``user`` is set only for a live session. ``ended`` names why a session the
    browser still holds a cookie for is over (``logout``, ``idle``, ``max_age``,
    ``backchannel``, ``logout_everywhere``, or ``expired`` when the cookie alone
    says so). ``unavailable`` means the store could not answer: neither signed
    in nor signed out, so the page says "try again" instead of showing a login.
    """

    user: User | None = None
    ended: str | None = None
    unavailable: bool = False


def is_text(value: Any) -> bool:
    """A string that is valid Unicode text. JSON may carry lone surrogates (``"\\udc80"``),
    which no store, cookie or log can encode as UTF-8, so they count as absent."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def optional_str(value: Any) -> str | None:
    """A non-empty string, else None: claims of the wrong type count as absent."""
    return value if value and is_text(value) else None


def str_tuple(value: Any) -> tuple[str, ...]:
    """The strings of a list claim, in order; anything else is empty."""
    if not isinstance(value, list):
        return ()
    return tuple([item for item in value if is_text(item)])
