"""Who may hold a session: the global access rules and a Google hosted domain.

Checked once in the callback, before any session exists, so a refused user
never gets a cookie. Email rules trust only a verified email: an unverified
``alice@corp.example`` proves nothing about membership of corp.example.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import AccessRules
from .errors import AccessDenied
from .presets import ProviderSettings


class AccessPolicy:
    def __init__(self, rules: AccessRules) -> None:
        self.rules = rules

    def check(self, identity: Mapping[str, Any], provider: ProviderSettings) -> None:
        """Raise ``AccessDenied`` (with a reason for the log) unless every rule admits the user."""
        self._check_hosted_domain(identity, provider)
        self._check_email(identity)
        rules = self.rules
        roles = set(identity.get("roles") or ())
        if rules.required_roles and not roles.intersection(rules.required_roles):
            raise AccessDenied(f"none of the required roles {','.join(rules.required_roles)}")
        groups = {group.lstrip("/") for group in identity.get("groups") or ()}
        required = {group.lstrip("/") for group in rules.required_groups}
        if required and not groups.intersection(required):
            raise AccessDenied(f"none of the required groups {','.join(rules.required_groups)}")

    def _check_email(self, identity: Mapping[str, Any]) -> None:
        rules = self.rules
        if not rules.restricts_email:
            return
        email = identity.get("email")
        if not email or not identity.get("email_verified"):
            raise AccessDenied(
                "no verified email",
                user_message="Your account is not allowed here: it has no verified email address.",
            )
        domain = email.rpartition("@")[2]
        if email in rules.allowed_emails or domain in rules.allowed_domains:
            return
        raise AccessDenied(f"email domain {domain} not allowed")

    @staticmethod
    def _check_hosted_domain(identity: Mapping[str, Any], provider: ProviderSettings) -> None:
        """Google's ``hd`` request parameter is only a UI hint; the claim is what counts."""
        if not provider.hosted_domains:
            return
        hd = (identity.get("hd") or "").lower()
        if hd not in provider.hosted_domains:
            raise AccessDenied(
                f"hosted domain {hd or '(none)'} not allowed",
                user_message=(
                    "Your account is not allowed here: sign in with an account of "
                    + ", ".join(provider.hosted_domains)
                    + "."
                ),
            )
