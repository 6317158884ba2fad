"""Turns a provider's claims into the identity a session keeps.

Providers spell roles and groups differently: Keycloak nests realm roles in
``realm_access.roles`` and client roles in ``resource_access.<client>.roles``
(and by default puts them only in the access token); others use flat
``roles`` / ``groups`` claims. Everything ends up as ``roles`` and ``groups``
lists on the identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .identity import Identity, optional_str
from .presets import ProviderSettings

ROLE_CLAIMS = ("roles", "realm_access", "resource_access")
ROLE_GROUP_CLAIMS = ROLE_CLAIMS + ("groups",)


def roles_and_groups(claims: Mapping[str, Any], settings: ProviderSettings) -> tuple[list[str], list[str]]:
    roles: list[str] = list(_strings(claims.get("roles")))
    if settings.kind == "keycloak":
        realm_access = claims.get("realm_access")
        if isinstance(realm_access, Mapping):
            roles.extend(_strings(realm_access.get("roles")))
        resource_access = claims.get("resource_access")
        if isinstance(resource_access, Mapping):
            client = resource_access.get(settings.client_id)
            if isinstance(client, Mapping):
                roles.extend(_strings(client.get("roles")))
    groups = list(_strings(claims.get("groups")))
    return list(dict.fromkeys(roles)), list(dict.fromkeys(groups))


def has_role_or_group_claims(claims: Mapping[str, Any]) -> bool:
    return any(name in claims for name in ROLE_GROUP_CLAIMS)


def has_role_claims(claims: Mapping[str, Any]) -> bool:
    return any(name in claims for name in ROLE_CLAIMS)


def identity_from_claims(
    provider: ProviderSettings,
    id_claims: Mapping[str, Any],
    extra_claims: Mapping[str, Any] | None = None,
) -> Identity:
    """The session identity: ID-token claims first; ``extra_claims`` (userinfo, the
    access token) only fill what the ID token lacks and never change ``sub``/``iss``."""
    merged: dict[str, Any] = dict(extra_claims or {})
    merged.update(id_claims)
    roles, groups = roles_and_groups(merged, provider)
    if extra_claims:
        extra_roles, extra_groups = roles_and_groups(extra_claims, provider)
        roles = list(dict.fromkeys(roles + extra_roles))
        groups = list(dict.fromkeys(groups + extra_groups))
    # An email and its verified flag must come from the same source.
    email_source = id_claims if "email" in id_claims else merged
    email = optional_str(email_source.get("email"))
    email = email.strip().lower() if email else None
    preferred_username = optional_str(merged.get("preferred_username"))
    auth_time = id_claims.get("auth_time")
    return Identity(
        sub=id_claims["sub"],
        issuer=id_claims["iss"],
        provider=provider.name,
        name=optional_str(merged.get("name")) or preferred_username or email or id_claims["sub"],
        email=email,
        email_verified=_is_verified(email_source.get("email_verified")),
        preferred_username=preferred_username,
        picture=_https_url(merged.get("picture")),
        roles=tuple(roles),
        groups=tuple(groups),
        sid=optional_str(id_claims.get("sid")),
        auth_time=auth_time if isinstance(auth_time, int) and not isinstance(auth_time, bool) else None,
        hosted_domain=optional_str(id_claims.get("hd")),
    )


def _is_verified(value: Any) -> bool:
    # Some providers (older AWS Cognito, some Azure setups) send the string "true".
    return value is True or value == "true"


def _https_url(value: Any) -> str | None:
    """A picture URL only if it is https: never a local path (``st.image`` would read
    the file), ``file:``, ``data:`` or plain http."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    parts = urlsplit(value)
    return value if parts.scheme == "https" and parts.netloc and not any(c.isspace() for c in value) else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
