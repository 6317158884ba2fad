"""Property-based fuzzing of the ``/auth/*`` routes, in process.

Shared by ``tests/fuzz/test_fuzz_routes.py`` (a small budget in every test run)
and ``scripts/fuzz.py`` (a large budget, with counts), so both fuzz exactly the
same things. From here they get:

- ``running_stack()``: two real OpenID providers (``LocalProvider``) on
  127.0.0.1 and the app's routes behind Starlette's ``TestClient``;
- ``TARGETS``: one hypothesis strategy per fuzz target, and the runner that
  sends a generated case and returns a ``Verdict``. The targets: (a) arbitrary
  query strings on ``/auth/login`` and the callbacks; (b) forged session
  cookies; (c) forged transaction cookies named after the callback's state;
  (d) a real sign-in whose provider answer (code, iss, error...) is fuzzed;
  (e) strange Host headers; (f) a real sign-in with a fuzzed ``next``.

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
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import os
import re
import secrets
import string
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import httpx
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.datastructures import QueryParams

with warnings.catch_warnings():
    # Starlette announces a move of its TestClient to httpx2; it works the same today.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from auth import Auth, User, load_settings
from tests.support.provider import LocalProvider, ProviderUser

# The cookies' wire format, written out rather than imported: the harness forges cookies
# from what the app sends, and ``FuzzStack.prepare`` checks these still match it.
SESSION_SALT = "streamlit-oidc-auth.session.v1"
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
ROUTE_STATUSES = {"login": LOGIN_STATUSES, "callback": CALLBACK_STATUSES, "logout": LOGOUT_STATUSES}

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
        """``login``, ``logout``, ``callback:<provider>`` or ``callback:legacy`` as a path."""
        if route == "login":
            return LOGIN_PATH
        if route == "logout":
            return LOGOUT_PATH
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


def fuzz_environment(providers: Mapping[str, LocalProvider], cookie_secret: str) -> dict[str, str]:
    """Two generic providers, a fresh secret, and no rate limit.

    ``AUTH_RATE_LIMIT=off`` because thousands of requests from one address are
    the point here; an app without that setting only warns about it.
    """
    env = {
        "AUTH_PROVIDERS": ",".join(providers),
        "AUTH_COOKIE_SECRET": cookie_secret,
        "AUTH_PUBLIC_URL": PUBLIC_URL,
        "AUTH_HTTP_TIMEOUT": "2s",
        "AUTH_RATE_LIMIT": "off",
    }
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
    try:
        for name in PROVIDERS:
            providers[name] = LocalProvider(
                users=provider_users(), client_id=CLIENT_ID, client_secret=CLIENT_SECRET
            ).start()
        cookie_secret = secrets.token_urlsafe(32)
        auth = Auth(load_settings(fuzz_environment(providers, cookie_secret), base_path=""))
        app = Starlette(routes=auth.routes)
        with (
            TestClient(app, base_url=PUBLIC_URL, follow_redirects=False, raise_server_exceptions=True) as client,
            capture_auth_logs() as logs,
            requests.Session() as browser,
        ):
            browser.trust_env = False  # the providers are on 127.0.0.1: never through a proxy
            stack = FuzzStack(
                providers=providers, auth=auth, client=client, cookie_secret=cookie_secret, logs=logs, browser=browser
            )
            stack.prepare()
            yield stack
    finally:
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


def encode_query(pairs: Sequence[tuple[str, str]], encoding: str, garbage: str = "") -> bytes:
    """A query string: pairs percent-encoded (``loose`` leaves markup characters raw), then garbage."""
    if encoding == "plus":
        parts = [f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in pairs]
    else:
        safe = QUERY_LOOSE_SAFE if encoding == "loose" else ""
        parts = [f"{quote(k, safe=safe)}={quote(v, safe=safe)}" for k, v in pairs]
    if garbage:
        parts.append(garbage)
    return "&".join(parts).encode("ascii")[:MAX_QUERY_BYTES]


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


REENCODINGS: dict[str, Callable[[str], str]] = {
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
        allowed=HOST_STATUSES,
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


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Target:
    """A fuzz target: its strategy, its runner, and its share of a long run."""

    name: str
    strategy: st.SearchStrategy[Any]
    runner: Callable[[FuzzStack, Any, Verdict], None]
    weight: int

    def execute(self, stack: FuzzStack, case: Any) -> Verdict:
        verdict = Verdict(self.name)
        self.runner(stack, case, verdict)
        return verdict


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("login_query", login_queries(), run_query, 2),
        Target("callback_query", callback_queries(), run_query, 2),
        Target("session_cookie", session_cookie_cases(), run_session_cookie, 2),
        Target("transaction_cookie", transaction_cookie_cases(), run_transaction_cookie, 2),
        Target("real_callback", real_callback_cases(), run_real_callback, 1),
        Target("host_header", host_cases(), run_host, 1),
        Target("next_redirect", next_redirect_cases(), run_next_redirect, 1),
    )
}


def split_budget(total: int, names: Iterable[str] | None = None) -> dict[str, int]:
    """``total`` cases shared by weight among ``names`` (default: every target), the rounding
    remainder going to the first ones, so that the shares add up to ``total``."""
    chosen = {name: TARGETS[name] for name in (names or TARGETS)}
    weights = sum(target.weight for target in chosen.values())
    shares = {name: total * target.weight // weights for name, target in chosen.items()}
    for name in list(shares)[: total - sum(shares.values())]:
        shares[name] += 1
    return {name: max(1, share) for name, share in shares.items()}
