"""Who may hold a session, and who may open a page: every role and group rule in one place.

The global rules are checked once in the callback, before any session
exists, so a refused user never gets a cookie. Email rules trust only a
verified email: an unverified ``alice@corp.example`` proves nothing about
membership of corp.example. Per-page rules (``auth.restrict``) and
``User.has_role``/``in_group`` use the same matching functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .config import AccessRules
from .errors import AccessDenied
from .presets import ProviderSettings

if TYPE_CHECKING:
    from .identity import Identity


def any_role(held: Iterable[str], wanted: Iterable[str]) -> bool:
    """True when one of the ``wanted`` roles is among those ``held``."""
    held_set = set(held)
    return any(role in held_set for role in wanted)


def any_group(held: Iterable[str], wanted: Iterable[str]) -> bool:
    """Like ``any_role``; Keycloak's group paths ("/admins") match plain names ("admins")."""
    held_set = {group.lstrip("/") for group in held}
    return any(group.lstrip("/") in held_set for group in wanted)


def admits(identity: Identity, *, roles: Iterable[str] = (), groups: Iterable[str] = ()) -> bool:
    """A per-page rule: any of ``roles`` (when given) and any of ``groups`` (when given)."""
    roles, groups = tuple(roles), tuple(groups)
    if roles and not any_role(identity.roles, roles):
        return False
    return not groups or any_group(identity.groups, groups)


class AccessPolicy:
    def __init__(self, rules: AccessRules) -> None:
        self.rules = rules

    def check(self, identity: Identity, provider: ProviderSettings) -> None:
        """Raise ``AccessDenied`` (with a reason for the log) unless every rule admits the user."""
        self._check_hosted_domain(identity, provider)
        self._check_email(identity)
        rules = self.rules
        if rules.required_roles and not any_role(identity.roles, rules.required_roles):
            raise AccessDenied(f"none of the required roles {','.join(rules.required_roles)}")
        if rules.required_groups and not any_group(identity.groups, rules.required_groups):
            raise AccessDenied(f"none of the required groups {','.join(rules.required_groups)}")

    def _check_email(self, identity: Identity) -> None:
        rules = self.rules
        if not rules.restricts_email:
            return
        email = identity.email
        if not email or not identity.email_verified:
            raise AccessDenied(
                "no verified email",
                user_message="Your account is not allowed here: it has no verified email address.",
            )
        domain = email.rpartition("@")[2]
        if email in rules.allowed_emails or domain in rules.allowed_domains:
            return
        raise AccessDenied(f"email domain {domain} not allowed")

    @staticmethod
    def _check_hosted_domain(identity: Identity, provider: ProviderSettings) -> None:
        """Google's ``hd`` request parameter is only a UI hint; the claim is what counts."""
        if not provider.hosted_domains:
            return
        hd = (identity.hosted_domain or "").lower()
        if hd not in provider.hosted_domains:
            raise AccessDenied(
                f"hosted domain {hd or '(none)'} not allowed",
                user_message=(
                    "Your account is not allowed here: sign in with an account of "
                    + ", ".join(provider.hosted_domains)
                    + "."
                ),
            )
