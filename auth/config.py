"""Settings, read from the environment once at start-up.

``load_settings(environ)`` checks everything and raises one
``ConfigurationError`` listing every problem (the setting, the rule, never a
secret's value), so an operator fixes a deployment in one pass. Provider
kinds with presets (Google, Keycloak) live in ``auth.presets``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .app_id import APP_ID_PATTERN, derive_app_id
from .errors import ConfigurationError
from .presets import PROVIDER_SUFFIXES, ProviderSettings, read_provider
from .reader import EnvReader, is_loopback_host, url_allowed
from .secret import Secret
from .stores.factory import StoreSpec, parse_store_url

DEFAULT_PUBLIC_URL = "http://localhost:8501"
DEFAULT_SESSION_TIMEOUT = 600.0
DEFAULT_SESSION_MAX_AGE = 8 * 3600.0
# Relative to the working directory the app is started from (like .env); .gitignore'd.
DEFAULT_STORE = "sqlite:///.streamlit-auth/sessions.db"
DEFAULT_COOKIE_NAME = "streamlit_auth"
DEFAULT_HTTP_TIMEOUT = 10.0
DEFAULT_PORT = 8501
# Sign-in attempts (/auth/login and /auth/callback requests) one client address may
# make per minute; a sign-in is two requests. Generous enough for an office behind one NAT.
DEFAULT_RATE_LIMIT = 120
# Provider calls (code exchange, discovery) in flight at once, and how many more may wait.
DEFAULT_PROVIDER_CONCURRENCY = 16
MIN_SECRET_LENGTH = 32
# Chrome caps cookie lifetimes at 400 days; a longer timeout would silently shrink.
MAX_SESSION_TIMEOUT = 400 * 86400.0
# Marks the throw-away secrets committed for the local docker stack; they must
# never protect a deployment reachable from anywhere but this machine.
DEV_SECRET_MARKER = "insecure-dev-only"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

PROVIDER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_.\-]*[a-z0-9_])?$")
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"

GLOBAL_SETTINGS = (
    "AUTH_PROVIDERS",
    "AUTH_PUBLIC_URL",
    "AUTH_APP_ID",
    "AUTH_COOKIE_SECRET",
    "AUTH_COOKIE_SECRET_FILE",
    "AUTH_SESSION_TIMEOUT",
    "AUTH_SESSION_MAX_AGE",
    "AUTH_STORE",
    "AUTH_STORE_FILE",
    "AUTH_COOKIE_NAME",
    "AUTH_COOKIE_SECURE",
    "AUTH_HTTP_TIMEOUT",
    "AUTH_LOG_LEVEL",
    "AUTH_ENV_FILE",
    "AUTH_LEGACY_CALLBACK",
    "AUTH_INSECURE_PROVIDER_HOSTS",
    "AUTH_RATE_LIMIT",
    "AUTH_PROVIDER_CONCURRENCY",
    "AUTH_ALLOWED_DOMAINS",
    "AUTH_ALLOWED_EMAILS",
    "AUTH_REQUIRED_ROLES",
    "AUTH_REQUIRED_GROUPS",
)


@dataclass(frozen=True)
class AccessRules:
    """Who may hold a session at all. Empty rules admit every signed-in user.

    Each configured category must pass; within a category any one match is
    enough. Email rules use only a verified email.
    """

    allowed_domains: tuple[str, ...] = ()
    allowed_emails: tuple[str, ...] = ()
    required_roles: tuple[str, ...] = ()
    required_groups: tuple[str, ...] = ()

    @property
    def restricts_email(self) -> bool:
        return bool(self.allowed_domains or self.allowed_emails)


@dataclass(frozen=True)
class Settings:
    providers: tuple[ProviderSettings, ...]
    cookie_secrets: tuple[Secret, ...]
    public_url: str = DEFAULT_PUBLIC_URL
    base_path: str = ""
    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    cookie_name: str = DEFAULT_COOKIE_NAME
    cookie_secure: bool = False
    http_timeout: float = DEFAULT_HTTP_TIMEOUT
    access: AccessRules = field(default_factory=AccessRules)
    log_level: str = "INFO"
    warnings: tuple[str, ...] = ()
    #: False when AUTH_PUBLIC_URL is unset and the URL follows the port Streamlit serves on.
    public_url_explicit: bool = True
    #: Send and accept the shared ``/auth/callback`` (one provider only), for old registrations.
    legacy_callback: bool = False
    #: Hosts besides loopback that provider URLs may reach over plain http (development networks).
    insecure_provider_hosts: tuple[str, ...] = ()
    #: Sign-in requests per minute per client address; 0 turns the limit off.
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT
    provider_concurrency: int = DEFAULT_PROVIDER_CONCURRENCY
    #: where server-side sessions live (``AUTH_STORE``); kind "none" keeps only the cookie
    store: StoreSpec = field(default_factory=lambda: StoreSpec("memory"))
    #: the absolute cap on a session with a store; without one ``session_timeout`` is the cap
    session_max_age: float = DEFAULT_SESSION_MAX_AGE
    #: the app sessions are bound to (``AUTH_APP_ID``, else derived: see ``auth.app_id``); empty
    #: for settings built by hand in tests, which then bind to nothing
    app_id: str = ""
    #: True when ``app_id`` comes from AUTH_APP_ID
    app_id_explicit: bool = False

    @property
    def stateful(self) -> bool:
        """Sessions live in a store: idle timeout, revocation, full claims."""
        return self.store.kind != "none"

    @property
    def session_lifetime(self) -> float:
        """How long a session can last at most: the cookie's Max-Age and signature age."""
        return self.session_max_age if self.stateful else self.session_timeout

    def callback_path(self, provider: str) -> str:
        """The callback path for ``provider`` under the base path: one per provider, so a
        response can only complete a sign-in started with that provider (RFC 9700 §4.4.2)."""
        if self.legacy_callback:
            return f"{self.base_path}/auth/callback"
        return f"{self.base_path}/auth/callback/{provider}"

    def redirect_uri(self, provider: str, public_url: str | None = None) -> str:
        """The redirect URI to register at ``provider``: ``<AUTH_PUBLIC_URL>/auth/callback/<name>``."""
        origin = _origin(public_url or self.public_url)
        return f"{origin}{self.callback_path(provider)}"

    @property
    def cookie_path(self) -> str:
        return self.base_path or "/"

    def provider(self, name: str) -> ProviderSettings | None:
        for provider in self.providers:
            if provider.name == name:
                return provider
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def read_environment(dotenv_path: str | Path | None = ".env") -> dict[str, str]:
    """The process environment over the ``.env`` file: real variables win."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ)
    return merged


def normalize_base_path(base_url_path: str | None) -> str:
    """Streamlit's ``server.baseUrlPath`` ("app", "/app/") as a path prefix ("/app")."""
    stripped = (base_url_path or "").strip().strip("/")
    return f"/{stripped}" if stripped else ""


def parse_duration(text: str) -> float:
    """Seconds from ``"600"``, ``"30s"``, ``"10m"``, ``"8h"`` or ``"1d"``; raises ValueError."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)


def split_list(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(item.strip() for item in text.split(",") if item.strip())


def load_settings(
    environ: Mapping[str, str],
    *,
    base_path: str = "",
    port: int = DEFAULT_PORT,
    base_dir: Path | None = None,
) -> Settings:
    """Validate the whole configuration; raise ``ConfigurationError`` with every problem.

    ``port`` is the port Streamlit is configured to serve on: without
    ``AUTH_PUBLIC_URL`` the app's URL is ``http://localhost:<port>``. ``base_dir``
    anchors a relative SQLite store path (default: the working directory, like ``.env``).
    """
    reader = EnvReader(environ)
    base_path = normalize_base_path(base_path)

    providers = _read_providers(reader)
    public_url = _read_public_url(reader, base_path, port)
    secrets = _read_cookie_secrets(reader, public_url)
    timeout = _read_duration(reader, "AUTH_SESSION_TIMEOUT", DEFAULT_SESSION_TIMEOUT)
    store = _read_store(reader, base_dir or Path.cwd())
    max_age = _read_session_max_age(reader, store, timeout)
    http_timeout = _read_http_timeout(reader)
    secure = _read_cookie_secure(reader, public_url)
    cookie_name = _read_cookie_name(reader, secure, base_path, public_url)
    app_id = _read_app_id(reader, cookie_name, public_url, base_path)
    legacy_callback = _read_legacy_callback(reader, providers)
    insecure_hosts = _read_insecure_hosts(reader)
    rate_limit = _read_rate_limit(reader)
    concurrency = _read_positive_int(reader, "AUTH_PROVIDER_CONCURRENCY", DEFAULT_PROVIDER_CONCURRENCY, 1, 256)
    access = AccessRules(
        allowed_domains=tuple(d.lower().lstrip("@") for d in split_list(reader.get("AUTH_ALLOWED_DOMAINS"))),
        allowed_emails=tuple(e.lower() for e in split_list(reader.get("AUTH_ALLOWED_EMAILS"))),
        required_roles=split_list(reader.get("AUTH_REQUIRED_ROLES")),
        required_groups=split_list(reader.get("AUTH_REQUIRED_GROUPS")),
    )
    for provider in providers:
        for name, url in provider.configured_urls():
            if urlsplit(url).scheme == "http" and not url_allowed(url, insecure_hosts):
                reader.problem(
                    f"{name} must use https: plain http is accepted only for a provider on this "
                    "machine (localhost, 127.0.0.1) or on a host listed in AUTH_INSECURE_PROVIDER_HOSTS, "
                    f"got host {urlsplit(url).hostname!r}"
                )

    log_level = (reader.get("AUTH_LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        reader.problem(f"AUTH_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    if reader.problems:
        raise ConfigurationError(reader.problems)
    return Settings(
        providers=tuple(providers),
        cookie_secrets=secrets,
        public_url=public_url,
        base_path=base_path,
        session_timeout=timeout,
        cookie_name=cookie_name,
        cookie_secure=secure,
        http_timeout=http_timeout,
        access=access,
        log_level=log_level,
        warnings=tuple(_unused_setting_warnings(reader, providers)),
        public_url_explicit=reader.get("AUTH_PUBLIC_URL") is not None,
        legacy_callback=legacy_callback,
        insecure_provider_hosts=insecure_hosts,
        rate_limit_per_minute=rate_limit,
        provider_concurrency=concurrency,
        store=store,
        session_max_age=max_age,
        app_id=app_id,
        app_id_explicit=reader.get("AUTH_APP_ID") is not None,
    )


def _read_store(reader: EnvReader, base_dir: Path) -> StoreSpec:
    raw = reader.secret("AUTH_STORE")
    try:
        return parse_store_url(raw.value if raw is not None else DEFAULT_STORE, base_dir=base_dir)
    except ValueError as error:
        reader.problem(f"AUTH_STORE: {error}")
        return StoreSpec("none")


def _read_session_max_age(reader: EnvReader, store: StoreSpec, idle_timeout: float) -> float:
    """The absolute cap; with a store AUTH_SESSION_TIMEOUT is the idle timeout and must be shorter."""
    max_age = _read_duration(reader, "AUTH_SESSION_MAX_AGE", DEFAULT_SESSION_MAX_AGE)
    if store.kind == "none":
        return idle_timeout
    if idle_timeout > max_age:
        reader.problem(
            f"AUTH_SESSION_TIMEOUT ({_describe(idle_timeout)}) is the idle timeout and is longer than "
            f"AUTH_SESSION_MAX_AGE ({_describe(max_age)}), the most a session can last: shorten "
            "AUTH_SESSION_TIMEOUT or raise AUTH_SESSION_MAX_AGE"
        )
    return max_age


def _describe(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _read_providers(reader: EnvReader) -> list[ProviderSettings]:
    raw = reader.get("AUTH_PROVIDERS")
    if raw is None:
        reader.problem(
            "AUTH_PROVIDERS is required: a comma-separated list of provider names, "
            "e.g. AUTH_PROVIDERS=google or AUTH_PROVIDERS=google,keycloak"
        )
        return []
    providers: list[ProviderSettings] = []
    seen: set[str] = set()
    for name in split_list(raw):
        if not PROVIDER_NAME.match(name):
            reader.problem(
                f"AUTH_PROVIDERS: {name!r} is not a valid provider name "
                "(use letters, digits and underscores, starting with a letter)"
            )
            continue
        if name.lower() in seen:
            reader.problem(f"AUTH_PROVIDERS: {name.lower()!r} is listed twice")
            continue
        seen.add(name.lower())
        provider = read_provider(reader, name.lower())
        if provider is not None:
            providers.append(provider)
    if not seen and not reader.problems:
        reader.problem("AUTH_PROVIDERS is empty: name at least one provider, e.g. AUTH_PROVIDERS=google")
    return providers


def _read_public_url(reader: EnvReader, base_path: str, port: int) -> str:
    raw = reader.get("AUTH_PUBLIC_URL")
    if raw is None:
        return f"http://localhost:{port}{base_path}"
    url = raw.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        reader.problem(f"AUTH_PUBLIC_URL must be an absolute http(s) URL such as https://apps.example.com, got {raw!r}")
        return url
    if parts.query or parts.fragment:
        reader.problem("AUTH_PUBLIC_URL must not contain a query string or fragment")
    if parts.path.rstrip("/") != base_path:
        reader.problem(
            f"AUTH_PUBLIC_URL: its path {parts.path or '/'!r} must match Streamlit's "
            f"server.baseUrlPath ({base_path or '/'!r}), because the app serves "
            "<AUTH_PUBLIC_URL>/auth/callback/<provider>"
        )
    return url


def _read_cookie_secrets(reader: EnvReader, public_url: str) -> tuple[Secret, ...]:
    raw = reader.secret("AUTH_COOKIE_SECRET")
    if raw is None:
        if not reader.has_problem_for("AUTH_COOKIE_SECRET"):
            reader.problem(
                "AUTH_COOKIE_SECRET is required: one or more comma-separated random secrets "
                f"of at least {MIN_SECRET_LENGTH} characters (generate one with: {_GENERATE_HINT})"
            )
        return ()
    secrets = tuple(Secret(part.strip()) for part in raw.value.split(",") if part.strip())
    if not secrets:
        reader.problem("AUTH_COOKIE_SECRET is empty")
    for index, secret in enumerate(secrets, start=1):
        if len(secret) < MIN_SECRET_LENGTH:
            reader.problem(
                f"AUTH_COOKIE_SECRET: secret #{index} is {len(secret)} characters long; each "
                f"secret needs at least {MIN_SECRET_LENGTH} (generate one with: {_GENERATE_HINT})"
            )
        if DEV_SECRET_MARKER in secret.value and not is_loopback_host(urlsplit(public_url).hostname):
            reader.problem(
                f"AUTH_COOKIE_SECRET: secret #{index} is a published development secret and "
                "AUTH_PUBLIC_URL is not on this machine; generate your own"
            )
    return secrets


def _read_duration(reader: EnvReader, name: str, default: float) -> float:
    raw = reader.get(name)
    if raw is None:
        return default
    try:
        seconds = parse_duration(raw)
    except ValueError:
        reader.problem(
            f"{name}: {raw!r} is not a duration; use seconds (600) or a number with s, m, h or d (30s, 10m, 8h, 1d)"
        )
        return default
    if not 1 <= seconds <= MAX_SESSION_TIMEOUT:
        reader.problem(f"{name} must be between 1s and 400d, got {raw!r}")
        return default
    return seconds


def _read_http_timeout(reader: EnvReader) -> float:
    raw = reader.get("AUTH_HTTP_TIMEOUT")
    if raw is None:
        return DEFAULT_HTTP_TIMEOUT
    try:
        seconds = parse_duration(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 120:
        reader.problem(f"AUTH_HTTP_TIMEOUT must be a duration between 0 and 120 seconds, got {raw!r}")
        return DEFAULT_HTTP_TIMEOUT
    return seconds


def _read_cookie_secure(reader: EnvReader, public_url: str) -> bool:
    default = urlsplit(public_url).scheme == "https"
    raw = reader.get("AUTH_COOKIE_SECURE")
    if raw is None:
        return default
    try:
        return parse_bool(raw)
    except ValueError:
        reader.problem(f"AUTH_COOKIE_SECURE must be true or false, got {raw!r}")
        return default


def _read_cookie_name(reader: EnvReader, secure: bool, base_path: str, public_url: str) -> str:
    """The session cookie's name; ``__Host-`` by default on https at the root path.

    RFC 6265bis §4.1.3.2: a ``__Host-`` cookie is Secure, host-only and Path=/,
    so a sibling subdomain cannot plant or overwrite it (login CSRF).
    """
    name = reader.get("AUTH_COOKIE_NAME")
    if name is None:
        https_root = urlsplit(public_url).scheme == "https" and not base_path
        return f"__Host-{DEFAULT_COOKIE_NAME}" if https_root and secure else DEFAULT_COOKIE_NAME
    if not _COOKIE_NAME.match(name):
        reader.problem(f"AUTH_COOKIE_NAME: {name!r} is not a valid cookie name (letters, digits, '-' and '_')")
    # RFC 6265bis §4.1.3: browsers drop prefixed cookies that break the prefix's rules.
    if name.startswith("__Secure-") and not secure:
        reader.problem("AUTH_COOKIE_NAME starts with __Secure-, which needs AUTH_COOKIE_SECURE=true")
    if name.startswith("__Host-") and (not secure or base_path):
        reader.problem(
            "AUTH_COOKIE_NAME starts with __Host-, which needs AUTH_COOKIE_SECURE=true "
            "and an app served at the root path (no server.baseUrlPath)"
        )
    return name


def _read_app_id(reader: EnvReader, cookie_name: str, public_url: str, base_path: str) -> str:
    """``AUTH_APP_ID``, else one derived from the cookie name and the public URL's host and path."""
    raw = reader.get("AUTH_APP_ID")
    if raw is None:
        return derive_app_id(cookie_name, public_url, base_path)
    if not APP_ID_PATTERN.fullmatch(raw):
        reader.problem(
            "AUTH_APP_ID must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit (it becomes part of store keys), got {raw[:80]!r}"
        )
        return derive_app_id(cookie_name, public_url, base_path)
    return raw


def _read_bool(reader: EnvReader, name: str, default: bool) -> bool:
    raw = reader.get(name)
    if raw is None:
        return default
    try:
        return parse_bool(raw)
    except ValueError:
        reader.problem(f"{name} must be true or false, got {raw!r}")
        return default


def _read_legacy_callback(reader: EnvReader, providers: list[ProviderSettings]) -> bool:
    legacy = _read_bool(reader, "AUTH_LEGACY_CALLBACK", False)
    if legacy and len(providers) > 1:
        reader.problem(
            "AUTH_LEGACY_CALLBACK=true needs exactly one provider: with several, one shared "
            "callback lets a hostile provider take over accounts at another (mix-up attack); "
            "register <AUTH_PUBLIC_URL>/auth/callback/<provider> at each provider and remove the setting"
        )
        return False
    return legacy


def _read_insecure_hosts(reader: EnvReader) -> tuple[str, ...]:
    """Host names (never URLs or ports) that provider URLs may reach over plain http."""
    hosts = tuple(host.lower() for host in split_list(reader.get("AUTH_INSECURE_PROVIDER_HOSTS")))
    for host in hosts:
        if not _HOST_NAME.match(host):
            reader.problem(
                f"AUTH_INSECURE_PROVIDER_HOSTS: {host!r} is not a host name; list names only, "
                "e.g. AUTH_INSECURE_PROVIDER_HOSTS=keycloak"
            )
    return hosts


def _read_rate_limit(reader: EnvReader) -> int:
    raw = reader.get("AUTH_RATE_LIMIT")
    if raw is None:
        return DEFAULT_RATE_LIMIT
    text = raw.strip().lower()
    if text in {"off", "0", "none"}:
        return 0
    match = re.fullmatch(r"(\d+)\s*(?:/\s*(?:min|minute|m))?", text)
    if not match or not 1 <= int(match.group(1)) <= 100_000:
        reader.problem(
            f"AUTH_RATE_LIMIT must be a number of sign-in requests per minute and client "
            f"address between 1 and 100000 (e.g. 120/min), or off; got {raw!r}"
        )
        return DEFAULT_RATE_LIMIT
    return int(match.group(1))


def _read_positive_int(reader: EnvReader, name: str, default: int, low: int, high: int) -> int:
    raw = reader.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        reader.problem(f"{name} must be a whole number between {low} and {high}, got {raw!r}")
        return default
    return value


def _unused_setting_warnings(reader: EnvReader, providers: list[ProviderSettings]) -> list[str]:
    """Name AUTH_* variables that nothing reads: usually a typo or a forgotten provider."""
    configured = {provider.env_name: provider for provider in providers}
    known = set(GLOBAL_SETTINGS) | {f"AUTH_{p}_{suffix}" for p in configured for suffix in PROVIDER_SUFFIXES}
    suffixes = "|".join(PROVIDER_SUFFIXES)
    warnings = []
    for name in sorted(reader.unread("AUTH_")):
        if name in GLOBAL_SETTINGS:
            continue
        match = re.match(rf"^AUTH_([A-Z0-9_]+?)_({suffixes})$", name)
        if match and match.group(1) in configured:
            kind = configured[match.group(1)].kind
            warnings.append(f"{name} is ignored: it does not apply to a provider of kind {kind}")
            continue
        if match:
            warnings.append(f"{name} is ignored: provider {match.group(1).lower()!r} is not in AUTH_PROVIDERS")
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a setting this app reads{hint}")
    return warnings
