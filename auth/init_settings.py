"""What ``python -m auth init`` puts in ``.env``: the provider asked for, the public URL, a cookie secret.

The provider's settings follow its kind's preset (``auth.presets``): Google
needs only a client, Keycloak a server URL and realm (or an issuer), any other
provider its issuer. A value not given on the command line is written as an
empty placeholder under a comment that says where to find it, so start-up's
own message ("AUTH_GOOGLE_CLIENT_ID is required ...") names what is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .config import PROVIDER_NAME, split_list
from .init_files import EnvSetting, UnwritableValue
from .presets import KINDS

#: where each kind's settings come from, above its first setting in ``.env``
PROVIDER_HELP = {
    "google": 'An OAuth client of type "Web application" at https://console.cloud.google.com/apis/credentials.',
    "keycloak": "The Keycloak server (https://sso.example.com) and realm, and a client there with\n"
    "Client authentication on and the Standard flow.",
    "oidc": "The provider's issuer URL (its discovery document is at\n"
    "<issuer>/.well-known/openid-configuration) and the client registered there.",
}


class InitUsageError(ValueError):
    """Options that cannot be carried out as given: nothing is written."""


@dataclass(frozen=True)
class InitOptions:
    """The command line of ``python -m auth init``; ``provider`` None means the development provider."""

    provider: str | None = None
    kind: str | None = None
    issuer: str | None = None
    url: str | None = None
    realm: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    public_url: str | None = None
    entry: str | None = None
    force: bool = False


def provider_kind(options: InitOptions) -> str:
    """The preset the provider gets: ``--kind``, else its name when that is a kind, else ``oidc``
    (the rule ``AUTH_<NAME>_KIND`` follows at start-up)."""
    if options.kind:
        return options.kind
    name = (options.provider or "").lower()
    return name if name in KINDS else "oidc"


def provider_settings(options: InitOptions, current: Mapping[str, str | None]) -> list[EnvSetting]:
    """``AUTH_PROVIDERS`` gaining the provider, then the provider's own settings.

    ``current`` is what ``.env`` sets now: a provider already listed stays, so a
    second run adds a second provider instead of replacing the first."""
    name = (options.provider or "").lower()
    if not PROVIDER_NAME.match(name):
        raise InitUsageError(
            f"--provider {options.provider!r}: use letters, digits and underscores, starting with a letter"
        )
    kind = provider_kind(options)
    prefix = f"AUTH_{name.upper()}_"
    listed = split_list(current.get("AUTH_PROVIDERS"))
    providers = listed if name in (item.lower() for item in listed) else [*listed, name]
    settings = [
        EnvSetting("AUTH_PROVIDERS", ",".join(providers), "The providers on the login page, one button each.", "extend")
    ]
    if options.kind and options.kind != (name if name in KINDS else "oidc"):
        settings.append(EnvSetting(f"{prefix}KIND", options.kind, policy="explicit"))
    if kind == "keycloak":
        wanted = ["ISSUER"] if options.issuer else ["URL", "REALM"]
    elif kind == "google":
        wanted = ["ISSUER"] if options.issuer else []  # Google's issuer is the preset's
    else:
        wanted = ["ISSUER"]
    given = {"ISSUER": options.issuer, "URL": options.url, "REALM": options.realm}
    for key, value in given.items():
        if value and key not in wanted:
            raise InitUsageError(f"--{key.lower()} does not apply to a provider of kind {kind}")
    given |= {"CLIENT_ID": options.client_id, "CLIENT_SECRET": options.client_secret}
    for index, key in enumerate([*wanted, "CLIENT_ID", "CLIENT_SECRET"]):
        comment = PROVIDER_HELP[kind] if index == 0 else ""
        settings.append(EnvSetting(f"{prefix}{key}", given[key] or "", comment, "explicit"))
    return settings


def planned_settings(
    options: InitOptions, current: Mapping[str, str | None], *, default_public_url: str, new_secret: str
) -> list[EnvSetting]:
    """Everything ``.env`` should set; ``InitUsageError`` for a value ``.env`` cannot hold."""
    settings = provider_settings(options, current) if options.provider else []
    settings.append(
        EnvSetting(
            "AUTH_PUBLIC_URL",
            options.public_url or default_public_url,
            "The URL users open; the URIs registered at the provider start with it.",
            "explicit" if options.public_url else "default",
        )
    )
    settings.append(
        EnvSetting(
            "AUTH_COOKIE_SECRET",
            new_secret,
            "Signs the session cookie; generated for this app. The same on every replica, never shared.",
        )
    )
    for setting in settings:
        try:
            setting.line()
        except UnwritableValue as error:
            raise InitUsageError(f"{setting.name}: {error}") from None
    return settings
