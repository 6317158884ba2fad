"""Per-provider settings, with presets for the providers organisations use most.

A provider's *kind* decides its defaults: ``google`` knows Google's issuer and
its hosted-domain rule, ``keycloak`` builds the issuer from a server URL and
realm, ``oidc`` is any standards-compliant provider named by its issuer. The
kind defaults to the provider's name when that name is a known kind, so
``AUTH_PROVIDERS=google`` needs only a client id and secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from .reader import EnvReader
from .secret import Secret

ProviderKind = Literal["oidc", "google", "keycloak"]
KINDS: tuple[ProviderKind, ...] = ("oidc", "google", "keycloak")

GOOGLE_ISSUER = "https://accounts.google.com"
# Google documents both forms of its issuer in ID tokens (OpenID Connect guide,
# "Validating an ID token"); google-auth accepts both as well.
GOOGLE_ISSUERS = (GOOGLE_ISSUER, "accounts.google.com")
DEFAULT_SCOPES = ("openid", "email", "profile")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
PROMPT_VALUES = ("none", "login", "consent", "select_account")
LogoutMode = Literal["provider", "local"]
LOGOUT_MODES: tuple[LogoutMode, ...] = ("provider", "local")

PROVIDER_SUFFIXES = (
    "KIND",
    "ISSUER",
    "DISCOVERY_URL",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CLIENT_SECRET_FILE",
    "SCOPES",
    "LABEL",
    "ICON",
    "PROMPT",
    "TOKEN_AUTH_METHOD",
    "URL",
    "REALM",
    "HOSTED_DOMAIN",
    "LOGOUT",
    "ACCESS_TYPE",
)


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    kind: ProviderKind
    issuer: str
    client_id: str
    client_secret: Secret
    discovery_url: str
    accepted_issuers: tuple[str, ...]
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    label: str = ""
    icon: str | None = None
    prompt: str | None = None
    token_auth_method: str | None = None
    hosted_domains: tuple[str, ...] = ()
    #: the setting the issuer came from, for messages (Keycloak's is built from URL + REALM)
    issuer_setting: str = ""
    discovery_url_explicit: bool = False
    #: "provider": log out at the provider too (end-session, else token revocation); "local": only here
    logout: LogoutMode = "provider"
    #: Google only: "offline" asks for a refresh token (``access_type=offline`` with ``prompt=consent``)
    access_type: str | None = None

    @property
    def env_name(self) -> str:
        return self.name.upper()

    def configured_urls(self) -> list[tuple[str, str]]:
        """(setting, URL) for every provider URL the settings name directly."""
        urls = [(self.issuer_setting or f"AUTH_{self.env_name}_ISSUER", self.issuer)]
        if self.discovery_url_explicit:
            urls.append((f"AUTH_{self.env_name}_DISCOVERY_URL", self.discovery_url))
        return urls

    def authorization_params(self) -> dict[str, str]:
        """Extra authorization-request parameters this provider's kind calls for."""
        params: dict[str, str] = {}
        prompt = self.prompt
        if self.access_type == "offline":
            # Google returns a refresh token only on a consent screen, so offline access asks for it.
            params["access_type"] = "offline"
            prompt = " ".join(dict.fromkeys([*(prompt or "").split(), "consent"]))
        if prompt:
            params["prompt"] = prompt
        if self.hosted_domains:
            # Google's ``hd`` hint takes one domain, or "*" for "any Workspace account".
            params["hd"] = self.hosted_domains[0] if len(self.hosted_domains) == 1 else "*"
        return params


def read_provider(reader: EnvReader, name: str) -> ProviderSettings | None:
    prefix = f"AUTH_{name.upper()}_"
    kind = _read_kind(reader, prefix, name)
    issuer = _read_issuer(reader, prefix, kind)
    client_id = reader.get(f"{prefix}CLIENT_ID")
    if client_id is None:
        reader.problem(f"{prefix}CLIENT_ID is required (the client id registered at the provider)")
    client_secret = reader.secret(f"{prefix}CLIENT_SECRET")
    if client_secret is None and not reader.has_problem_for(f"{prefix}CLIENT_SECRET"):
        reader.problem(
            f"{prefix}CLIENT_SECRET (or {prefix}CLIENT_SECRET_FILE) is required "
            "(the client secret issued by the provider)"
        )
    scopes = _read_scopes(reader, prefix)
    prompt = _read_prompt(reader, prefix, kind)
    token_auth_method = reader.get(f"{prefix}TOKEN_AUTH_METHOD")
    if token_auth_method is not None and token_auth_method not in TOKEN_AUTH_METHODS:
        reader.problem(
            f"{prefix}TOKEN_AUTH_METHOD must be one of {', '.join(TOKEN_AUTH_METHODS)}, got {token_auth_method!r}"
        )
    hosted_domains = _read_hosted_domains(reader, prefix, kind)
    discovery_url = reader.get(f"{prefix}DISCOVERY_URL")
    if discovery_url is not None and not _is_http_url(discovery_url):
        reader.problem(f"{prefix}DISCOVERY_URL must be an absolute http(s) URL, got {discovery_url!r}")

    logout = _read_logout(reader, prefix)
    access_type = _read_access_type(reader, prefix, kind)

    if issuer is None or client_id is None or client_secret is None:
        return None
    from_url = kind == "keycloak" and reader.get(f"{prefix}URL") is not None
    accepted = GOOGLE_ISSUERS if kind == "google" and issuer == GOOGLE_ISSUER else (issuer,)
    return ProviderSettings(
        name=name,
        kind=kind,
        issuer=issuer,
        client_id=client_id,
        client_secret=client_secret,
        discovery_url=discovery_url or f"{issuer}/.well-known/openid-configuration",
        accepted_issuers=accepted,
        scopes=scopes,
        label=reader.get(f"{prefix}LABEL") or _default_label(kind, name),
        icon=reader.get(f"{prefix}ICON"),
        prompt=prompt,
        token_auth_method=token_auth_method if token_auth_method in TOKEN_AUTH_METHODS else None,
        hosted_domains=hosted_domains,
        issuer_setting=f"{prefix}URL" if from_url else f"{prefix}ISSUER",
        discovery_url_explicit=discovery_url is not None,
        logout=logout,
        access_type=access_type,
    )


def _read_access_type(reader: EnvReader, prefix: str, kind: ProviderKind) -> str | None:
    raw = reader.get(f"{prefix}ACCESS_TYPE")
    if raw is None:
        return None
    if kind != "google":
        reader.problem(
            f"{prefix}ACCESS_TYPE applies only to Google providers (KIND=google); other providers "
            "give a longer-lived refresh token for the offline_access scope (AUTH_<NAME>_SCOPES)"
        )
        return None
    if raw.lower() not in ("online", "offline"):
        reader.problem(f"{prefix}ACCESS_TYPE must be online or offline, got {raw!r}")
        return None
    return raw.lower()


def _read_logout(reader: EnvReader, prefix: str) -> LogoutMode:
    raw = (reader.get(f"{prefix}LOGOUT") or "provider").strip().lower()
    for mode in LOGOUT_MODES:
        if raw == mode:
            return mode
    reader.problem(
        f"{prefix}LOGOUT must be provider (sign out at the provider too) or local (only in this app), got {raw!r}"
    )
    return "provider"


def _read_kind(reader: EnvReader, prefix: str, name: str) -> ProviderKind:
    raw = reader.get(f"{prefix}KIND")
    if raw is None:
        return _kind(name) or "oidc"
    kind = _kind(raw.lower())
    if kind is None:
        reader.problem(f"{prefix}KIND must be one of {', '.join(KINDS)}, got {raw!r}")
        return "oidc"
    return kind


def _kind(text: str) -> ProviderKind | None:
    for kind in KINDS:
        if text == kind:
            return kind
    return None


def _read_issuer(reader: EnvReader, prefix: str, kind: ProviderKind) -> str | None:
    issuer = reader.get(f"{prefix}ISSUER")
    if kind == "keycloak":
        url, realm = reader.get(f"{prefix}URL"), reader.get(f"{prefix}REALM")
        if issuer is not None and (url is not None or realm is not None):
            reader.problem(f"set either {prefix}ISSUER or {prefix}URL + {prefix}REALM for Keycloak, not both")
            return None
        if issuer is None:
            if url is None or realm is None:
                reader.problem(
                    f"{prefix}URL and {prefix}REALM are required for Keycloak (issuer "
                    f"<url>/realms/<realm>), or set {prefix}ISSUER"
                )
                return None
            issuer = f"{url.rstrip('/')}/realms/{realm}"
    elif kind == "google" and issuer is None:
        issuer = GOOGLE_ISSUER
    if issuer is None:
        reader.problem(f"{prefix}ISSUER is required (the provider's issuer URL, e.g. https://login.example.com)")
        return None
    issuer = issuer.rstrip("/")
    if not _is_http_url(issuer) or urlsplit(issuer).query or urlsplit(issuer).fragment:
        reader.problem(f"{prefix}ISSUER must be an absolute http(s) URL without query or fragment, got {issuer!r}")
        return None
    return issuer


def _read_scopes(reader: EnvReader, prefix: str) -> tuple[str, ...]:
    raw = reader.get(f"{prefix}SCOPES")
    if raw is None:
        return DEFAULT_SCOPES
    scopes = tuple(dict.fromkeys(raw.replace(",", " ").split()))
    if "openid" not in scopes:
        reader.problem(f"{prefix}SCOPES must include 'openid', got {raw!r}")
    return scopes


def _read_prompt(reader: EnvReader, prefix: str, kind: ProviderKind) -> str | None:
    raw = reader.get(f"{prefix}PROMPT")
    if raw is None:
        return "select_account" if kind == "google" else None
    values = raw.split()
    if raw.lower() in {"-", "off"}:
        return None
    unknown = [value for value in values if value not in PROMPT_VALUES]
    if unknown:
        reader.problem(
            f"{prefix}PROMPT: {' '.join(unknown)!r} is not a prompt value; use any of "
            f"{', '.join(PROMPT_VALUES)} (space-separated), or 'off'"
        )
        return None
    return " ".join(values)


def _read_hosted_domains(reader: EnvReader, prefix: str, kind: ProviderKind) -> tuple[str, ...]:
    raw = reader.get(f"{prefix}HOSTED_DOMAIN")
    if raw is None:
        return ()
    if kind != "google":
        reader.problem(f"{prefix}HOSTED_DOMAIN applies only to Google providers (KIND=google)")
        return ()
    return tuple(d.strip().lower() for d in raw.split(",") if d.strip())


def _default_label(kind: ProviderKind, name: str) -> str:
    if kind == "google":
        return "Google"
    if kind == "keycloak":
        return "Keycloak"
    return name.replace("_", " ").title()


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)
