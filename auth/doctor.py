"""``python -m auth doctor``: check a deployment's sign-in set-up before users do.

Loads the configuration exactly as the app does, then talks to every
provider (discovery, JWKS, the token endpoint's client authentication) with
timeouts, and prints one line per check. Exit status 1 on any problem, so
it can gate a deployment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import requests

from .address import PublicAddress
from .config import Settings, load_settings
from .errors import ConfigurationError, LoginError, ProviderTimeout
from .id_token import DEFAULT_LEEWAY, allowed_algorithms
from .oidc import ProviderClient
from .reader import is_loopback_host
from .stores.base import StoreUnavailable
from .stores.factory import open_store

SKEW_WARNING_SECONDS = 10.0


@dataclass
class Report:
    out: TextIO
    problems: int = 0
    warnings: int = 0
    lines: list[str] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self._line("ok  ", text)

    def info(self, text: str) -> None:
        self._line("    ", text)

    def warn(self, text: str) -> None:
        self.warnings += 1
        self._line("WARN", text)

    def fail(self, text: str) -> None:
        self.problems += 1
        self._line("FAIL", text)

    def heading(self, text: str) -> None:
        self.out.write(f"\n{text}\n")

    def _line(self, tag: str, text: str) -> None:
        self.out.write(f"  {tag}  {text}\n")


def run_doctor(environ: dict[str, str], *, base_path: str, out: TextIO, clock: Callable[[], float] = time.time) -> int:
    report = Report(out)
    report.heading("Configuration")
    try:
        settings = load_settings(environ, base_path=base_path)
    except ConfigurationError as error:
        for problem in error.problems:
            report.fail(problem)
        out.write(f"\n{report.problems} problem(s): fix the configuration first.\n")
        return 1
    check_settings(settings, report)
    check_store(settings, report)
    for provider in settings.providers:
        client = ProviderClient(
            provider,
            redirect_uri=settings.redirect_uri(provider.name),
            timeout=settings.http_timeout,
            insecure_hosts=settings.insecure_provider_hosts,
        )
        report.heading(f"Provider {provider.name!r} ({provider.kind}, issuer {provider.issuer})")
        report.info(f"redirect URI to register at {provider.label}: {client.redirect_uri}")
        check_provider(client, report, clock, settings)
    out.write(f"\n{report.problems} problem(s), {report.warnings} warning(s).\n")
    return 1 if report.problems else 0


def check_settings(settings: Settings, report: Report) -> None:
    names = ", ".join(p.name for p in settings.providers)
    report.ok(f"{len(settings.providers)} provider(s): {names}")
    if settings.legacy_callback:
        report.warn(
            "AUTH_LEGACY_CALLBACK=true: the shared /auth/callback is used; register "
            f"{settings.public_url}/auth/callback/<provider> and remove the setting before adding a provider"
        )
    if settings.insecure_provider_hosts:
        report.warn(
            "AUTH_INSECURE_PROVIDER_HOSTS allows plain http to "
            + ", ".join(settings.insecure_provider_hosts)
            + ": only for private development networks"
        )
    if not settings.public_url_explicit:
        report.info(f"AUTH_PUBLIC_URL is not set: using {settings.public_url} (Streamlit's configured port)")
    public = urlsplit(settings.public_url)
    if public.scheme != "https" and not is_loopback_host(public.hostname):
        report.fail(
            f"AUTH_PUBLIC_URL {settings.public_url} is not https: cookies and codes would cross the network in clear"
        )
    elif public.scheme == "https":
        report.ok("AUTH_PUBLIC_URL is https")
    else:
        report.info("AUTH_PUBLIC_URL is http on this machine (fine for development only)")
    if public.scheme == "https" and not settings.cookie_secure:
        report.warn("AUTH_COOKIE_SECURE is false although AUTH_PUBLIC_URL is https")
    if settings.stateful:
        report.ok(
            f"{len(settings.cookie_secrets)} cookie secret(s); idle timeout {settings.session_timeout:g} s, "
            f"maximum session age {settings.session_max_age:g} s"
        )
    else:
        report.ok(f"{len(settings.cookie_secrets)} cookie secret(s); session timeout {settings.session_timeout:g} s")
    for warning in settings.warnings:
        report.warn(warning)


def check_store(settings: Settings, report: Report) -> None:
    """The session store answers and accepts writes (what sign-in needs)."""
    report.heading(f"Session store ({settings.store.describe()})")
    if not settings.stateful:
        report.warn(
            "AUTH_STORE=none: sessions are the cookie alone: no idle timeout, no server-side logout "
            "(a copied cookie works until AUTH_SESSION_TIMEOUT), no back-channel logout"
        )
        return
    store = open_store(settings.store, app_id=settings.app_id)
    if store is None:
        return
    report.info(
        f"sessions belong to app {settings.app_id!r} "
        + ("(AUTH_APP_ID)" if settings.app_id_explicit else "(derived from the cookie name and the public URL)")
    )
    started = time.perf_counter()
    try:
        store.ping()
    except StoreUnavailable as error:
        report.fail(f"the session store does not answer: {error.failure}; nobody can sign in until it does")
        return
    finally:
        store.close()
    report.ok(f"answers and accepts writes ({(time.perf_counter() - started) * 1000:.0f} ms)")
    if settings.store.kind == "sqlite" and settings.store.path is not None:
        _check_private(settings.store.path, report)
    if settings.store.kind == "memory":
        report.warn("memory:// keeps sessions in one process: lost on restart, not shared between replicas")


def _check_private(path: Path, report: Report) -> None:
    """The SQLite file holds personal data and sealed tokens: readable by the app's user alone."""
    loose = [
        f"{item} is mode {oct(item.stat().st_mode & 0o777)}"
        for item in (path.parent, path)
        if item.exists() and item.stat().st_mode & 0o077
    ]
    if loose:
        report.warn(
            "other users of this machine can read the sessions: "
            + "; ".join(loose)
            + f" (chmod 700 {path.parent}; chmod 600 {path}*)"
        )
    else:
        report.ok("the SQLite file and its folder are private to this user")


def check_provider(
    client: ProviderClient, report: Report, clock: Callable[[], float], settings: Settings | None = None
) -> None:
    url = client.settings.discovery_url
    started = time.perf_counter()
    response = _fetch(url, "discovery", client, report)
    if response is None:
        return
    document = _json_object(response, f"discovery {url}", report)
    if document is None:
        return
    report.ok(f"discovery fetched in {(time.perf_counter() - started) * 1000:.0f} ms from {url}")
    _check_clock(response, report, clock)
    if not _check_metadata(document, client, report):
        return
    if settings is not None:
        _check_logout(document, client, report, settings)
    _check_keys(document, client, report)
    _check_client_authentication(document, client, report)


def _fetch(url: str, what: str, client: ProviderClient, report: Report) -> requests.Response | None:
    """GET exactly as the app does (https rule, timeout, no redirects); a failure
    becomes one FAIL line naming the URL."""
    try:
        response = client.get(url, what)
    except ProviderTimeout:
        report.fail(f"{what} {url} timed out after {client.timeout:g} s")
        return None
    except LoginError as error:
        report.fail(f"{what} {url}: {error.detail.removeprefix(f'provider={client.name} ')}")
        return None
    if response.status_code != 200:
        report.fail(f"{what} {url} answered HTTP {response.status_code}")
        return None
    return response


def _json_object(response: requests.Response, what: str, report: Report) -> dict[str, Any] | None:
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        report.fail(f"{what} is not a JSON object")
        return None
    return document


def _check_clock(response: requests.Response, report: Report, clock: Callable[[], float]) -> None:
    date = response.headers.get("Date")
    if not date:
        report.warn("the provider sent no Date header: clock skew not checked")
        return
    try:
        skew = parsedate_to_datetime(date).timestamp() - clock()
    except (TypeError, ValueError):
        report.warn(f"unreadable Date header {date!r}: clock skew not checked")
        return
    text = f"clock skew against the provider: {skew:+.0f} s (HTTP Date has 1 s resolution)"
    if abs(skew) > DEFAULT_LEEWAY:
        report.fail(
            f"{text}; more than the {DEFAULT_LEEWAY:g} s leeway, so ID tokens would be refused: sync the clocks (NTP)"
        )
    elif abs(skew) > SKEW_WARNING_SECONDS:
        report.warn(text)
    else:
        report.ok(text)


def _check_metadata(document: dict[str, Any], client: ProviderClient, report: Report) -> bool:
    """The app's own discovery checks (``ProviderClient.metadata_problems``), one line each,
    then what only matters here (PKCE, client authentication, end-session)."""
    problems = client.metadata_problems(document)
    if "fields" in problems:
        report.fail(problems["fields"])
        return False
    if "issuer" in problems:
        report.fail(
            f"{problems['issuer']}; they must be equal character for character "
            "(check http/https, trailing slash, realm name)"
        )
    else:
        report.ok("issuer matches the configuration exactly")
    report.info(f"authorization endpoint (browser): {document['authorization_endpoint']}")
    report.info(f"token endpoint (app): {document['token_endpoint']}")
    if "endpoints" in problems:
        report.fail(problems["endpoints"])
        return False
    if document.get("authorization_response_iss_parameter_supported") is True:
        report.ok("RFC 9207 iss in authorization responses advertised: responses without it are refused")

    methods = document.get("code_challenge_methods_supported")
    if methods is None:
        report.warn("PKCE support not advertised (code_challenge_methods_supported); S256 is sent anyway")
    elif "S256" in methods:
        report.ok("PKCE S256 supported")
    else:
        report.fail(f"PKCE S256 not supported (advertised: {', '.join(methods) or 'none'})")

    auth_methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    chosen = client.token_endpoint_auth_method(document)
    if chosen in auth_methods:
        report.ok(f"token endpoint client authentication: {chosen} (supported: {', '.join(auth_methods)})")
    else:
        report.fail(f"token endpoint does not support {chosen} (supported: {', '.join(auth_methods)})")

    if "algorithms" in problems:
        report.fail(problems["algorithms"])
    else:
        algorithms = allowed_algorithms(document.get("id_token_signing_alg_values_supported"))
        report.ok(f"ID-token algorithms accepted: {', '.join(algorithms)}")

    return True


def _check_logout(document: dict[str, Any], client: ProviderClient, report: Report, settings: Settings) -> None:
    """What "Log out" does at this provider, and the two URLs to register for it."""
    address = PublicAddress(settings)
    if client.settings.logout == "local":
        report.info(f"AUTH_{client.settings.env_name}_LOGOUT=local: logout ends the app's session only")
    elif isinstance(document.get("end_session_endpoint"), str):
        report.ok(f"end_session_endpoint: {document['end_session_endpoint']}")
        report.info(
            f"post-logout redirect URI to register at {client.settings.label}: {address.post_logout_redirect_uri()}"
        )
    elif isinstance(document.get("revocation_endpoint"), str):
        report.info("no end_session_endpoint: logout revokes the session's tokens at the revocation endpoint")
    else:
        report.info("no end_session_endpoint or revocation_endpoint: signing out ends the app's session only")
    if document.get("backchannel_logout_supported") is True:
        report.ok(
            "back-channel logout supported (backchannel_logout_supported): register "
            f"{address.backchannel_logout_uri()} as the back-channel logout URL"
            + ("" if settings.stateful else "; it needs a session store (AUTH_STORE is none)")
        )
    else:
        report.info("back-channel logout not advertised: sessions end only here or when they time out")


def _check_keys(document: dict[str, Any], client: ProviderClient, report: Report) -> None:
    jwks_uri = document["jwks_uri"]
    response = _fetch(jwks_uri, "JWKS", client, report)
    keys_document = _json_object(response, f"JWKS {jwks_uri}", report) if response is not None else None
    if keys_document is None:
        return
    try:
        keys = client.parse_key_set(keys_document)
    except LoginError:
        report.fail(f"JWKS {jwks_uri} is not a usable key set")
        return
    kids = ", ".join(str(key.kid) for key in keys)
    report.ok(f"JWKS: {len(keys.keys)} key(s) ({kids})")


def _check_client_authentication(document: dict[str, Any], client: ProviderClient, report: Report) -> None:
    """Redeem a code that cannot exist: ``invalid_grant`` means the provider accepted our
    client id and secret (and the code was refused); ``invalid_client`` means it did not."""
    settings = client.settings
    session = client.oauth_session(document)
    try:
        response = session.post(
            document["token_endpoint"],
            data={"grant_type": "authorization_code", "code": "auth-doctor-probe", "redirect_uri": client.redirect_uri},
            auth=session.client_auth(client.token_endpoint_auth_method(document)),
            timeout=client.timeout,
            allow_redirects=False,
        )
    except requests.RequestException as failure:
        report.fail(f"token endpoint unreachable ({type(failure).__name__})")
        return
    finally:
        session.close()
    try:
        answer = response.json()
    except ValueError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if error in {"invalid_client", "unauthorized_client"} or response.status_code == 401:
        report.fail(
            f"the provider rejected client {settings.client_id!r} and its secret ({error or response.status_code}): "
            f"check AUTH_{settings.env_name}_CLIENT_ID and AUTH_{settings.env_name}_CLIENT_SECRET"
        )
    elif error == "invalid_grant":
        report.ok("client id and secret accepted by the token endpoint (probe code refused, as expected)")
    else:
        report.warn(
            f"client credentials not confirmed: the token endpoint answered {response.status_code} {error or ''}".rstrip()
        )
