"""The provider's accounts, and the stock users that make its tokens look like Keycloak's or Google's.

Kept apart from the provider itself because tests build users (and signing keys) without
starting a provider, and because the claims here alone decide a token's provider "shape".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import RSAKey


@dataclass
class ProviderUser:
    """An account at the provider: ``sub`` plus the claims released about it.

    ``claims`` go verbatim into the ID token, userinfo and (for role claims) the access
    token, so their shape decides whether tokens look like Keycloak's or Google's.
    """

    sub: str
    claims: dict[str, Any] = field(default_factory=dict)


def generate_signing_key(kid: str | None = None) -> RSAKey:
    """Make a fresh RS256 key; tests also use it to build a key for ``sign_with``."""
    return RSAKey.generate_key(2048, parameters={"kid": kid or f"k-{secrets.token_hex(4)}"})


def keycloak_users(client_id: str) -> list[ProviderUser]:
    """Alice (admin) and Bob (user) as a Keycloak realm would describe them.

    Keycloak subjects are UUIDs, not usernames, so products must not confuse ``sub`` with
    ``preferred_username``; ``login_hint="alice"`` still works (matched on the username).
    """
    return [
        ProviderUser(
            sub="5c1f7a2e-9a43-4f0e-8d6b-2f9a1c3e7b10",
            claims={
                "email": "alice@example.com",
                "email_verified": True,
                "name": "Alice Admin",
                "preferred_username": "alice",
                "given_name": "Alice",
                "family_name": "Admin",
                "realm_access": {"roles": ["admin", "user"]},
                "resource_access": {client_id: {"roles": ["editor"]}},
                "groups": ["admins"],
            },
        ),
        ProviderUser(
            sub="b7d2c9e4-1f60-4a8b-9c35-6e0d4a2f8c71",
            claims={
                "email": "bob@example.com",
                "email_verified": True,
                "name": "Bob User",
                "preferred_username": "bob",
                "given_name": "Bob",
                "family_name": "User",
                "realm_access": {"roles": ["user"]},
                "resource_access": {client_id: {"roles": ["viewer"]}},
                "groups": ["analysts"],
            },
        ),
    ]


def google_users() -> list[ProviderUser]:
    """A Workspace user (has ``hd``) and a consumer account (no ``hd``), as Google issues them.

    Google subjects are long numeric strings; ``login_hint`` may be the e-mail address.
    """
    return [
        ProviderUser(
            sub="108234567890123456789",
            claims={
                "email": "ann@corp.example",
                "email_verified": True,
                "hd": "corp.example",
                "name": "Ann Corp",
                "given_name": "Ann",
                "family_name": "Corp",
                "picture": "https://lh3.googleusercontent.example/a/ann=s96-c",
            },
        ),
        ProviderUser(
            sub="117654321098765432109",
            claims={
                "email": "gus@gmail.example",
                "email_verified": True,
                "name": "Gus Gmail",
                "given_name": "Gus",
                "family_name": "Gmail",
                "picture": "https://lh3.googleusercontent.example/a/gus=s96-c",
            },
        ),
    ]
