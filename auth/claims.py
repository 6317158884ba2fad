"""Turns a provider's claims into the identity a session keeps.

Providers spell roles and groups differently: Keycloak nests realm roles in
``realm_access.roles`` and client roles in ``resource_access.<client>.roles``
(and by default puts them only in the access token); others use flat
``roles`` / ``groups`` claims. Everything ends up as ``roles`` and ``groups``
lists on the identity.

Every string kept must be valid Unicode text. JSON can carry a lone surrogate
(``"\\udc80"``, RFC 8259 §8.2 allows the escape), which Python decodes into a
string that no cookie, store or log can encode as UTF-8; such a value is
dropped like any claim of the wrong type, and the sign-in goes on without it.
Unlike a wrong type, it is reported: one ``claims_dropped`` line per identity,
naming the claims and never their values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .events import log_event
from .identity import Identity, is_text, optional_str
from .presets import ProviderSettings

ROLE_CLAIMS = ("roles", "realm_access", "resource_access")


def roles_and_groups(
    claims: Mapping[str, Any], settings: ProviderSettings, dropped: set[str] | None = None
) -> tuple[list[str], list[str]]:
    """Roles and groups, each once, in order; names of claims that held non-text go to ``dropped``."""
    dropped = set() if dropped is None else dropped
    roles: list[str] = _strings(claims.get("roles"), "roles", dropped)
    if settings.kind == "keycloak":
        realm_access = claims.get("realm_access")
        if isinstance(realm_access, Mapping):
            roles.extend(_strings(realm_access.get("roles"), "realm_access", dropped))
        resource_access = claims.get("resource_access")
        if isinstance(resource_access, Mapping):
            client = resource_access.get(settings.client_id)
            if isinstance(client, Mapping):
                roles.extend(_strings(client.get("roles"), "resource_access", dropped))
    groups = _strings(claims.get("groups"), "groups", dropped)
    return list(dict.fromkeys(roles)), list(dict.fromkeys(groups))


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
    dropped: set[str] = set()
    roles, groups = roles_and_groups(merged, provider, dropped)
    if extra_claims:
        extra_roles, extra_groups = roles_and_groups(extra_claims, provider, dropped)
        roles = list(dict.fromkeys(roles + extra_roles))
        groups = list(dict.fromkeys(groups + extra_groups))

    def text(claims: Mapping[str, Any], name: str) -> str | None:
        value = claims.get(name)
        if isinstance(value, str) and not is_text(value):
            dropped.add(name)
        return optional_str(value)

    # An email and its verified flag must come from the same source.
    email_source = id_claims if "email" in id_claims else merged
    email = text(email_source, "email")
    email = email.strip().lower() if email else None
    preferred_username = text(merged, "preferred_username")
    auth_time = id_claims.get("auth_time")
    identity = Identity(
        sub=id_claims["sub"],
        issuer=id_claims["iss"],
        provider=provider.name,
        name=text(merged, "name") or preferred_username or email or id_claims["sub"],
        email=email,
        email_verified=_is_verified(email_source.get("email_verified")),
        preferred_username=preferred_username,
        picture=_https_url(text(merged, "picture")),
        roles=tuple(roles),
        groups=tuple(groups),
        sid=text(id_claims, "sid"),
        auth_time=auth_time if isinstance(auth_time, int) and not isinstance(auth_time, bool) else None,
        hosted_domain=text(id_claims, "hd"),
    )
    if dropped:
        log_event(
            "claims_dropped",
            level=logging.WARNING,
            provider=provider.name,
            sub=identity.sub,
            claims=",".join(sorted(dropped)),
        )
    return identity


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


def _strings(value: Any, name: str, dropped: set[str]) -> list[str]:
    """The text of a claim that is one string or a list of them; other items count as absent,
    and ``name`` goes to ``dropped`` when a string among them is not valid text."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    strings = [item for item in items if isinstance(item, str)]
    kept = [item for item in strings if is_text(item)]
    if len(kept) < len(strings):
        dropped.add(name)
    return kept
