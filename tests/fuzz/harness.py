"""Property-based fuzzing of the ``/auth/*`` routes, in process.

Shared by ``tests/fuzz/test_fuzz_routes.py`` (a small budget in every test run)
and ``scripts/fuzz.py`` (a large budget, with counts), so both fuzz exactly the
same things. From here they get:

- ``running_stack()``: two real OpenID providers (``LocalProvider``) on
  127.0.0.1 and the app's routes behind Starlette's ``TestClient``;
- the fuzz targets: one hypothesis strategy each, and the runner that sends a
  generated case and records what it broke in a ``Verdict`` (registered by name
  in ``tests/fuzz/targets.py``, with (h) ``/auth/logout``, which lives in
  ``tests/fuzz/logout_target.py``). The targets here: (a) arbitrary
  query strings on ``/auth/login`` and the callbacks; (b) forged session
  cookies; (c) forged transaction cookies named after the callback's state;
  (d) a real sign-in whose provider answer (code, iss, error...) is fuzzed;
  (e) strange Host headers; (f) a real sign-in with a fuzzed ``next``;
  (g) fuzzed POSTs to ``/auth/backchannel-logout``: raw bodies, forms with any
  number of ``logout_token`` fields, and logout tokens built by a provider of
  the stack with fuzzed claims, headers and keys (genuine ones included).

Nothing here asserts: a runner records every broken invariant in the verdict;
the tests assert it is empty and the script counts them. The invariants, for
every request a fuzzed case sends:

- no 5xx, except a 503 whose page says "busy" / "try again" (the capacity limit);
- a status the route's contract allows; 400/403 answers are HTML pages;
- no session cookie set: no fuzzed input carries a genuine authorization code
  (only target (f) completes sign-ins, with real codes);
- no fuzzed string containing any of ``<>"'&`` appears verbatim in the body,
  and no ``<script`` at all;
- no ``Location`` leaving the app or its providers (open redirect);
- no ``auth`` log line broken in two (forged log lines), no logged traceback;
- nothing raises (the TestClient re-raises the app's exceptions).

Session cookies are also checked directly: ``auth.sessions.cookie.verify(value)``
never raises, and returns None for every forged value: anything but the
genuine cookie, or a payload signed exactly as the app signs that still names a
configured provider and its issuer.

Back-channel logout (g) is a server-to-server JSON API, so it has its own
response invariants: 200 or 400 only; every answer ``Cache-Control: no-store``;
a 200 has an empty body; a 400 is JSON whose ``error`` is ``invalid_request`` or
``temporarily_unavailable`` and whose ``error_description`` is one of the fixed
messages (``BACKCHANNEL_MESSAGES``) and quotes no fuzzed input; no Set-Cookie
at all. And what it does: a 200 only for a token the case built with the
provider's own key and claims ``judge_logout_token`` finds valid (a valid one
sent alone in a form is answered 200); a replayed ``jti`` never again; and a
genuine session at each provider (``BackchannelState.watched``) stays live
unless a 200 answered a genuine token naming its ``sid`` (or its ``sub`` with
no ``sid``), which must end it.

The stack keeps its sessions in SQLite, the app's default store, in a
temporary directory: nothing a run writes outlives it or touches the working
directory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import logging
import math
import os
import re
import secrets
import string
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, parse_qsl, quote, quote_plus, urlsplit

import httpx
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.datastructures import QueryParams

with warnings.catch_warnings():
    # Starlette announces a move of its TestClient to httpx2; it works the same today.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from joserfc.jwk import OctKey, RSAKey

from auth import Auth, User, load_settings
from devprovider import LocalProvider, ProviderUser, generate_signing_key

# The cookies' wire format, written out rather than imported: the harness forges cookies
# from what the app sends, and ``FuzzStack.prepare`` checks these still match it.
# The session cookie's salt names the app (auth.app_id): the stack sets AUTH_APP_ID to this.
APP_ID = "fuzz-app"
SESSION_SALT = f"streamlit-oidc-auth.session.v1:{APP_ID}"
TRANSACTION_SALT = "streamlit-oidc-auth.login-transaction.v1"
COOKIE_NAME = "streamlit_auth"
TRANSACTION_PREFIX = f"{COOKIE_NAME}_tx_"
PUBLIC_URL = "http://localhost:8501"
PROVIDERS = ("alpha", "beta")
CLIENT_ID = "app"
CLIENT_SECRET = "s3cret"
LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"
LEGACY_CALLBACK = "/auth/callback"
BACKCHANNEL_PATH = "/auth/backchannel-logout"
DEFAULT_EXAMPLES = 150
# Servers refuse longer request lines and headers (Tornado, under Streamlit, at 64 KiB)
# and httpx will not send a query over 64 KiB, which its re-escaping of characters left
# raw by the "loose" encoding can triple: fuzzed ones are cut to these many bytes, still
# far past every length limit of the app.
MAX_QUERY_BYTES = 20_000
MAX_HEADER_BYTES = 60_000

DANGEROUS_CHARS = frozenset("<>\"'&")
# A shorter string (or window of one) may match template text next to a dynamic
# value by chance, e.g. `4<` after a random reference code; it proves nothing.
MIN_REFLECTION_LENGTH = 6
REFLECTION_WINDOW = 8
MAX_WINDOWS_PER_INPUT = 64

# What each route may answer to fuzzed input (the routes' public contract);
# 503 counts only when the page says the app is busy.
LOGIN_STATUSES = frozenset({302, 400, 429, 503})
CALLBACK_STATUSES = frozenset({400, 403, 404, 429, 503})
# 303 to the provider's end-session endpoint or the app; 200 for the confirmation page a
# cross-site request gets; 503 while the session store is down.
LOGOUT_STATUSES = frozenset({200, 303, 503})
# A request for another host is sent to the canonical one, or refused.
HOST_STATUSES = frozenset({302, 303, 400, 403, 404, 421, 429, 503})
# Back-Channel Logout 1.0 §2.8: 200 when the logout succeeded, 400 for anything else (busy included).
BACKCHANNEL_STATUSES = frozenset({200, 400})
ROUTE_STATUSES = {
    "login": LOGIN_STATUSES,
    "callback": CALLBACK_STATUSES,
    "logout": LOGOUT_STATUSES,
    "backchannel": BACKCHANNEL_STATUSES,
}

# Violation kinds.
SERVER_ERROR = "server_error"
UNEXPECTED_STATUS = "unexpected_status"
SESSION_SET = "session_cookie_set"
REFLECTED = "reflected_input"
OPEN_REDIRECT = "open_redirect"
LOG_FORGING = "log_line_break"
TRACEBACK_LOGGED = "traceback_logged"
RAISED = "exception"
VERIFY_ACCEPTED = "verify_accepted_fuzzed_value"
LOGOUT_ACCEPTED = "logout_token_wrongly_accepted"
SESSION_ENDED = "session_ended_without_genuine_token"
LOGOUT_IGNORED = "logout_token_accepted_but_session_live"
NOT_FIXED = "error_description_not_fixed"


PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


class HarnessError(RuntimeError):
    """The stack could not be brought to a state where fuzzing means anything."""


# ---------------------------------------------------------------- settings


def examples_per_test(default: int = DEFAULT_EXAMPLES) -> int:
    """``FUZZ_EXAMPLES`` from the environment: test runs keep the default, long runs raise it."""
    raw = os.environ.get("FUZZ_EXAMPLES", "").strip()
    return int(raw) if raw else default


def fuzz_settings(max_examples: int | None = None) -> settings:
    """Hypothesis settings for every fuzz target.

    No deadline (a callback may wait on the provider), no example database (it
    would write ``.hypothesis/`` into the repository), and a reproduction blob
    printed with any failure next to the seed hypothesis prints anyway.
    """
    return settings(
        max_examples=examples_per_test() if max_examples is None else max_examples,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# ---------------------------------------------------------------- the stack


class LogLines(logging.Handler):
    """The ``auth`` log records of the request being checked."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def capture_auth_logs() -> Iterator[LogLines]:
    """Send every ``auth`` record (DEBUG and up) to a ``LogLines`` and nowhere else.

    DEBUG so that every line the routes can write is checked; nowhere else
    because thousands of refused sign-ins would otherwise flood the output.
    """
    logger = logging.getLogger("auth")
    saved_level, saved_propagate, saved_handlers = logger.level, logger.propagate, list(logger.handlers)
    lines = LogLines()
    logger.handlers = [lines]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield lines
    finally:
        logger.handlers = saved_handlers
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


@dataclass(frozen=True)
class LoginStart:
    """A genuine sign-in started through the app: where it sent the browser, what it set."""

    provider: str
    state: str
    location: str
    callback_path: str
    cookie_name: str
    cookie_value: str


@dataclass(repr=False)
class FuzzStack:
    """The app under test and what the fuzz targets need to know about it."""

    providers: dict[str, LocalProvider]
    auth: Auth
    client: TestClient
    cookie_secret: str
    logs: LogLines
    browser: requests.Session
    callback_paths: dict[str, str] = field(default_factory=dict)
    baseline: str = ""
    valid_session: str = ""
    session_payload: Any = None
    #: target (g)'s watched sessions, claimed ``jti`` values and keys, made on first use
    backchannel: BackchannelState | None = None
    #: what targets in modules of their own keep between cases, by target name
    target_state: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"FuzzStack(callback_paths={self.callback_paths})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis prints a failing test's arguments: one line for the stack, not its pages."""
        printer.text(repr(self))

    def prepare(self) -> None:
        """Learn the callback paths, sign in once for real, record the pages' own text."""
        for name in self.providers:
            self.callback_paths[name] = self.start_login(name).callback_path
        self.valid_session = self.sign_in("alpha")
        try:
            self.session_payload = unseal(self.cookie_secret, SESSION_SALT, self.valid_session)
            unseal(self.cookie_secret, TRANSACTION_SALT, self.start_login("beta").cookie_value)
        except BadData as error:
            raise HarnessError(f"the app's cookies no longer use the salts the harness signs with: {error!r}") from None
        if (
            self.auth.sessions.cookie.verify(sign(self.cookie_secret, SESSION_SALT, "sha256", self.session_payload))
            is None
        ):
            raise HarnessError(
                "a payload re-signed by the harness does not verify: its signer no longer "
                "matches the app's, so re-signed cases would prove nothing"
            )
        self.baseline = self._baseline_pages()
        self.client.cookies.clear()

    @property
    def origins(self) -> frozenset[str]:
        """Where a redirect may lead: the app itself and its providers."""
        return frozenset({PUBLIC_URL} | {f"http://127.0.0.1:{p.port}" for p in self.providers.values()})

    @property
    def accepted_issuers(self) -> dict[str, frozenset[str]]:
        return {name: frozenset({provider.issuer}) for name, provider in self.providers.items()}

    def path_for(self, route: str) -> str:
        """``login``, ``logout``, ``backchannel``, ``callback:<provider>`` or ``callback:legacy`` as a path."""
        if route == "login":
            return LOGIN_PATH
        if route == "logout":
            return LOGOUT_PATH
        if route == "backchannel":
            return BACKCHANNEL_PATH
        target = route.removeprefix("callback:")
        return LEGACY_CALLBACK if target == "legacy" else self.callback_paths[target]

    def callback_route(self, provider: str, where: str) -> str:
        """The callback a response for ``provider``'s sign-in is sent to: its ``own``, the
        ``other`` provider's (a mix-up) or the shared ``legacy`` one."""
        if where == "own":
            return f"callback:{provider}"
        if where == "other":
            return f"callback:{next(name for name in self.providers if name != provider)}"
        return "callback:legacy"

    def transaction_cookie_name(self, state: str) -> str:
        return self.auth.transactions.cookie_name(state)

    def start_login(self, provider: str, next_path: str = "/") -> LoginStart:
        """Start a genuine sign-in; the client's jar keeps its transaction cookie.

        The callback path is read from the ``redirect_uri`` the provider is sent,
        so the harness follows whatever callback layout the app uses.
        """
        response = self.client.get(LOGIN_PATH, params={"provider": provider, "next": next_path})
        if response.status_code != 302:
            raise HarnessError(
                f"/auth/login?provider={provider} answered {response.status_code}: {response.text[:300]}"
            )
        location = response.headers["location"]
        query = {key: values[-1] for key, values in parse_qs(urlsplit(location).query).items()}
        cookie = next(((n, v) for n, v in set_cookies(response) if n.startswith(TRANSACTION_PREFIX) and v), None)
        if not query.get("state") or not query.get("redirect_uri") or cookie is None:
            raise HarnessError(f"sign-in start without state, redirect_uri or transaction cookie: {location}")
        return LoginStart(
            provider=provider,
            state=query["state"],
            location=location,
            callback_path=urlsplit(query["redirect_uri"]).path,
            cookie_name=cookie[0],
            cookie_value=cookie[1],
        )

    def approve(self, authorization_url: str) -> str:
        """Sign in as alice at the provider; the callback URL it sends the browser back to."""
        approved = self.browser.get(authorization_url + "&login_hint=alice", allow_redirects=False, timeout=10)
        if approved.status_code != 302:
            raise HarnessError(f"the provider did not approve: {approved.status_code} {approved.text[:300]}")
        return approved.headers["location"]

    def genuine_callback(self, provider: str) -> httpx.Response:
        """The app's answer to the whole code flow, with the provider's real code."""
        self.client.cookies.clear()
        callback = urlsplit(self.approve(self.start_login(provider).location))
        return self.client.get(f"{callback.path}?{callback.query}")

    def sign_in(self, provider: str) -> str:
        """A genuine session cookie value."""
        response = self.genuine_callback(provider)
        values = [value for name, value in set_cookies(response) if name == COOKIE_NAME and value]
        self.client.cookies.clear()
        if response.status_code != 302 or not values:
            raise HarnessError(f"a genuine sign-in failed: {response.status_code} {response.text[:300]}")
        if self.auth.sessions.cookie.verify(values[0]) is None:
            raise HarnessError("the session cookie of a genuine sign-in does not verify")
        return values[0]

    def _baseline_pages(self) -> str:
        """The pages' own text, from requests with no fuzzed input in them.

        A fuzzed string the templates already contain (a lone ``"``, ``<p>``)
        appearing in a page proves nothing, so reflection checks skip those.
        """
        paths = [LOGIN_PATH, f"{LOGIN_PATH}?provider=nope", LEGACY_CALLBACK]
        for path in sorted({*self.callback_paths.values(), LEGACY_CALLBACK}):
            for query in ("", "state=x&code=y", "error=access_denied", "error=invalid_scope", "error=other&state=x"):
                paths.append(f"{path}?{query}")
        bodies = []
        for path in paths:
            self.client.cookies.clear()
            bodies.append(self.client.get(path).text)
        for provider, where, query in (
            ("alpha", "other", "code=x"),
            ("alpha", "own", "code=x&iss=x"),
            ("beta", "own", "code=x"),
        ):
            self.client.cookies.clear()
            start = self.start_login(provider)
            path = self.path_for(self.callback_route(provider, where))
            bodies.append(self.client.get(f"{path}?state={start.state}&{query}").text)
        return "\n".join(bodies)


def provider_users() -> list[ProviderUser]:
    return [
        ProviderUser(
            sub="alice",
            claims={
                "email": "alice@example.com",
                "email_verified": True,
                "name": "Alice Example",
                "preferred_username": "alice",
            },
        )
    ]


def fuzz_environment(
    providers: Mapping[str, LocalProvider], cookie_secret: str, store_dir: str | None = None
) -> dict[str, str]:
    """Two generic providers, a fresh secret, no rate limit, and the sessions in ``store_dir``.

    ``AUTH_RATE_LIMIT=off`` because thousands of requests from one address are
    the point here (it lifts the back-channel route's limit on refusals too, so that
    route still answers only 200 or 400); an app without that setting only warns about it. The store
    is SQLite, the app's default, but in ``store_dir`` (absolute) rather than in
    the working directory, where every run would share one database.
    """
    env = {
        "AUTH_PROVIDERS": ",".join(providers),
        "AUTH_COOKIE_SECRET": cookie_secret,
        "AUTH_PUBLIC_URL": PUBLIC_URL,
        "AUTH_APP_ID": APP_ID,
        "AUTH_HTTP_TIMEOUT": "2s",
        "AUTH_RATE_LIMIT": "off",
    }
    if store_dir is not None:
        env["AUTH_STORE"] = f"sqlite:///{Path(store_dir).resolve() / 'sessions.db'}"
    for name, provider in providers.items():
        prefix = f"AUTH_{name.upper()}_"
        env |= {
            prefix + "ISSUER": provider.issuer,
            prefix + "CLIENT_ID": CLIENT_ID,
            prefix + "CLIENT_SECRET": CLIENT_SECRET,
        }
    return env


@contextmanager
def running_stack() -> Iterator[FuzzStack]:
    """Providers started, the app built and prepared; everything stopped afterwards."""
    providers: dict[str, LocalProvider] = {}
    auth: Auth | None = None
    with tempfile.TemporaryDirectory(prefix="fuzz-auth-") as store_dir:
        try:
            for name in PROVIDERS:
                providers[name] = LocalProvider(
                    users=provider_users(), client_id=CLIENT_ID, client_secret=CLIENT_SECRET
                ).start()
            cookie_secret = secrets.token_urlsafe(32)
            auth = Auth(load_settings(fuzz_environment(providers, cookie_secret, store_dir), base_path=""))
            app = Starlette(routes=auth.routes)
            with (
                TestClient(app, base_url=PUBLIC_URL, follow_redirects=False, raise_server_exceptions=True) as client,
                capture_auth_logs() as logs,
                requests.Session() as browser,
            ):
                browser.trust_env = False  # the providers are on 127.0.0.1: never through a proxy
                stack = FuzzStack(
                    providers=providers,
                    auth=auth,
                    client=client,
                    cookie_secret=cookie_secret,
                    logs=logs,
                    browser=browser,
                )
                stack.prepare()
                yield stack
        finally:
            if auth is not None:
                auth.sessions.close()
            for provider in providers.values():
                provider.stop()


# ---------------------------------------------------------------- cookies and signing


def set_cookies(response: httpx.Response) -> list[tuple[str, str]]:
    """``(name, value)`` of every Set-Cookie header; a deleted cookie has the value ``""``."""
    pairs = []
    for header in response.headers.get_list("set-cookie"):
        name, _, value = header.split(";", 1)[0].partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        pairs.append((name.strip(), value))
    return pairs


def header_safe(text: str) -> str:
    """Without CR and LF: no HTTP server lets them through in a header value."""
    return text.replace("\r", "").replace("\n", "")


def cookie_header(cookies: Sequence[tuple[str, str]]) -> bytes:
    """A raw Cookie header in UTF-8, as browsers send non-ASCII (the TestClient would turn
    any other bytes into UTF-8 anyway)."""
    header = "; ".join(f"{header_safe(name)}={header_safe(value)}" for name, value in cookies)
    return header.encode("utf-8")[:MAX_HEADER_BYTES]


def as_received(text: str) -> str:
    """``text`` as the app reads it from a header: its UTF-8 bytes decoded as Latin-1."""
    return text.encode("utf-8").decode("latin-1")


def sign(secret: str, salt: str, digest: str, payload: Any) -> str:
    """An itsdangerous timed token, as the app makes its cookies when given its own secret."""
    serializer = URLSafeTimedSerializer(secret, salt=salt, signer_kwargs={"digest_method": getattr(hashlib, digest)})
    return serializer.dumps(payload)


def unseal(secret: str, salt: str, value: str) -> Any:
    return URLSafeTimedSerializer(secret, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}).loads(value)


# ---------------------------------------------------------------- verdicts and checks


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str


@dataclass
class Verdict:
    """What one fuzzed case did: each request's route and status, each broken invariant."""

    target: str
    responses: list[tuple[str, int]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    verify_calls: int = 0
    #: what happened, in a few words, for the long run's counts (how deep cases got)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def explain(self) -> str:
        return "\n".join(f"{v.kind}: {v.detail}" for v in self.violations)


def describe(error: BaseException) -> str:
    """The exception and where it came from: its type and message first, then the frames
    of this project (fuzzed values can make a message or a frame huge, so each is cut)."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename.startswith(PROJECT_ROOT) and "/site-packages/" not in frame.filename
    ]
    where = "".join(f"\n    {f.filename}:{f.lineno} in {f.name}: {clip(f.line, 160)}" for f in frames)
    return f"raised {type(error).__name__}: {clip(str(error), 300)}{where}"


def clip(text: object, limit: int = 300) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(shown)} chars)"


def is_busy_page(body: str) -> bool:
    lowered = body.lower()
    return "busy" in lowered or "try again" in lowered


def status_violations(status: int, body: str, content_type: str, allowed: frozenset[int]) -> list[Violation]:
    """5xx (but a busy 503), a status outside the route's contract, a 400/403 that is no page."""
    if 500 <= status <= 599 and not (status == 503 and is_busy_page(body)):
        return [Violation(SERVER_ERROR, f"status {status}: {clip(body, 500)}")]
    if status not in allowed:
        return [Violation(UNEXPECTED_STATUS, f"status {status} is not one of {sorted(allowed)}: {clip(body)}")]
    if status in (400, 403) and not (content_type.startswith("text/html") and body.strip()):
        return [Violation(UNEXPECTED_STATUS, f"status {status} without an HTML page ({content_type!r})")]
    return []


def session_violations(cookies: Iterable[tuple[str, str]], cookie_name: str = COOKIE_NAME) -> list[Violation]:
    return [
        Violation(SESSION_SET, f"Set-Cookie {name}={clip(value, 80)}")
        for name, value in cookies
        if name == cookie_name and value
    ]


def reflection_candidates(text: str) -> set[str]:
    """``text`` itself, and windows around each of its markup characters.

    The windows catch an input shown in part: cut to a length limit, or
    with a prefix or suffix removed, as error pages do.
    """
    found = {text} if len(text) >= MIN_REFLECTION_LENGTH else set()
    windows: set[str] = set()
    for index, char in enumerate(text):
        if char in DANGEROUS_CHARS:
            window = text[max(0, index - REFLECTION_WINDOW) : index + REFLECTION_WINDOW + 1]
            if len(window) >= MIN_REFLECTION_LENGTH:
                windows.add(window)
            if len(windows) >= MAX_WINDOWS_PER_INPUT:
                break
    return found | windows


def reflected_inputs(body: str, fuzzed: Iterable[str], baseline: str) -> list[str]:
    """Fuzzed strings with markup characters that appear in ``body`` unescaped.

    Not counted: what the templates contain anyway (``baseline``), and ``&``
    fragments of the escaped form of another input (``&amp;`` is escaping
    working, not failing).
    """
    inputs = {text for text in fuzzed if text}
    escaped = "\n".join(html.escape(text, quote=True) for text in inputs)
    found = []
    for text in inputs:
        for candidate in reflection_candidates(text):
            if DANGEROUS_CHARS.isdisjoint(candidate) or candidate not in body:
                continue
            if candidate in baseline or candidate in escaped:
                continue
            found.append(candidate)
            break
    return found


def reflection_violations(body: str, fuzzed: Iterable[str], baseline: str) -> list[Violation]:
    violations = [
        Violation(REFLECTED, f"{clip(text, 120)} appears unescaped in the page")
        for text in reflected_inputs(body, fuzzed, baseline)
    ]
    if "<script" in body.lower() and "<script" not in baseline.lower():
        violations.append(Violation(REFLECTED, f"the page contains <script: {clip(body, 500)}"))
    return violations


def redirect_violations(location: str | None, origins: frozenset[str]) -> list[Violation]:
    """A Location must stay on this app or go to one of its providers.

    Leading ``//`` or ``/\\`` and raw blanks count as leaving: browsers read
    ``/\\evil.example`` and ``/\\t/evil.example`` as another host.
    """
    if location is None:
        return []
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in location):
        return [Violation(OPEN_REDIRECT, f"Location with a blank or control character: {clip(location)}")]
    if location.startswith(("//", "/\\", "\\")):
        return [Violation(OPEN_REDIRECT, f"scheme-relative Location: {clip(location)}")]
    parts = urlsplit(location)
    if (parts.scheme or parts.netloc) and f"{parts.scheme}://{parts.netloc}" not in origins:
        return [Violation(OPEN_REDIRECT, f"Location leaves the app: {clip(location)}")]
    return []


def log_violations(records: Iterable[logging.LogRecord]) -> list[Violation]:
    """One event, one line: a CR or LF from input would let it forge more lines."""
    violations = []
    for record in records:
        try:
            message = record.getMessage()
        except Exception as error:
            violations.append(Violation(TRACEBACK_LOGGED, f"log record cannot be formatted: {error!r}"))
            continue
        if "\n" in message or "\r" in message:
            violations.append(Violation(LOG_FORGING, clip(message, 300)))
        if record.exc_info:
            violations.append(Violation(TRACEBACK_LOGGED, clip(message, 300)))
    return violations


def response_violations(
    response: httpx.Response,
    *,
    allowed: frozenset[int],
    fuzzed: Iterable[str],
    baseline: str,
    origins: frozenset[str],
) -> list[Violation]:
    """Every invariant about one response."""
    body = response.text
    return [
        *status_violations(response.status_code, body, response.headers.get("content-type", ""), allowed),
        *session_violations(set_cookies(response)),
        *reflection_violations(body, fuzzed, baseline),
        *redirect_violations(response.headers.get("location"), origins),
    ]


def send(
    stack: FuzzStack,
    verdict: Verdict,
    route: str,
    *,
    query: bytes = b"",
    headers: Mapping[str, bytes] | None = None,
    fuzzed: Iterable[str] = (),
    allowed: frozenset[int] | None = None,
    origins: frozenset[str] | None = None,
    genuine_code: bool = False,
) -> httpx.Response | None:
    """GET ``route`` and record its status and every invariant it breaks.

    ``genuine_code``: the request carries a real authorization code, so a session
    cookie is the expected outcome, not a violation.
    """
    path = stack.path_for(route)
    kind = route.split(":", 1)[0]
    stack.logs.records.clear()
    try:
        response = stack.client.get(httpx.URL(path, query=query), headers=dict(headers or {}))
    except Exception as error:
        verdict.violations.append(Violation(RAISED, f"GET {path}?{clip(query, 200)} {describe(error)}"))
        return None
    verdict.responses.append((kind, response.status_code))
    found = response_violations(
        response,
        allowed=ROUTE_STATUSES[kind] if allowed is None else allowed,
        fuzzed=list(fuzzed),
        baseline=stack.baseline,
        origins=stack.origins if origins is None else origins,
    )
    verdict.violations += [v for v in found if not (genuine_code and v.kind == SESSION_SET)]
    verdict.violations += log_violations(stack.logs.records)
    return response


def check_verify(stack: FuzzStack, verdict: Verdict, value: str, must_reject: bool) -> None:
    """``sessions.cookie.verify`` never raises, returns a User or None, and None when it must."""
    verdict.verify_calls += 1
    try:
        user = stack.auth.sessions.cookie.verify(value)
    except Exception as error:
        verdict.violations.append(Violation(RAISED, f"sessions.verify({clip(value, 200)}) {describe(error)}"))
        return
    if user is not None and not isinstance(user, User):
        verdict.violations.append(Violation(VERIFY_ACCEPTED, f"verify returned {type(user).__name__}"))
    elif user is not None and must_reject:
        lenient = re.sub(r"[^A-Za-z0-9_.+/-]", "", value).translate(STANDARD_TO_URLSAFE) == stack.valid_session
        note = " (it decodes to the genuine cookie's signed bytes: a non-canonical encoding)" if lenient else ""
        verdict.violations.append(Violation(VERIFY_ACCEPTED, f"{clip(value, 300)} verified as {user.sub!r}{note}"))


# ---------------------------------------------------------------- strategies: text and queries

URLSAFE = string.ascii_letters + string.digits + "-_"
STANDARD_TO_URLSAFE = str.maketrans("+/", "-_")
# Printable ASCII the client passes through as it is; '#' would start a fragment.
QUERY_PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != "#")
QUERY_LOOSE_SAFE = "".join(char for char in QUERY_PRINTABLE if char not in "&=%+")
NASTY = (
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</title><script>alert(1)</script>",
    "<a href='javascript:alert(1)'>x</a>",
    "javascript:alert(1)",
    "&lt;script&gt;&#x27;&quot;",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "\x00",
    "\r\n",
    "\r\nSet-Cookie: streamlit_auth=forged",
    "\u2028\u2029\x85",
    "\u202e\ufeff\u200b",
    "\ufffd",
    "é",
    # Latin-1 letters whose UTF-8 bytes read as Latin-1 are letters too ("ê" -> "Ãª"):
    # header-decoding confusions survive filters that keep only letters.
    "êúüªº",
    "日本語のテキスト",
    "😀👍🏽",
    "\U0010ffff",
    "//evil.example",
    "/\\evil.example",
    "/\t/evil.example",
    "https://evil.example/",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/auth/logout",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "${jndi:ldap://127.0.0.1/x}",
    "' OR '1'='1",
    "%s%s%n%x",
    "null",
    "alpha",
    "beta",
    "ALPHA",
    "alpha\x00",
    " alpha ",
    "access_denied",
    "__proto__",
)
NEXT_VALUES = (
    "/",
    "/page",
    "/page?tab=2&x=<y>",
    "/%E2%9C%93",
    "//evil.example",
    "/\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/auth/login?provider=alpha",
    "/a/%2e%2e/b",
)
LOGIN_KEYS = ("provider", "next", "switch")
CALLBACK_KEYS = ("code", "state", "iss", "error", "error_description", "error_uri", "session_state")
OAUTH_ERRORS = (
    "access_denied",
    "login_required",
    "consent_required",
    "invalid_request",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "unauthorized_client",
    "",
)
GARBAGE_TOKENS = (
    "%",
    "%z",
    "%zz",
    "%f",
    "%ff%fe",
    "%c3",
    "%c3%28",
    "%e2%82",
    "%ed%a0%80",
    "%00",
    "%0d%0a",
    "%u003c",
    "%%",
    "%25",
    "+",
    "=",
    "==",
    "&",
    "&&",
    ";",
    "?",
    "%3Cscript%3E",
    "%26",
    "%3D",
    "state=",
    "code=",
    "provider=alpha",
    "provider=beta",
    "next=%2F%2Fevil.example",
    "error=",
)
ENCODINGS = ("quote", "plus", "loose")


def evenly(*options: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Like ``st.one_of``, but each option is drawn about as often: ``one_of`` favours the
    options with more values, so "a well-formed value, or anything" would be mostly anything."""
    return st.sampled_from(range(len(options))).flatmap(lambda index: options[index])


def huge_text() -> st.SearchStrategy[str]:
    """4,000 to 12,000 characters (past every length limit of the app), built by
    repetition so that generating it stays cheap."""
    unit = st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=4))
    return st.builds(lambda part, size: (part * (size // len(part) + 1))[:size], unit, st.integers(4_000, 12_000))


def fuzz_text() -> st.SearchStrategy[str]:
    """Any text: unicode, control characters, markup and injection payloads, and (one
    string in twenty: a case carries several, and huge ones are slow to send) huge."""
    nasty = st.sampled_from(NASTY)
    urlsafe = st.text(URLSAFE, min_size=1, max_size=64)
    return st.one_of(
        st.text(max_size=24),
        nasty,
        st.lists(st.one_of(nasty, st.text(max_size=6)), min_size=2, max_size=5).map("".join),
        st.text(st.characters(max_codepoint=0x9F), max_size=24),
        st.one_of(urlsafe, urlsafe, urlsafe, huge_text()),
    )


def query_garbage() -> st.SearchStrategy[str]:
    """Printable ASCII sent verbatim: broken escapes, stray separators, smuggled keys."""
    token = st.one_of(st.sampled_from(GARBAGE_TOKENS), st.text(QUERY_PRINTABLE, max_size=6))
    return st.lists(token, max_size=5).map("".join)


def encode_query(
    pairs: Sequence[tuple[str, str]], encoding: str, garbage: str = "", limit: int | None = MAX_QUERY_BYTES
) -> bytes:
    """A query string (or form body): pairs percent-encoded (``loose`` leaves markup characters
    raw), then garbage; cut to ``limit`` bytes unless it is None."""
    if encoding == "plus":
        parts = [f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in pairs]
    else:
        safe = QUERY_LOOSE_SAFE if encoding == "loose" else ""
        parts = [f"{quote(k, safe=safe)}={quote(v, safe=safe)}" for k, v in pairs]
    if garbage:
        parts.append(garbage)
    encoded = "&".join(parts).encode("ascii")
    return encoded if limit is None else encoded[:limit]


@dataclass(frozen=True)
class QueryCase:
    """Target (a): arbitrary query strings on one route."""

    route: str
    pairs: tuple[tuple[str, str], ...]
    encoding: str
    garbage: str

    def query(self) -> bytes:
        return encode_query(self.pairs, self.encoding, self.garbage)

    def fuzzed(self) -> list[str]:
        """Every key and value, as generated and as the app decodes them."""
        decoded = QueryParams(self.query()).multi_items()
        return [text for pair in (*self.pairs, *decoded) for text in pair]


def pair_strategy(keys: Sequence[str]) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(evenly(st.sampled_from(keys), fuzz_text()), fuzz_text())


def maybe(good: Sequence[str]) -> st.SearchStrategy[str | None]:
    """Absent, a value the route understands (half the time, to get past the first
    check more often), or anything."""
    return evenly(st.none(), st.sampled_from(good), st.sampled_from(good), fuzz_text())


@st.composite
def query_cases(
    draw: st.DrawFn, routes: Sequence[str], named: Mapping[str, Sequence[str]], keys: Sequence[str]
) -> QueryCase:
    """Known parameters (often well-formed, to get past the first check), extra and
    repeated ones, in any order, with any encoding and trailing garbage."""
    pairs = [(key, value) for key, good in named.items() if (value := draw(maybe(good))) is not None]
    pairs += draw(st.lists(pair_strategy(keys), max_size=3))
    return QueryCase(
        route=draw(st.sampled_from(routes)),
        pairs=tuple(draw(st.permutations(pairs))),
        encoding=draw(st.sampled_from(ENCODINGS)),
        garbage=draw(query_garbage()),
    )


def login_queries() -> st.SearchStrategy[QueryCase]:
    named = {"provider": PROVIDERS, "next": NEXT_VALUES, "switch": ("1", "0", "true")}
    return query_cases(("login",), named, LOGIN_KEYS)


def callback_queries() -> st.SearchStrategy[QueryCase]:
    routes = tuple(f"callback:{name}" for name in PROVIDERS) + ("callback:legacy",)
    named = {
        "code": ("x",),
        "state": ("A" * 43,),
        "iss": (PUBLIC_URL,),
        "error": OAUTH_ERRORS,
        "error_description": ("Simulated",),
    }
    return query_cases(routes, named, CALLBACK_KEYS)


def run_query(stack: FuzzStack, case: QueryCase, verdict: Verdict) -> None:
    stack.client.cookies.clear()
    send(stack, verdict, case.route, query=case.query(), fuzzed=case.fuzzed())


# ---------------------------------------------------------------- strategies: forged cookie values


def _reencode_padded(value: str) -> str:
    return ".".join(part + "=" * (-len(part) % 4) for part in value.split("."))


BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"  # index = the bits


def _flip_unused_bit(value: str) -> str:
    """The same signed bytes, spelled otherwise: a 32-byte signature is 43 characters, and
    base64 decoding ignores the last one's two low bits (CI once found this by chance)."""
    last = value[-1:]
    return value[:-1] + BASE64URL[BASE64URL.index(last) ^ 1] if last and last in BASE64URL else value + "A"


REENCODINGS: dict[str, Callable[[str], str]] = {
    "unused_bit": _flip_unused_bit,
    "std_alphabet": lambda v: v.replace("-", "+").replace("_", "/"),
    "padded_parts": _reencode_padded,
    "trailing_padding": lambda v: v + "==",
    "percent_all": lambda v: "".join(f"%{byte:02X}" for byte in v.encode()),
    "double_quoted": lambda v: f'"{v}"',
    "base64_of_value": lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
    "upper": str.upper,
    "lower": str.lower,
    "blanks": lambda v: f" {v}\t",
    "zero_width": lambda v: v[: len(v) // 2] + "\u200b" + v[len(v) // 2 :],
    "fullwidth_dots": lambda v: v.replace(".", "\uff0e"),
    "non_ascii_suffix": lambda v: v + "é",
    "compressed_marker": lambda v: v[1:] if v.startswith(".") else "." + v,
}
REORDERINGS: dict[str, Callable[[str], str]] = {
    "reverse_parts": lambda v: ".".join(reversed(v.split("."))),
    "swap_signature_timestamp": lambda v: ".".join([*v.split(".")[:-2], *reversed(v.split(".")[-2:])]),
    "drop_signature": lambda v: v.rsplit(".", 1)[0],
    "drop_timestamp": lambda v: ".".join([*v.split(".")[:-2], v.split(".")[-1]]),
    "double_payload": lambda v: v.split(".")[0] + "." + v,
    "signature_only": lambda v: v.rsplit(".", 1)[-1],
}


@dataclass(frozen=True)
class Mutation:
    """A change to a genuine cookie value; ``position`` is a fraction of its length."""

    kind: str
    position: float = 0.0
    text: str = ""


def apply_mutation(value: str, mutation: Mutation) -> str:
    at = int(mutation.position * len(value))
    if mutation.kind == "truncate":
        return value[:at]
    if mutation.kind == "extend":
        return value + mutation.text
    if mutation.kind == "insert":
        return value[:at] + mutation.text + value[at:]
    if mutation.kind == "replace":
        return value[:at] + mutation.text + value[at + 1 :]
    if mutation.kind == "delete":
        return value[:at] + value[at + 1 :]
    if mutation.kind == "reencode":
        return REENCODINGS[mutation.text](value)
    if mutation.kind == "reorder":
        return REORDERINGS[mutation.text](value)
    raise ValueError(f"unknown mutation {mutation.kind!r}")


def nonempty_text() -> st.SearchStrategy[str]:
    return fuzz_text().filter(bool)


def mutations() -> st.SearchStrategy[Mutation]:
    position = st.floats(0, 1, exclude_max=True)
    one_char = st.one_of(st.sampled_from("=.-_+/ \"';,\x00é"), st.characters())
    return evenly(
        st.builds(Mutation, st.just("truncate"), position),
        st.builds(Mutation, st.just("extend"), st.just(0.0), nonempty_text()),
        st.builds(Mutation, st.just("insert"), position, nonempty_text()),
        st.builds(Mutation, st.just("replace"), position, one_char),
        st.builds(Mutation, st.just("delete"), position),
        st.builds(Mutation, st.just("reencode"), st.just(0.0), st.sampled_from(sorted(REENCODINGS))),
        st.builds(Mutation, st.just("reorder"), st.just(0.0), st.sampled_from(sorted(REORDERINGS))),
    )


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=12),
        st.sampled_from(("alpha", "beta", "gamma", "@issuer:alpha", "@issuer:beta", "")),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=8,
    )


@dataclass(frozen=True)
class PayloadEdit:
    """A change to a genuine cookie's payload before it is signed again.

    Values ``"@issuer:<provider>"`` stand for that provider's real issuer,
    known only once the providers run.
    """

    op: str  # "set" | "delete" | "replace"
    key: str = ""
    value: Any = None


def payload_edits(keys: Sequence[str]) -> st.SearchStrategy[PayloadEdit]:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8))
    return evenly(
        st.builds(PayloadEdit, st.just("set"), key, json_values()),
        st.builds(PayloadEdit, st.just("delete"), key),
        st.builds(PayloadEdit, st.just("replace"), st.just(""), json_values()),
    )


def resolve(value: Any, issuers: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("@issuer:"):
        return issuers.get(value.removeprefix("@issuer:"), value)
    if isinstance(value, list):
        return [resolve(item, issuers) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, issuers) for key, item in value.items()}
    return value


def apply_edit(payload: Any, edit: PayloadEdit | None, issuers: Mapping[str, str]) -> Any:
    if edit is None:
        return payload
    if edit.op == "replace":
        return resolve(edit.value, issuers)
    edited = dict(payload)
    if edit.op == "delete":
        edited.pop(edit.key, None)
    else:
        edited[edit.key] = resolve(edit.value, issuers)
    return edited


@dataclass(frozen=True)
class Forgery:
    """How a fuzzed cookie value is made from a genuine one.

    ``mutate``: change the genuine value's text. ``resign``: sign the genuine
    payload (maybe edited) again; ``key`` empty means the app's own secret,
    with ``salt``/``digest`` possibly not the ones the app uses for this
    cookie. ``arbitrary``: ``text`` itself.
    """

    kind: str
    mutation: Mutation | None = None
    key: str = ""
    salt: str = ""
    digest: str = "sha256"
    edit: PayloadEdit | None = None
    text: str = ""


SALTS = (SESSION_SALT, TRANSACTION_SALT, "itsdangerous", "", "cookie-session", SESSION_SALT.replace("v1", "v2"))
DIGESTS = ("sha256", "sha1", "sha512", "md5")


def forgeries(payload_keys: Sequence[str], own_salt: str) -> st.SearchStrategy[Forgery]:
    """Mutated values, payloads signed with other keys or other salts and digests, payloads
    edited and signed exactly as the app signs (an old release's, or a bug's), and junk."""
    other_key = st.one_of(st.text(min_size=1, max_size=40), st.just("x" * 32))
    return evenly(
        st.builds(
            Forgery,
            st.just("resign"),
            key=st.just(""),
            salt=st.just(own_salt),
            digest=st.just("sha256"),
            edit=payload_edits(payload_keys),
        ),
        st.builds(Forgery, st.just("mutate"), mutations()),
        st.builds(
            Forgery,
            st.just("resign"),
            key=other_key,
            salt=st.sampled_from(SALTS),
            digest=st.sampled_from(DIGESTS),
            edit=st.none() | payload_edits(payload_keys),
        ),
        st.builds(
            Forgery,
            st.just("resign"),
            key=st.just(""),
            salt=st.sampled_from(SALTS),
            digest=st.sampled_from(DIGESTS),
            edit=st.none() | payload_edits(payload_keys),
        ),
        st.builds(Forgery, st.just("arbitrary"), text=nonempty_text()),
    )


@dataclass(frozen=True)
class Forged:
    value: str
    payload: Any  # what was signed, for "resign"
    own_signature: bool  # signed with the app's secret, salt and digest for this cookie


def forge(stack: FuzzStack, genuine: str, payload: Any, forgery: Forgery, salt: str) -> Forged:
    """The fuzzed value for ``forgery``; ``salt`` is the one the app uses for this cookie."""
    if forgery.kind == "mutate" and forgery.mutation is not None:
        value = apply_mutation(genuine, forgery.mutation)
        return Forged(value, None, value == genuine)
    if forgery.kind == "resign":
        issuers = {name: provider.issuer for name, provider in stack.providers.items()}
        signed = apply_edit(payload, forgery.edit, issuers)
        key = forgery.key or stack.cookie_secret
        own = key == stack.cookie_secret and forgery.salt == salt and forgery.digest == "sha256"
        return Forged(sign(key, forgery.salt, forgery.digest, signed), signed, own)
    return Forged(forgery.text, None, forgery.text == genuine)


# ---------------------------------------------------------------- target (b): session cookies

SESSION_KEYS = (
    "sub",
    "iss",
    "provider",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "roles",
    "groups",
    "sid",
    "auth_time",
    "picture",
)


def session_signs_nobody_in(payload: Any, accepted: Mapping[str, frozenset[str]]) -> bool:
    """The session contract: no string sub/iss/provider, or an issuer not configured
    for that provider, means signed out."""
    if not isinstance(payload, dict):
        return True
    essentials = [payload.get(key) for key in ("sub", "iss", "provider")]
    if not all(isinstance(value, str) and value for value in essentials):
        return True
    return payload["iss"] not in accepted.get(payload["provider"], frozenset())


@dataclass(frozen=True)
class SessionCookieCase:
    """Target (b): a forged session cookie, verified directly and sent to a route."""

    forgery: Forgery
    route: str  # "logout" | "login"


def session_cookie_cases() -> st.SearchStrategy[SessionCookieCase]:
    return st.builds(SessionCookieCase, forgeries(SESSION_KEYS, SESSION_SALT), st.sampled_from(("logout", "login")))


def session_must_be_rejected(stack: FuzzStack, forged: Forged) -> bool:
    """Anything but the genuine value or the app's own signature on a valid payload."""
    if not forged.own_signature:
        return True
    return forged.payload is not None and session_signs_nobody_in(forged.payload, stack.accepted_issuers)


def run_session_cookie(stack: FuzzStack, case: SessionCookieCase, verdict: Verdict) -> None:
    forged = forge(stack, stack.valid_session, stack.session_payload, case.forgery, SESSION_SALT)
    check_verify(stack, verdict, forged.value, session_must_be_rejected(stack, forged))
    stack.client.cookies.clear()
    query = encode_query([("provider", "alpha"), ("next", "/")], "quote") if case.route == "login" else b""
    send(
        stack,
        verdict,
        case.route,
        query=query,
        headers={"cookie": cookie_header([(COOKIE_NAME, forged.value)])},
        fuzzed=[forged.value, as_received(forged.value)],
    )


# ---------------------------------------------------------------- target (c): transaction cookies

TRANSACTION_KEYS = ("provider", "state", "nonce", "code_verifier", "next_path")


@dataclass(frozen=True)
class TransactionCookieCase:
    """Target (c): a forged transaction cookie, named after the state the callback carries.

    ``state`` None means the genuine transaction's own state; ``decoys`` are more
    cookies named like transactions; ``also_login`` sends the same cookies to
    ``/auth/login``, which tidies up old transaction cookies. ``state_as_read``
    sends the state as the app reads the cookie's name (UTF-8 bytes decoded as
    Latin-1), so that a non-ASCII name can match the one the app derives from it.
    """

    provider: str
    forgery: Forgery
    state: str | None
    callback: str  # "own" | "other" | "legacy"
    code: str | None
    decoys: tuple[tuple[str, str], ...]
    also_login: bool
    state_as_read: bool


def transaction_cookie_cases() -> st.SearchStrategy[TransactionCookieCase]:
    state = evenly(st.none(), st.text(URLSAFE, min_size=1, max_size=64), nonempty_text())
    return st.builds(
        TransactionCookieCase,
        provider=st.sampled_from(PROVIDERS),
        forgery=forgeries(TRANSACTION_KEYS, TRANSACTION_SALT),
        state=state,
        callback=st.sampled_from(("own", "own", "other", "legacy")),
        code=evenly(st.none(), st.just("x"), fuzz_text()),
        decoys=st.lists(st.tuples(st.text(URLSAFE, max_size=16) | fuzz_text(), fuzz_text()), max_size=3).map(tuple),
        also_login=st.booleans(),
        state_as_read=st.booleans(),
    )


def run_transaction_cookie(stack: FuzzStack, case: TransactionCookieCase, verdict: Verdict) -> None:
    start = stack.start_login(case.provider)
    stack.client.cookies.clear()
    state = start.state if case.state is None else case.state
    payload = unseal(stack.cookie_secret, TRANSACTION_SALT, start.cookie_value) | {"state": state}
    forged = forge(stack, start.cookie_value, payload, case.forgery, TRANSACTION_SALT)
    cookies = [(stack.transaction_cookie_name(state), forged.value)]
    cookies += [(TRANSACTION_PREFIX + suffix, value) for suffix, value in case.decoys]
    header = {"cookie": cookie_header(cookies)}
    sent_state = as_received(state) if case.state_as_read else state
    fuzzed = [text for pair in (*cookies, *case.decoys) for text in pair] + [state, sent_state, case.code or ""]
    fuzzed += [as_received(text) for text in fuzzed]
    pairs = [("state", sent_state)] + ([("code", case.code)] if case.code is not None else [])
    send(
        stack,
        verdict,
        stack.callback_route(case.provider, case.callback),
        query=encode_query(pairs, "quote"),
        headers=header,
        fuzzed=fuzzed,
    )
    if case.also_login:
        send(
            stack,
            verdict,
            "login",
            query=encode_query([("provider", case.provider), ("next", "/")], "quote"),
            headers=header,
            fuzzed=fuzzed,
        )


# ---------------------------------------------------------------- target (d): real transactions


@dataclass(frozen=True)
class RealCallbackCase:
    """Target (d): a genuine transaction (cookie in the jar, real state) with the
    provider's answer fuzzed. ``iss`` may be ``"@issuer:<provider>"``, a real issuer."""

    provider: str
    callback: str  # "own" | "other" | "legacy"
    code: str | None
    iss: str | None
    error: str | None
    error_description: str | None
    extra: tuple[tuple[str, str], ...]
    encoding: str


def real_callback_cases() -> st.SearchStrategy[RealCallbackCase]:
    issuer = evenly(st.none(), st.sampled_from(("@issuer:alpha", "@issuer:beta")), fuzz_text())
    return st.builds(
        RealCallbackCase,
        provider=st.sampled_from(PROVIDERS),
        callback=st.sampled_from(("own", "own", "other", "legacy")),
        code=evenly(st.none(), st.text(URLSAFE, min_size=43, max_size=43), fuzz_text()),
        iss=issuer,
        error=evenly(st.none(), st.none(), st.sampled_from(OAUTH_ERRORS), fuzz_text()),
        error_description=evenly(st.none(), fuzz_text()),
        extra=st.lists(pair_strategy(CALLBACK_KEYS), max_size=2).map(tuple),
        encoding=st.sampled_from(ENCODINGS),
    )


def run_real_callback(stack: FuzzStack, case: RealCallbackCase, verdict: Verdict) -> None:
    stack.client.cookies.clear()
    start = stack.start_login(case.provider)
    issuers = {name: provider.issuer for name, provider in stack.providers.items()}
    named = {
        "code": case.code,
        "iss": resolve(case.iss, issuers),
        "error": case.error,
        "error_description": case.error_description,
    }
    pairs = [("state", start.state)] + [(k, v) for k, v in named.items() if v is not None] + list(case.extra)
    fuzzed = [v for k, v in named.items() if v is not None and v not in issuers.values()]
    fuzzed += [text for pair in case.extra for text in pair]
    send(
        stack,
        verdict,
        stack.callback_route(case.provider, case.callback),
        query=encode_query(pairs, case.encoding),
        fuzzed=fuzzed,
    )


# ---------------------------------------------------------------- target (e): Host header

HOSTS = (
    "evil.example",
    "localhost",
    "LOCALHOST:8501",
    "localhost:8501.evil.example",
    "localhost:8501@evil.example",
    "localhost:8501:80",
    "evil.example:8501",
    "[::1]:8501",
    "127.0.0.1:8501",
    "localhost:8501/x",
    "",
    "localhost:8501 ",
    "localhost:99999",
    "évil.example",
)


# Well-formed parameters, so that the Host is the only odd thing about the request.
HOST_CASE_QUERIES = {"login": [("provider", "alpha"), ("next", "/page")], "callback": [("state", "x"), ("code", "y")]}


@dataclass(frozen=True)
class HostCase:
    """Target (e): another Host than AUTH_PUBLIC_URL's: the canonical-host redirect must
    not become an open redirect, and nothing may break on a strange Host."""

    host: str
    route: str


def host_cases() -> st.SearchStrategy[HostCase]:
    routes = ("login", "logout", *(f"callback:{name}" for name in PROVIDERS))
    return st.builds(HostCase, evenly(st.sampled_from(HOSTS), fuzz_text()), st.sampled_from(routes))


def run_host(stack: FuzzStack, case: HostCase, verdict: Verdict) -> None:
    stack.client.cookies.clear()
    query = encode_query(HOST_CASE_QUERIES.get(case.route.split(":")[0], []), "quote")
    host = header_safe(case.host)
    response = send(
        stack,
        verdict,
        case.route,
        query=query,
        headers={"host": host.encode("utf-8")},
        fuzzed=[host, as_received(host)],
        # a GET of /auth/logout that is not the user's own click asks "Sign out?" (200)
        allowed=HOST_STATUSES | {200} if case.route == "logout" else HOST_STATUSES,
    )
    location = response.headers.get("location", "") if response is not None else ""
    if location.startswith(PUBLIC_URL + "/") and urlsplit(location).path != stack.path_for(case.route):
        verdict.violations.append(
            Violation(UNEXPECTED_STATUS, f"the canonical-host redirect changes the path: {clip(location)}")
        )


# ---------------------------------------------------------------- target (f): where a sign-in returns to

NEXT_PREFIXES = (
    "/",
    "//",
    "///",
    "/\\",
    "/%2F",
    "/%2f/",
    "/%5C",
    "/%09/",
    "/\t/",
    "/.",
    "/..",
    "/%2e%2e/",
    "/%252F",
    "/auth/",
    "",
)


@dataclass(frozen=True)
class NextRedirectCase:
    """Target (f): a whole sign-in with a genuine code and a fuzzed ``next``. The session
    is genuine here; the invariant is where the final redirect leads: into the app only."""

    provider: str
    next: str
    encoding: str


def next_redirect_cases() -> st.SearchStrategy[NextRedirectCase]:
    prefixed = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(NEXT_PREFIXES), fuzz_text())
    return st.builds(
        NextRedirectCase,
        st.sampled_from(PROVIDERS),
        evenly(st.sampled_from(NEXT_VALUES), prefixed, prefixed, fuzz_text()),
        st.sampled_from(ENCODINGS),
    )


def run_next_redirect(stack: FuzzStack, case: NextRedirectCase, verdict: Verdict) -> None:
    stack.client.cookies.clear()
    query = encode_query([("provider", case.provider), ("next", case.next)], case.encoding)
    login = send(stack, verdict, "login", query=query, fuzzed=[case.next])
    if login is None or login.status_code != 302:
        return
    try:
        callback = urlsplit(stack.approve(login.headers["location"]))
    except HarnessError as error:  # the app sent the provider an authorization request it refused
        verdict.violations.append(Violation(UNEXPECTED_STATUS, str(error)))
        return
    send(
        stack,
        verdict,
        f"callback:{case.provider}",
        query=callback.query.encode("ascii"),
        fuzzed=[case.next],
        allowed=frozenset({302}),
        origins=frozenset({PUBLIC_URL}),
        genuine_code=True,
    )


# ---------------------------------------------------------------- target (g): back-channel logout

FORM_TYPE = "application/x-www-form-urlencoded"
CONTENT_TYPES = (
    FORM_TYPE,
    FORM_TYPE,
    FORM_TYPE,
    f"{FORM_TYPE}; charset=utf-8",
    None,
    "application/json",
    "multipart/form-data; boundary=x",
    "text/plain; charset=utf-16",
)
BACKCHANNEL_ERRORS = frozenset({"invalid_request", "temporarily_unavailable"})
#: the route's limit on the body (Back-Channel Logout asks for a form of one short JWT)
MAX_BACKCHANNEL_BODY = 64 * 1024
#: the validator's limit on the token itself
MAX_LOGOUT_TOKEN_CHARS = 16 * 1024
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPES = frozenset({"jwt", "logout+jwt", "application/jwt", "application/logout+jwt"})
LOGOUT_LEEWAY = 60.0
LOGOUT_MAX_AGE = 600.0
#: times this close to a limit of the validator (leeway, max age, a claimed jti's expiry)
#: may fall either side of it by the time the request is handled: no expectation there
TIME_MARGIN = 10.0
#: a watched session older than this is replaced before the idle timeout (600 s) could end it
WATCHED_MAX_AGE = 120.0


def logout_token_messages(algorithms: Iterable[str]) -> frozenset[str]:
    """Every message ``auth.logout_token.InvalidLogoutToken`` may carry, for a provider that
    advertises ``algorithms``: fixed texts, never anything quoted from a token."""
    return frozenset(
        {
            "logout token is too large",
            "logout token is not a well-formed JWT",
            "logout token issuer is not a configured provider",
            "unsigned logout token (alg none)",
            f"logout token algorithm is not allowed (allowed: {', '.join(algorithms)})",
            "logout token typ is neither JWT nor logout+jwt",
            "logout token header has crit, which this client does not support",
            "the provider's keys could not be fetched",
            "no key in the provider's JWKS matches the logout token's kid",
            "logout token signature is invalid",
            "logout token could not be verified",
            "logout token issuer is not the provider's issuer",
            "logout token audience does not include this client",
            "logout token has no valid iat",
            "logout token was issued in the future (check the clocks)",
            "logout token was issued too long ago",
            "logout token exp is not a number",
            "logout token has expired",
            "logout token has no valid jti",
            "logout token jti is too long",
            "logout token has no valid events claim",
            "logout token events claim lacks the back-channel logout event",
            "logout token back-channel logout event is not a JSON object",
            "logout token has neither sub nor sid",
            "logout token sub is not a non-empty string",
            "logout token sid is not a non-empty string",
            "logout token contains a nonce",
        }
    )


# Every error_description the route may send: the route's own and the validator's;
# a LocalProvider advertises RS256 only.
BACKCHANNEL_MESSAGES = logout_token_messages(["RS256"]) | {
    "request body too large",
    "exactly one logout_token is required",
    "logout token already used (jti seen before)",
    "session store unavailable",
    "Sign-in is busy right now. Please try again in a moment.",
    "back-channel logout needs a session store, and AUTH_STORE is none",
}
KNOWN_BACKCHANNEL_TEXT = "\n".join(sorted(BACKCHANNEL_MESSAGES | BACKCHANNEL_ERRORS))
#: a window of an unknown error_description this long found in a fuzzed input is a reflection
DESCRIPTION_WINDOW = 12
#: jti values several cases share, so that some tokens are replays of earlier ones
REPLAY_JTIS = ("replayed-jti-1", "replayed-jti-2")
# Lone surrogates: valid JSON escapes (``"\ud800"``), but no UTF-8 encoding.
SURROGATES = ("\ud800", "a\udfffb", "\udc80\udc80")
ABSENT = "@absent"  # a claim or header parameter left out
BACKCHANNEL_KEYS = (
    "logout_token",
    "logout_token ",
    "Logout_Token",
    "logout_token[]",
    "logout-token",
    "token",
    "sid",
    "state",
)
BODY_GARBAGE = (*GARBAGE_TOKENS, "logout_token=", "logout_token", "%6Cogout_token=x", "logout_token=e30.e30.e30", "&=&")
SIGNERS = ("own", "other_provider", "foreign", "client_secret_hs256", "unsigned")
# Who the token names, before claim edits: the watched session of the token's provider
# (by sid and sub, sid alone, or its sub: every session of the user), the other provider's
# watched session, its sid with another sub, or nobody; or ``TokenSpec.odd`` as the sid,
# the sub or the jti (of a token naming the watched session) of an otherwise genuine token.
SUBJECTS = (
    "watched",
    "watched_sid",
    "watched_sub",
    "other_provider_sid",
    "sid_other_sub",
    "nobody",
    "odd_sid",
    "odd_sub",
    "odd_jti",
)


@dataclass(frozen=True)
class FromNow:
    """A time claim ``seconds`` from when the token is built (a float unless ``integer``)."""

    seconds: float
    integer: bool = True


@dataclass(frozen=True)
class FieldEdit:
    """Set the claim or header parameter ``name`` to ``value`` (``ABSENT``: leave it out).

    Values may name things known once the stack runs: ``"@issuer:<provider>"`` (with
    a trailing ``/`` for a near miss), ``"@sid:<provider>"`` (its watched session's
    sid), ``"@kid:<provider>"`` (its current key id), ``"@jwk:foreign"`` (the public
    key of a key no provider has) and ``FromNow``.
    """

    name: str
    value: Any


@dataclass(frozen=True)
class TokenSpec:
    """A logout token built by ``provider`` (``LocalProvider.logout_token``) for ``subject``
    (one of ``SUBJECTS``; ``odd`` is the odd value of the ``odd_*`` ones), then edited,
    signed by ``signer`` (one of ``SIGNERS``) and maybe mutated. Only an unmutated
    ``own``-signed token with valid claims is genuine."""

    provider: str
    subject: str
    signer: str
    odd: str = ""
    claim_edits: tuple[FieldEdit, ...] = ()
    header_edits: tuple[FieldEdit, ...] = ()
    mutation: Mutation | None = None


TOKEN = "@token"  # a form value replaced by the case's token


@dataclass(frozen=True)
class BackchannelCase:
    """Target (g): one POST to ``/auth/backchannel-logout`` (twice when ``repeat``).

    ``kind``: ``raw`` sends ``raw`` as the body; ``form`` and ``token`` send ``pairs``
    form-encoded (``TOKEN`` values replaced by the token ``token`` describes), then
    ``garbage``, padded with a last field to ``pad_to`` bytes.
    """

    kind: str
    raw: bytes = b""
    pairs: tuple[tuple[str, str], ...] = ()
    encoding: str = "quote"
    garbage: str = ""
    token: TokenSpec | None = None
    pad_to: int | None = None
    content_type: str | None = FORM_TYPE
    repeat: bool = False


def jws_shaped() -> st.SearchStrategy[str]:
    """Dot-separated segments: base64url, base64url JSON, or anything."""
    segment = evenly(
        st.text(URLSAFE, max_size=40),
        json_values().map(lambda value: b64url(json.dumps(value).encode())),
        fuzz_text(),
    )
    return st.lists(segment, min_size=1, max_size=5).map(".".join)


def huge_bytes() -> st.SearchStrategy[bytes]:
    """Bodies at and past the route's limit, built by repetition."""
    unit = st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from((b"logout_token=", b"&", b"a=b&", b"%")))
    sizes = st.sampled_from((MAX_BACKCHANNEL_BODY - 1, MAX_BACKCHANNEL_BODY, MAX_BACKCHANNEL_BODY + 1, 200_000))
    return st.builds(lambda part, size: (part * (size // len(part) + 1))[:size], unit, sizes)


def raw_bodies() -> st.SearchStrategy[bytes]:
    return evenly(
        st.binary(max_size=256),
        fuzz_text().map(lambda text: text.encode("utf-8", "surrogatepass")),
        jws_shaped().map(lambda text: b"logout_token=" + text.encode("utf-8")),
        st.binary(max_size=64).map(lambda data: b"logout_token=" + data),
        huge_bytes(),
    )


def body_garbage() -> st.SearchStrategy[str]:
    token = st.one_of(st.sampled_from(BODY_GARBAGE), st.text(QUERY_PRINTABLE, max_size=6))
    return st.lists(token, min_size=1, max_size=4).map("".join)


def token_values() -> st.SearchStrategy[str]:
    """What a ``logout_token`` field of a form case holds: anything, or JWS-shaped."""
    return evenly(fuzz_text(), jws_shaped(), st.sampled_from(("", "null", "e30.e30.e30", "..", "e30.e30.")))


SHORT_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(NASTY), st.sampled_from(SURROGATES))
NUMBERS = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 2**63, True, False, 0, -0.0, 1e308, "1700000000"]),
)
EVENTS = st.one_of(
    st.sampled_from(
        [
            {BACKCHANNEL_EVENT: {}},
            {BACKCHANNEL_EVENT: []},
            {BACKCHANNEL_EVENT: {"extra": 1}},
            {BACKCHANNEL_EVENT + "/": {}},
            {BACKCHANNEL_EVENT: {}, "urn:other": {}},
            [BACKCHANNEL_EVENT],
            BACKCHANNEL_EVENT,
        ]
    ),
    st.dictionaries(st.sampled_from([BACKCHANNEL_EVENT, "x"]), json_values(), max_size=2),
)
# What each claim may become besides ABSENT and anything at all.
CLAIM_CHOICES: dict[str, st.SearchStrategy[Any]] = {
    "iss": st.sampled_from(
        ["@issuer:alpha", "@issuer:beta", "@issuer:alpha/", "https://evil.example", ["@issuer:alpha"], ""]
    ),
    "aud": st.sampled_from([CLIENT_ID, [CLIENT_ID], ["other", CLIENT_ID], ["other"], [], "App", "app ", 5, [5]]),
    "sub": st.one_of(st.sampled_from(["alice", "bob", "", 5, ["alice"], "ALICE", "alice\x00"]), SHORT_TEXT),
    "sid": st.one_of(st.sampled_from(["@sid:alpha", "@sid:beta", "", 5, ["@sid:alpha"]]), SHORT_TEXT),
    "iat": st.one_of(
        st.sampled_from(
            [FromNow(-5), FromNow(-5.5, False), FromNow(-300), FromNow(-550), FromNow(30), FromNow(-800), FromNow(600)]
        ),
        NUMBERS,
    ),
    "exp": st.one_of(
        st.sampled_from([FromNow(120), FromNow(-30), FromNow(-300), FromNow(10**6), FromNow(90.25, False)]), NUMBERS
    ),
    "jti": st.one_of(
        st.sampled_from(["", 7, "j" * 256, "j" * 257, *REPLAY_JTIS]), SHORT_TEXT, st.text(min_size=1, max_size=300)
    ),
    "events": EVENTS,
    "nonce": st.sampled_from(["n-1", "", 0]),
}
# Header values stay short: joserfc refuses a header segment over 512 bytes before any other check.
HEADER_CHOICES: dict[str, st.SearchStrategy[Any]] = {
    "alg": st.sampled_from(["RS256", "none", "None", "HS256", "RS512", "PS256", "ES256", "", 5]),
    "kid": st.one_of(st.sampled_from(["@kid:alpha", "@kid:beta", "unknown-kid", "", 5, ["@kid:alpha"]]), SHORT_TEXT),
    "typ": st.one_of(
        st.sampled_from(["JWT", "jwt", "logout+jwt", "application/logout+jwt", "LOGOUT+JWT", "at+jwt", "JOSE", 5]),
        SHORT_TEXT,
    ),
    "crit": st.sampled_from([["b64"], [], "b64", [["b64"]], ["exp"]]),
    "b64": st.sampled_from([False, True, "false"]),
    "jwk": st.just("@jwk:foreign"),
    "jku": st.sampled_from(["https://evil.example/jwks.json", ""]),
}


def field_edits(
    choices: Mapping[str, st.SearchStrategy[Any]], anything: st.SearchStrategy[Any], max_size: int
) -> st.SearchStrategy[tuple[FieldEdit, ...]]:
    """1 to ``max_size`` edits, mostly of the fields ``choices`` names, else of any name."""
    known = st.sampled_from(sorted(choices)).flatmap(
        lambda name: st.builds(FieldEdit, st.just(name), evenly(choices[name], st.just(ABSENT), anything))
    )
    other = st.builds(FieldEdit, SHORT_TEXT, json_values())
    return st.lists(evenly(known, known, known, other), min_size=1, max_size=max_size).map(tuple)


def token_specs() -> st.SearchStrategy[TokenSpec]:
    """About a third genuine (own key, no edits, no mutation), the rest forged or garbled."""
    return st.builds(
        TokenSpec,
        provider=st.sampled_from(PROVIDERS),
        subject=st.sampled_from(SUBJECTS),
        odd=evenly(SHORT_TEXT, fuzz_text(), st.sampled_from(SURROGATES)),
        signer=evenly(st.just("own"), st.just("own"), st.just("own"), st.sampled_from(SIGNERS[1:])),
        claim_edits=evenly(
            st.just(()), st.just(()), field_edits(CLAIM_CHOICES, st.one_of(json_values(), fuzz_text()), 3)
        ),
        header_edits=evenly(
            st.just(()), st.just(()), st.just(()), field_edits(HEADER_CHOICES, st.one_of(json_values(), SHORT_TEXT), 2)
        ),
        mutation=evenly(st.none(), st.none(), st.none(), mutations()),
    )


@st.composite
def backchannel_cases(draw: st.DrawFn) -> BackchannelCase:
    """Raw bodies; forms with 0-3 fuzzed ``logout_token`` fields among others; and (half the
    cases) forms around a provider-built token, most often alone, sometimes repeated,
    padded to the body limit or sent twice."""
    kind = draw(st.sampled_from(("raw", "form", "token", "token")))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if kind == "raw":
        return BackchannelCase("raw", raw=draw(raw_bodies()), content_type=content_type)
    others = draw(st.lists(pair_strategy(BACKCHANNEL_KEYS), max_size=3))
    encoding = draw(st.sampled_from(ENCODINGS))
    if kind == "form":
        tokens = draw(st.lists(st.tuples(st.just("logout_token"), token_values()), max_size=3))
        return BackchannelCase(
            "form",
            pairs=tuple(draw(st.permutations(tokens + others))),
            encoding=encoding,
            garbage=draw(evenly(st.just(""), body_garbage())),
            content_type=content_type,
        )
    extra = draw(
        evenly(
            st.just([]),
            st.just([]),
            st.lists(evenly(st.just(TOKEN), st.just(""), token_values()), min_size=1, max_size=2),
        )
    )
    pairs = [("logout_token", TOKEN), *(("logout_token", value) for value in extra)]
    pairs += others if draw(st.booleans()) else []
    return BackchannelCase(
        "token",
        pairs=tuple(draw(st.permutations(pairs))),
        encoding=encoding,
        garbage=draw(evenly(st.just(""), st.just(""), st.just(""), body_garbage())),
        token=draw(token_specs()),
        pad_to=draw(st.sampled_from((None,) * 8 + (MAX_BACKCHANNEL_BODY, MAX_BACKCHANNEL_BODY + 1))),
        content_type=content_type,
        repeat=draw(st.sampled_from((False, False, False, True))),
    )


# -- the stack's side: watched sessions, claimed jti values, keys


@dataclass
class Watched:
    """A genuine session at ``provider``, signed in through the app, that a case may end
    only with a genuine logout token naming it."""

    provider: str
    value: str  # the session cookie
    sub: str
    sid: str  # the provider's session id, as the app stored it
    signed_in: float  # time.monotonic()
    ended: bool = False


@dataclass(repr=False)
class BackchannelState:
    """What target (g) keeps between cases: one watched session per provider, every
    ``(provider, jti)`` the app claimed (until when, and whether surely), and a key
    no provider has."""

    foreign_key: RSAKey
    watched: dict[str, Watched] = field(default_factory=dict)
    claimed: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)


def backchannel_state(stack: FuzzStack) -> BackchannelState:
    if stack.backchannel is None:
        stack.backchannel = BackchannelState(foreign_key=generate_signing_key("fuzz-foreign"))
    return stack.backchannel


def watch(stack: FuzzStack, provider: str) -> Watched:
    """A fresh genuine session at ``provider`` (a new provider session, so a new ``sid``)."""
    value = stack.sign_in(provider)
    user = stack.auth.sessions.cookie.verify(value)
    store = stack.auth.sessions.store
    record = store.get(user.session_id) if store is not None and user is not None and user.session_id else None
    if record is None or not record.provider_sid:
        raise HarnessError(f"a genuine {provider} session has no store record with the provider's sid")
    return Watched(provider, value, record.sub, record.provider_sid, time.monotonic())


def is_live(stack: FuzzStack, watched: Watched) -> bool:
    return stack.auth.sessions.check(watched.value, activity=False).user is not None


def refresh_watched(stack: FuzzStack, state: BackchannelState) -> None:
    """Replace each watched session that a genuine token ended (or that is old enough for the
    idle timeout to approach), so that every request is checked against a live one."""
    for name in PROVIDERS:
        current = state.watched.get(name)
        if (
            current is None
            or current.ended
            or time.monotonic() - current.signed_in > WATCHED_MAX_AGE
            or not is_live(stack, current)
        ):
            state.watched[name] = watch(stack, name)


def other_provider(name: str) -> str:
    return next(other for other in PROVIDERS if other != name)


# -- building tokens


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(segment: str) -> Any:
    """The JSON in a base64url segment; ValueError when there is none."""
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, UnicodeError) as error:
        raise ValueError(str(error)) from None


def resolve_special(value: Any, stack: FuzzStack, state: BackchannelState) -> Any:
    """``FieldEdit`` values with what they stand for (see there)."""
    if isinstance(value, FromNow):
        at = time.time() + value.seconds
        return int(at) if value.integer else at
    if isinstance(value, list):
        return [resolve_special(item, stack, state) for item in value]
    if isinstance(value, dict):
        return {key: resolve_special(item, stack, state) for key, item in value.items()}
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    kind, _, name = value.partition(":")
    bare = name.rstrip("/")
    if kind == "@issuer" and bare in stack.providers:
        return stack.providers[bare].issuer + name[len(bare) :]
    if kind == "@sid" and name in state.watched:
        return state.watched[name].sid
    if kind == "@kid" and name in stack.providers:
        return stack.providers[name].current_kid
    if value == "@jwk:foreign":
        return state.foreign_key.as_dict(private=False)
    return value


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)


@dataclass(frozen=True)
class BuiltToken:
    """A case's logout token: ``token`` as built and signed, ``sent`` after the mutation;
    ``header`` and ``claims`` as serialized (read back), unless not ``readable``."""

    provider: str
    signer: str
    token: str
    sent: str
    header: Any
    claims: Any
    readable: bool
    strings: tuple[str, ...]


def subject_of(spec: TokenSpec, state: BackchannelState) -> tuple[str | None, str | None]:
    own, other = state.watched[spec.provider], state.watched[other_provider(spec.provider)]
    return {
        "watched": (own.sub, own.sid),
        "watched_sid": (None, own.sid),
        "watched_sub": (own.sub, None),
        "other_provider_sid": (other.sub, other.sid),
        "sid_other_sub": ("mallory", own.sid),
        "nobody": ("nobody", secrets.token_hex(8)),
        "odd_sid": (None, spec.odd),
        "odd_sub": (spec.odd, None),
        "odd_jti": (own.sub, own.sid),
    }[spec.subject]


def signer_key(stack: FuzzStack, state: BackchannelState, spec: TokenSpec) -> RSAKey | OctKey | None:
    if spec.signer == "other_provider":
        return stack.providers[other_provider(spec.provider)].signing_key
    if spec.signer == "foreign":
        return state.foreign_key
    if spec.signer == "client_secret_hs256":  # the alg-confusion classic: HMAC with the client secret
        return OctKey.import_key(CLIENT_SECRET)
    return None  # own (the provider's current key), unsigned (no key at all)


def sign_anyway(
    provider: LocalProvider,
    sub: str | None,
    sid: str | None,
    claims: dict[str, Any],
    header_override: dict[str, Any],
    key: RSAKey | OctKey | None,
) -> str:
    """The token ``LocalProvider.logout_token`` would make, for headers joserfc will not sign
    (an ``alg`` for another key type, a ``kid`` that is no string...): the same claims, the
    header serialized as it is, signed RS256 (HS256 with an ``OctKey``) whatever it says."""
    plain = provider.logout_token(sub=sub, sid=sid, claims_override=claims)
    header = b64url_json(plain.split(".")[0])
    if key is not None and getattr(key, "kid", None):
        header["kid"] = key.kid
    header = {name: value for name, value in {**header, **header_override}.items() if value is not None}
    signing_input = f"{b64url(json.dumps(header).encode())}.{plain.split('.')[1]}"
    if header.get("alg") == "none":
        return f"{signing_input}."
    if isinstance(key, OctKey):
        signature = hmac.new(CLIENT_SECRET.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    else:
        private = (key or provider.signing_key).private_key
        assert private is not None
        signature = private.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def build_logout_token(stack: FuzzStack, state: BackchannelState, spec: TokenSpec) -> BuiltToken:
    provider = stack.providers[spec.provider]
    sub, sid = subject_of(spec, state)

    def overrides(edits: Sequence[FieldEdit]) -> dict[str, Any]:
        return {e.name: None if e.value == ABSENT else resolve_special(e.value, stack, state) for e in edits}

    claims = ({"jti": spec.odd} if spec.subject == "odd_jti" else {}) | overrides(spec.claim_edits)
    header = {"alg": "HS256"} if spec.signer == "client_secret_hs256" else {}
    header |= overrides(spec.header_edits)
    if spec.signer == "unsigned":
        header["alg"] = "none"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc on a short HMAC key or a deprecated algorithm name
        key = signer_key(stack, state, spec)
        try:
            # An OctKey too: joserfc signs with any key its alg suits, whatever the annotation says.
            token = provider.logout_token(
                sub=sub, sid=sid, claims_override=claims, header_override=header, key=cast(RSAKey | None, key)
            )
        except Exception:  # joserfc refuses to sign this header: sign it anyway
            token = sign_anyway(provider, sub, sid, claims, header, key)
    sent = token if spec.mutation is None else apply_mutation(token, spec.mutation)
    try:
        segments = token.split(".")
        read_header, read_claims, readable = b64url_json(segments[0]), b64url_json(segments[1]), True
    except (ValueError, IndexError):
        read_header, read_claims, readable = None, None, False
    strings = [text for value in (sub, sid, claims, header) for text in strings_in(value)]
    return BuiltToken(spec.provider, spec.signer, token, sent, read_header, read_claims, readable, tuple(strings))


# -- what the app must do with it


@dataclass(frozen=True)
class Expectation:
    """``accept`` (200), ``refuse`` (400) or ``either``, and why."""

    outcome: str
    reason: str


def finite_number(value: Any) -> float | None:
    """The judge's own reading of a numeric claim, written apart from ``auth.id_token.finite_number``
    on purpose: an oracle that called the code under test could not catch its mistakes."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def has_surrogate(value: Any) -> bool:
    return isinstance(value, str) and any(0xD800 <= ord(char) <= 0xDFFF for char in value)


def judge_logout_token(stack: FuzzStack, state: BackchannelState, built: BuiltToken, now: float) -> Expectation:
    """Back-Channel Logout 1.0 §2.4 and §2.6, written out independently of the app: does
    the token as built make a valid logout request? ``refuse`` whenever one rule surely
    fails; ``either`` where the rule is the app's choice or a time is within
    ``TIME_MARGIN`` of a limit; ``accept`` otherwise."""
    if built.signer != "own":
        return Expectation("refuse", f"not signed with {built.provider}'s key ({built.signer})")
    if len(built.token) > MAX_LOGOUT_TOKEN_CHARS:
        return Expectation("refuse", "longer than any logout token")
    if not built.readable:
        return Expectation("either", "a segment is not base64url JSON")
    header, claims = built.header, built.claims
    provider = stack.providers[built.provider]
    doubts: list[str] = []
    refusals: list[str] = []
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return Expectation("refuse", "alg is not RS256 (the only one the provider advertises)")
    kid = header.get("kid", provider.current_kid)
    if isinstance(kid, str) and kid != provider.current_kid:
        refusals.append("kid of no key of the provider")
    elif not isinstance(kid, str):
        doubts.append("kid is not a string")
    if "crit" in header:
        refusals.append("crit")
    if "typ" in header and not (isinstance(header["typ"], str) and header["typ"].lower() in LOGOUT_TOKEN_TYPES):
        refusals.append("typ of another kind of token")
    if set(header) - {"alg", "kid", "typ"}:
        doubts.append("other header parameters")
    if not isinstance(claims, dict):
        return Expectation("refuse", "claims are not an object")
    settings_ = stack.auth.clients[built.provider].settings
    if not (isinstance(claims.get("iss"), str) and claims["iss"] in settings_.accepted_issuers):
        refusals.append("iss is not the provider's")
    aud = claims.get("aud")
    audiences = (
        [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []
    )
    if settings_.client_id not in audiences:
        refusals.append("aud lacks the client")
    iat = finite_number(claims.get("iat"))
    if iat is None:
        refusals.append("no numeric iat")
    else:
        future, past = now + LOGOUT_LEEWAY, now - LOGOUT_MAX_AGE - LOGOUT_LEEWAY
        if iat > future + TIME_MARGIN or iat < past - TIME_MARGIN:
            refusals.append("iat out of range")
        elif abs(iat - future) <= TIME_MARGIN or abs(iat - past) <= TIME_MARGIN:
            doubts.append("iat near a limit")
    exp = finite_number(claims.get("exp"))
    if "exp" in claims:
        if exp is None:
            refusals.append("exp is not a number")
        elif now > exp + LOGOUT_LEEWAY + TIME_MARGIN:
            refusals.append("expired")
        elif now > exp + LOGOUT_LEEWAY - TIME_MARGIN:
            doubts.append("exp near the limit")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        refusals.append("no valid jti")
    else:
        until, surely = state.claimed.get((built.provider, jti), (-math.inf, True))
        if until > now + TIME_MARGIN and surely:
            refusals.append("jti already used")
        elif until > now - TIME_MARGIN:
            doubts.append("jti perhaps still claimed")
    events = claims.get("events")
    if not (isinstance(events, dict) and isinstance(events.get(BACKCHANNEL_EVENT), dict)):
        refusals.append("no back-channel logout event")
    named = {name: claims[name] for name in ("sub", "sid") if name in claims}
    if not named or any(not isinstance(value, str) or not value for value in named.values()):
        refusals.append("no valid sub or sid")
    if "nonce" in claims:
        refusals.append("nonce")
    if any(has_surrogate(claims.get(name)) for name in ("jti", "sub", "sid")):
        doubts.append("jti, sub or sid with a lone surrogate")
    if refusals:
        return Expectation("refuse", ", ".join(refusals))
    if doubts:
        return Expectation("either", ", ".join(doubts))
    return Expectation("accept", "a valid logout token")


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body (URL standard parsing)."""
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def expect(
    stack: FuzzStack, state: BackchannelState, body: bytes, content_type: str | None, built: BuiltToken | None
) -> tuple[Expectation, BuiltToken | None]:
    """What the app must answer to this body, and the case's token when it is what the
    body carries (mutated or not)."""
    if len(body) > MAX_BACKCHANNEL_BODY:
        return Expectation("refuse", "body over 64 KiB"), None
    sent = [value for key, value in form_fields(body) if key == "logout_token"]
    if len(sent) != 1 or not sent[0]:
        return Expectation("refuse", f"{len(sent)} logout_token fields"), None
    if built is None or sent[0] not in (built.token, built.sent):
        return Expectation("refuse", "a logout_token no provider signed"), None
    judged = judge_logout_token(stack, state, built, time.time())
    if sent[0] != built.token and judged.outcome != "refuse":
        if sent[0].rsplit(".", 1)[0] != built.token.rsplit(".", 1)[0]:
            return Expectation("refuse", "garbled: the signed part changed"), built
        judged = Expectation("either", "the signature re-encoded")
    if judged.outcome == "accept" and (content_type or "").split(";")[0].strip().lower() != FORM_TYPE:
        judged = Expectation("either", f"a valid token sent as {content_type!r}")
    return judged, built


def names_session(claims: Any, watched: Watched) -> str:
    """``exactly`` when valid claims name this session (its sid, with its sub or without a
    sub; or its sub without a sid), ``maybe`` for its sid with another sub, else ``""``."""
    if not isinstance(claims, dict):
        return ""
    if "sid" in claims:
        if claims["sid"] != watched.sid:
            return ""
        return "exactly" if claims.get("sub", watched.sub) == watched.sub else "maybe"
    return "exactly" if claims.get("sub") == watched.sub else ""


def watched_violations(
    stack: FuzzStack, watched: Iterable[Watched], accepted: BuiltToken | None, what: str
) -> tuple[list[Violation], list[str]]:
    """Each watched session is live, unless ``accepted`` (the token a 200 answered) names
    it; and then it has ended. Marks the ended ones, for ``refresh_watched``."""
    violations, ended = [], []
    for session in watched:
        status = stack.auth.sessions.check(session.value, activity=False)
        naming = names_session(accepted.claims, session) if accepted and accepted.provider == session.provider else ""
        if status.user is not None:
            if naming == "exactly":
                violations.append(
                    Violation(LOGOUT_IGNORED, f"{what}, a token naming the {session.provider} session, left it live")
                )
            continue
        session.ended = True
        if status.unavailable:
            violations.append(
                Violation(UNEXPECTED_STATUS, "the session store did not answer the watched session check")
            )
        elif not naming:
            violations.append(
                Violation(
                    SESSION_ENDED,
                    f"the watched {session.provider} session (sid {session.sid}) ended ({status.ended}) after {what}",
                )
            )
        else:
            ended.append(session.provider)
    return violations, ended


def backchannel_reflections(text: str, fuzzed: Iterable[str]) -> list[str]:
    """Fuzzed inputs (6+ characters) in ``text``, or 12-character windows of ``text`` found
    in a fuzzed input, leaving out what the fixed messages say anyway."""
    inputs = [item for item in fuzzed if item]
    found = [
        item
        for item in inputs
        if len(item) >= MIN_REFLECTION_LENGTH and item in text and item not in KNOWN_BACKCHANNEL_TEXT
    ]
    for start in range(len(text) - DESCRIPTION_WINDOW + 1):
        window = text[start : start + DESCRIPTION_WINDOW]
        if window not in KNOWN_BACKCHANNEL_TEXT and any(window in item for item in inputs):
            found.append(window)
            break
    return found


def backchannel_response_violations(response: httpx.Response, fuzzed: Sequence[str]) -> tuple[list[Violation], str]:
    """Every invariant about one back-channel answer, and a few words about it."""
    status, violations = response.status_code, []
    if 500 <= status <= 599:
        violations.append(Violation(SERVER_ERROR, f"status {status}: {clip(response.text, 500)}"))
    elif status not in BACKCHANNEL_STATUSES:
        violations.append(Violation(UNEXPECTED_STATUS, f"status {status}: {clip(response.text)}"))
    directives = {part.strip().lower() for part in response.headers.get("cache-control", "").split(",")}
    if "no-store" not in directives:
        violations.append(Violation(UNEXPECTED_STATUS, f"status {status} without Cache-Control: no-store"))
    violations += [
        Violation(SESSION_SET, f"back-channel logout sets a cookie: {clip(header, 120)}")
        for header in response.headers.get_list("set-cookie")
    ]
    if status == 200:
        if response.content:
            violations.append(Violation(UNEXPECTED_STATUS, f"200 with a body: {clip(response.text)}"))
        return violations, "200"
    texts = [response.text]
    note = f"{status}"
    if status == 400:
        try:
            payload = json.loads(response.content)
        except ValueError:
            payload = None
        if not response.headers.get("content-type", "").startswith("application/json") or not isinstance(payload, dict):
            violations.append(Violation(UNEXPECTED_STATUS, f"400 that is no JSON object: {clip(response.text)}"))
        elif payload.get("error") not in BACKCHANNEL_ERRORS or not isinstance(payload.get("error_description"), str):
            violations.append(Violation(UNEXPECTED_STATUS, f"400 with an unexpected error: {clip(payload)}"))
        elif payload["error_description"] not in BACKCHANNEL_MESSAGES:
            violations.append(Violation(NOT_FIXED, clip(payload["error_description"], 300)))
            texts = [payload["error_description"]]
            note = f"400 {payload['error']}: (not a fixed message)"
        else:
            return violations, f"400 {payload['error']}: {payload['error_description']}"
    violations += [
        Violation(REFLECTED, f"{clip(text, 120)} from the request appears in the answer")
        for text in backchannel_reflections(texts[0], fuzzed)
    ]
    return violations, note


def send_backchannel(
    stack: FuzzStack,
    state: BackchannelState,
    verdict: Verdict,
    body: bytes,
    content_type: str | None,
    built: BuiltToken | None,
    fuzzed: Sequence[str],
) -> httpx.Response | None:
    """POST ``body`` and record its status and every invariant it breaks."""
    refresh_watched(stack, state)
    expectation, carried = expect(stack, state, body, content_type, built)
    watched = list(state.watched.values())
    stack.logs.records.clear()
    stack.client.cookies.clear()
    try:
        response = stack.client.post(
            BACKCHANNEL_PATH, content=body, headers={"content-type": content_type} if content_type else {}
        )
    except Exception as error:
        verdict.violations.append(Violation(RAISED, f"POST {BACKCHANNEL_PATH} {clip(body, 200)} {describe(error)}"))
        return None
    status = response.status_code
    verdict.responses.append(("backchannel", status))
    found, note = backchannel_response_violations(response, fuzzed)
    verdict.violations += found
    verdict.violations += log_violations(stack.logs.records)
    verdict.notes.append(note)
    if carried is not None:
        verdict.notes.append(f"provider-built token judged: {expectation.outcome}")
    if status == 200 and expectation.outcome == "refuse":
        verdict.violations.append(Violation(LOGOUT_ACCEPTED, f"200 for {expectation.reason}: {clip(body, 300)}"))
    elif status == 400 and expectation.outcome == "accept":
        verdict.violations.append(
            Violation(UNEXPECTED_STATUS, f"a valid logout token was refused ({note}): {clip(body, 300)}")
        )
    accepted = carried if status == 200 else None
    if carried is not None and isinstance(carried.claims, dict) and isinstance(carried.claims.get("jti"), str):
        claims = carried.claims
        iat = finite_number(claims.get("iat")) or time.time()
        exp = finite_number(claims.get("exp"))
        until = min(exp, iat + LOGOUT_MAX_AGE) if exp is not None else iat + LOGOUT_MAX_AGE
        if status == 200:  # claimed for sure; any 400 after validation may have claimed it too
            state.claimed[(carried.provider, claims["jti"])] = (until + LOGOUT_LEEWAY, True)
        elif status == 400 and ("temporarily_unavailable" in note or "not a fixed message" in note):
            state.claimed.setdefault((carried.provider, claims["jti"]), (until + LOGOUT_LEEWAY, False))
    what = (
        f"a {status} to the token naming it"
        if accepted
        else f"a {status} to a request judged {expectation.outcome} ({expectation.reason})"
    )
    found, ended = watched_violations(stack, watched, accepted, what)
    verdict.violations += found
    verdict.notes += [f"watched {provider} session ended" for provider in ended]
    return response


def backchannel_body(case: BackchannelCase, built: BuiltToken | None) -> bytes:
    if case.kind == "raw":
        return case.raw
    token = built.sent if built is not None else ""
    pairs = [(key, token if value == TOKEN else value) for key, value in case.pairs]
    body = encode_query(pairs, case.encoding, case.garbage, limit=None)
    if case.pad_to is not None and case.pad_to - len(body) >= len(b"&pad="):
        body += b"&pad=" + b"x" * (case.pad_to - len(body) - len(b"&pad="))
    return body


def backchannel_inputs(case: BackchannelCase, body: bytes, built: BuiltToken | None) -> list[str]:
    """Every fuzzed string the request carries, as generated and as the app decodes it."""
    texts = [body.decode("utf-8", "replace"), body.decode("latin-1"), case.garbage]
    texts += [text for pair in (*case.pairs, *form_fields(body)) for text in pair if text != TOKEN]
    if built is not None:
        texts += [built.sent, *built.strings]
    return texts


def run_backchannel(stack: FuzzStack, case: BackchannelCase, verdict: Verdict) -> None:
    state = backchannel_state(stack)
    refresh_watched(stack, state)
    built = build_logout_token(stack, state, case.token) if case.token is not None else None
    body = backchannel_body(case, built)
    fuzzed = backchannel_inputs(case, body, built)
    for _ in range(2 if case.repeat else 1):
        send_backchannel(stack, state, verdict, body, case.content_type, built, fuzzed)
