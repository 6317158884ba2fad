"""Fuzz target (h): ``/auth/logout``, the one route that ends sessions at the user's request.

A case is one request: any method; any mix of the Fetch Metadata headers
(``Sec-Fetch-Site/-Mode/-Dest/-User``: absent, the value a click on the app's own
link sends, another valid value, the same in another letter case, or garbage);
an ``Origin`` (absent, the app's, another port or host, ``null``, near misses,
garbage); a ``Referer`` (the app ignores it); a query (``everywhere=1``, ``=0``,
repeated, garbage); and a session cookie: none, garbage, a forgery of a live
session's cookie, a live session's genuine cookie (this user's, another user's,
the same ``sub`` at the other provider), or the genuine cookie of a session that
is no longer live (ended by logout, by sign-out everywhere or by back-channel
logout; really idle; its record's claims tampered with; unknown to the store).
Meanwhile three live sessions are watched: the same user on another device,
another user, and the same ``sub`` at the other provider.

Sessions are made in process, through the app's own ``Sessions.start`` with the
stack's providers as issuers (so the cookies verify), not through a sign-in:
no provider round trip per case.

``judge_logout`` says, apart from the app's code, whether the request must sign
out (the README's "Only the user signs out"): a POST from the app's origin
(``Sec-Fetch-Site: same-origin``; with no Sec-Fetch-Site, an ``Origin`` equal to
the app's), or a GET that is the user's own same-origin click (all four headers).
HEAD must stay safe, so it never signs out (the confirmation page's headers); other
methods get 405. An ``Origin`` counts only when it is exactly the app's, as a
browser serializes it. Where the rule does not decide (``everywhere`` given twice
with different values) the judge says "either", with the reason, which the long
run counts.

The invariants, besides the harness's response checks (no 5xx, no reflected input,
no Location off the app and its providers, no broken log line):

- the status is 303 (signed out), 200 (asked to confirm) or 405, and signed out
  exactly when the judge says so;
- a 200 is the "Sign out?" page: HTML whose one form POSTs to ``/auth/logout``
  with the request's ``everywhere`` flag; it sets no cookie at all;
- a 303 deletes the session cookie and sets nothing else; it goes to the
  provider's end-session endpoint (with the ended session's own ID token as
  ``id_token_hint``) when the cookie the app read was a live session's, and to
  the app's root with a valid sign-out ``state`` otherwise (an ended session's
  cookie never sends the browser to the provider);
- a session ends exactly when the request signed out, the cookie the app read
  was that live session's, or (``everywhere=1``) a live session's of the same
  provider and ``sub``; so the other user's session never ends;
- every 200 and 303 says ``Cache-Control: no-store``.
"""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
from hypothesis import strategies as st

from auth.identity import Identity
from auth.sessions import LOGOUT_EVERYWHERE, Sessions
from auth.stores.base import new_session_id
from auth.vault import StoredTokens
from tests.fuzz.harness import (
    COOKIE_NAME,
    LOGOUT_PATH,
    MAX_HEADER_BYTES,
    PUBLIC_URL,
    RAISED,
    SESSION_SALT,
    TRANSACTION_SALT,
    UNEXPECTED_STATUS,
    URLSAFE,
    WATCHED_MAX_AGE,
    FuzzStack,
    Mutation,
    QueryCase,
    Verdict,
    Violation,
    apply_mutation,
    as_received,
    clip,
    cookie_header,
    describe,
    evenly,
    fuzz_text,
    header_safe,
    log_violations,
    mutations,
    query_cases,
    response_violations,
    set_cookies,
    sign,
    unseal,
)

# Violation kinds of this target.
LOGOUT_DECISION = "logout_decision_differs"
NOT_CONFIRMATION = "not_the_confirmation_page"
SIGN_OUT_RESPONSE = "sign_out_response_wrong"
SESSION_ENDED_WRONGLY = "session_ended_wrongly"
SESSION_LEFT_LIVE = "session_left_live"

LOGOUT_TARGET_STATUSES = frozenset({200, 303, 405})
APP_SCHEME, APP_HOST_PORT = urlsplit(PUBLIC_URL).scheme, urlsplit(PUBLIC_URL).netloc
DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
# An origin as browsers serialize it (WHATWG URL "origin"): lower-case scheme and host,
# the port only when it is not the scheme's default, in decimal without leading zeros.
SERIALIZED_ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([1-9][0-9]{0,4}))?")

# -- what a case sends

METHODS = ("GET", "POST")
OTHER_METHODS = ("HEAD", "PUT", "DELETE", "OPTIONS", "PATCH")
FETCH_HEADERS = ("Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User")
# Every value the Fetch Metadata spec defines for each header.
FETCH_VALUES = {
    "Sec-Fetch-Site": ("same-origin", "same-site", "cross-site", "none"),
    "Sec-Fetch-Mode": ("navigate", "same-origin", "no-cors", "cors", "websocket"),
    "Sec-Fetch-Dest": ("document", "iframe", "frame", "image", "empty", "script", "style", "embed", "object"),
    "Sec-Fetch-User": ("?1", "?0"),
}
# What a browser sends in situations that matter here (Site, Mode, Dest, User; None: absent).
FETCH_PROFILES: dict[str, tuple[str | None, ...]] = {
    # the user's click on a link of the app, or on its "Log out" form button
    "click": ("same-origin", "navigate", "document", "?1"),
    # the app's own script
    "fetch": ("same-origin", "cors", "empty", None),
    # an image in content the app renders: ![](/auth/logout?everywhere=1)
    "image": ("same-origin", "no-cors", "image", None),
    "frame": ("same-origin", "navigate", "iframe", None),
    # a typed address, a bookmark
    "typed": ("none", "navigate", "document", "?1"),
    # a link or auto-submitted form on another site
    "other_site": ("cross-site", "navigate", "document", "?1"),
    "same_site": ("same-site", "navigate", "document", "?1"),
    # an older browser, curl
    "no_metadata": (None, None, None, None),
}
OTHER_ORIGINS = (
    "http://localhost:8502",
    "http://localhost",
    "http://127.0.0.1:8501",
    "http://[::1]:8501",
    "http://localhost.:8501",
    "http://evil.example",
    "https://evil.example",
    "http://evil.example:8501",
    "http://localhost:8501.evil.example",
)
# Origins that are not exactly the app's but name its host and port.
NEAR_ORIGINS = (
    "https://localhost:8501",
    "ws://localhost:8501",
    "HTTP://LOCALHOST:8501",
    "http://localhost:8501/",
    "http://localhost:8501/auth/logout",
    "http://localhost:8501:80",
    "http://x@localhost:8501",
    "http://localhost:08501",
    "http://local\thost:8501",
)
REFERERS = (f"{PUBLIC_URL}/", f"{PUBLIC_URL}/page", "https://evil.example/page", "null")
# The cookie a case sends. Users: alice@alpha is "this user"; carol@alpha another one;
# alice@beta the same sub at the other provider. The watched bob@alpha is never sent.
LIVE_KINDS = ("live", "other_user", "same_sub_other_provider")
NOT_LIVE_KINDS = (
    "ended_logout",
    "ended_everywhere",
    "ended_backchannel",
    "ended_idle",
    "record_tampered",
    "unknown_session",
)
# Payload edits signed with the app's own key and salt: each names no live session of its user.
OWN_KEY_EDITS = ("sub_bob", "session_of_bob", "random_session", "provider_beta", "issuer_beta")
OTHER_SALTS = (TRANSACTION_SALT, SESSION_SALT.rsplit(":", 1)[0], SESSION_SALT + "x")
# Users and the sessions a case watches: name -> (provider, sub).
USERS = {
    "this_user": ("alpha", "alice"),
    "other_device": ("alpha", "alice"),
    "other_user": ("alpha", "bob"),
    "same_sub_other_provider": ("beta", "alice"),
    "another_user": ("alpha", "carol"),
}
WATCHED = ("other_device", "other_user", "same_sub_other_provider")
#: how far in the past an idle session's activity is put, past the idle timeout
IDLE_MARGIN = 60.0


@dataclass(frozen=True)
class CookieSpec:
    """The session cookie of a case: ``kind`` (``LIVE_KINDS``, ``NOT_LIVE_KINDS``, ``forged``,
    ``none``, ``garbage``), and for ``forged`` one of a
    ``mutation`` of a live cookie, a ``key`` or ``salt`` not the app's, or an ``edit`` of
    the payload signed with the app's own key and salt; ``text`` is ``garbage``'s value."""

    kind: str
    mutation: Mutation | None = None
    key: str = ""
    salt: str = ""
    edit: str = ""
    text: str = ""


@dataclass(frozen=True)
class LogoutCase:
    """Target (h): one request to ``/auth/logout``. ``fetch`` holds the Sec-Fetch-* headers as
    sent (name as spelled, value); ``decoys`` are other cookies, sent before the session's."""

    method: str
    fetch: tuple[tuple[str, str], ...]
    origin: str | None
    referer: str | None
    query: QueryCase
    cookie: CookieSpec
    decoys: tuple[tuple[str, str], ...] = ()


def header_value(text: str) -> str:
    """``text`` as a server hands it on: no CR or LF, no blanks around it (RFC 9110 §5.5)."""
    return header_safe(text).strip(" \t")


def case_variant(value: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(value), max_size=len(value))
    return flips.map(lambda upper: "".join(c.upper() if u else c for c, u in zip(value, upper, strict=True)))


def spelled(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from((name, name.lower(), name.upper()))


@st.composite
def fetch_metadata(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    """A browser's headers for one situation (``FETCH_PROFILES``); in half the cases some of
    them are dropped, changed to another valid value or letter case, or garbled."""
    others = sorted(set(FETCH_PROFILES) - {"click", "no_metadata"})
    profile = FETCH_PROFILES[draw(evenly(st.just("click"), st.just("no_metadata"), st.sampled_from(others)))]
    changed = draw(evenly(st.just(frozenset()), st.frozensets(st.sampled_from(FETCH_HEADERS), min_size=1)))
    headers = []
    for name, value in zip(FETCH_HEADERS, profile, strict=True):
        if name in changed:
            value = draw(
                evenly(
                    st.none(),
                    st.sampled_from(FETCH_VALUES[name]),
                    st.sampled_from(FETCH_VALUES[name]).flatmap(case_variant),
                    fuzz_text(),
                )
            )
        if value is not None and header_value(value):
            headers.append((draw(spelled(name)), header_value(value)))
    return tuple(headers)


def logout_queries() -> st.SearchStrategy[QueryCase]:
    return query_cases(("logout",), {"everywhere": ("1", "1", "0")}, ("everywhere", "everywhere", "state", "next"))


def cookie_specs() -> st.SearchStrategy[CookieSpec]:
    # Six groups, drawn about as often (hypothesis favours the first a little): this
    # user's live session in two of them, so that enough sign-outs end a live session.
    kind = evenly(
        st.sampled_from(NOT_LIVE_KINDS),
        st.just("live"),
        st.sampled_from(("none", "garbage")),
        st.just("forged"),
        st.just("live"),
        st.sampled_from(LIVE_KINDS[1:]),
    )
    forged = evenly(
        st.builds(CookieSpec, st.just("forged"), mutation=mutations()),
        st.builds(CookieSpec, st.just("forged"), key=st.text(min_size=1, max_size=40)),
        st.builds(CookieSpec, st.just("forged"), salt=st.sampled_from(OTHER_SALTS)),
        st.builds(CookieSpec, st.just("forged"), edit=st.sampled_from(OWN_KEY_EDITS)),
    )
    return kind.flatmap(
        lambda k: (
            forged
            if k == "forged"
            else st.builds(CookieSpec, st.just(k), text=fuzz_text())
            if k == "garbage"
            else st.just(CookieSpec(k))
        )
    )


def logout_cases() -> st.SearchStrategy[LogoutCase]:
    decoy_name = st.text(URLSAFE, min_size=1, max_size=12).filter(lambda name: name != COOKIE_NAME)
    return st.builds(
        LogoutCase,
        # one case in five another method than GET and POST (HEAD is GET without the body)
        method=evenly(*(st.sampled_from(METHODS),) * 4, st.sampled_from(OTHER_METHODS)),
        fetch=fetch_metadata(),
        origin=evenly(
            st.none(),
            st.just(PUBLIC_URL),
            st.just(PUBLIC_URL),
            st.sampled_from(OTHER_ORIGINS),
            st.sampled_from(NEAR_ORIGINS),
            st.just("null"),
            fuzz_text(),
        ),
        referer=evenly(st.none(), st.sampled_from(REFERERS), fuzz_text()),
        query=logout_queries(),
        cookie=cookie_specs(),
        decoys=st.lists(st.tuples(decoy_name, fuzz_text()), max_size=2).map(tuple),
    )


# -- the judge


@dataclass(frozen=True)
class LogoutExpectation:
    """``decision``: ``sign_out`` (303), ``confirm`` (200), ``either`` or ``not_allowed`` (405);
    ``everywhere``: the request's flag, None when it names both."""

    decision: str
    reason: str
    everywhere: bool | None


ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only: header tokens are ASCII, and no other letter
    becomes one of them."""
    return text.translate(ASCII_LOWER)


def origin_is_app(origin: str | None) -> str:
    """``yes`` for the app's own origin exactly as a browser serializes it, ``no`` for
    anything else: another scheme, host or port, a default port written out, a path,
    upper case, ``null``, garbage."""
    if origin is None:
        return "no"
    serialized = SERIALIZED_ORIGIN.fullmatch(origin)
    if serialized is None:
        return "no"
    scheme, host, port = serialized.groups()
    if port == DEFAULT_PORTS.get(scheme):
        return "no"  # a browser leaves the default port out: not a serialized origin
    host_port = f"{host}:{port}" if port else host
    return "yes" if scheme == APP_SCHEME and host_port == APP_HOST_PORT else "no"


def everywhere_flag(query: bytes) -> bool | None:
    """Does the query ask to sign out everywhere (``everywhere=1``, decoded as a form)?
    None when it gives ``everywhere`` several values, some ``1`` and some not."""
    values = {value for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if key == "everywhere"}
    if not values or "1" not in values:
        return False
    return True if values == {"1"} else None


def judge_logout(method: str, headers: Mapping[str, str], query: bytes) -> LogoutExpectation:
    """The README's rule for ``/auth/logout``, written apart from ``auth.routes``.

    ``headers``: lower-case names, values as the app reads them (UTF-8 bytes as Latin-1).
    Fetch Metadata tokens are compared ignoring ASCII letter case (browsers send lower
    case; scripts cannot set these headers at all); ``Sec-Fetch-User`` must be ``?1``.
    """
    everywhere = everywhere_flag(query)
    site = headers.get("sec-fetch-site")
    if method == "POST":
        if site is not None:
            if ascii_lower(site) == "same-origin":
                return LogoutExpectation("sign_out", "POST, Sec-Fetch-Site: same-origin", everywhere)
            return LogoutExpectation("confirm", "POST, Sec-Fetch-Site not same-origin", everywhere)
        if origin_is_app(headers.get("origin")) == "yes":
            return LogoutExpectation("sign_out", "POST without Fetch Metadata, from the app's Origin", everywhere)
        return LogoutExpectation("confirm", "POST without Fetch Metadata, not from the app's Origin", everywhere)
    if method == "HEAD":
        return LogoutExpectation("confirm", "HEAD is safe: it never signs out", everywhere)
    if method == "GET":
        click = (
            site is not None
            and ascii_lower(site) == "same-origin"
            and ascii_lower(headers.get("sec-fetch-mode", "")) == "navigate"
            and ascii_lower(headers.get("sec-fetch-dest", "")) == "document"
            and headers.get("sec-fetch-user") == "?1"
        )
        if click:
            return LogoutExpectation("sign_out", f"{method}, the user's own same-origin click", everywhere)
        return LogoutExpectation("confirm", f"{method}, not a same-origin user navigation", everywhere)
    return LogoutExpectation("not_allowed", f"{method} is not GET, HEAD or POST", everywhere)


def read_session_cookie(header: str) -> str | None:
    """The session cookie's value as a server reads this Cookie header: pairs split at ``;``,
    whitespace trimmed around names and values, one pair of double quotes removed, the last
    pair of a name winning. A quoted value with a backslash (escapes some servers decode)
    reads as no value at all: no genuine cookie has one."""
    found: str | None = None
    for chunk in header.split(";"):
        name, equals, value = chunk.partition("=")
        if not equals or name.strip() != COOKIE_NAME:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1] if "\\" not in value else "\\"
        found = value
    return found


# -- sessions the target makes and watches


@dataclass(frozen=True)
class Held:
    """A session the harness made: whose, its cookie, its store id, its ID token."""

    role: str
    provider: str
    sub: str
    value: str
    session_id: str
    id_token: str
    made_at: float  # time.monotonic()


@dataclass(repr=False)
class LogoutState:
    """What target (h) keeps between cases: the watched sessions, a ``Sessions`` whose clock is
    past the idle timeout (its sessions are idle from the start), the pages' own text."""

    past: Sessions
    baseline: str
    end_session: dict[str, str]
    watched: dict[str, Held] = field(default_factory=dict)


def logout_state(stack: FuzzStack) -> LogoutState:
    state = stack.target_state.get("logout")
    if state is None:
        state = stack.target_state["logout"] = new_logout_state(stack)
    return cast(LogoutState, state)


def new_logout_state(stack: FuzzStack) -> LogoutState:
    settings, sessions = stack.auth.settings, stack.auth.sessions
    if sessions.store is None:
        raise RuntimeError("the logout target needs the stack's session store")
    idle_for = settings.session_timeout + IDLE_MARGIN
    past = Sessions(
        sessions.cookie,
        sessions.store,
        secrets=settings.cookie_secrets,
        idle_timeout=settings.session_timeout,
        max_age=settings.session_lifetime,
        clock=lambda: time.time() - idle_for,
        touch_in_background=False,
    )
    pages = []
    stack.client.cookies.clear()
    for query in ("", "everywhere=1"):
        for headers in ({}, {"sec-fetch-site": "cross-site"}):
            pages.append(stack.client.get(f"{LOGOUT_PATH}?{query}", headers=headers).text)
    pages.append(stack.client.put(LOGOUT_PATH).text)
    return LogoutState(
        past=past,
        baseline=stack.baseline + "\n".join(pages),
        end_session={name: provider.end_session_endpoint for name, provider in stack.providers.items()},
    )


def start_session(stack: FuzzStack, role: str, sessions: Sessions | None = None) -> Held:
    """A new session of ``role``'s user, as a sign-in would record it (with its tokens)."""
    provider, sub = USERS[role]
    identity = Identity(
        sub=sub,
        issuer=stack.providers[provider].issuer,
        provider=provider,
        name=sub.title(),
        email=f"{sub}@example.com",
        sid=secrets.token_hex(8),
    )
    id_token = f"fuzz-id-token-{secrets.token_hex(8)}"
    tokens = StoredTokens(id_token=id_token, access_token=secrets.token_hex(8), refresh_token=secrets.token_hex(8))
    issued = (sessions or stack.auth.sessions).start(identity, tokens)
    user = stack.auth.sessions.cookie.verify(issued.value)
    if user is None or user.session_id is None:
        raise RuntimeError(f"a session the harness started for {role} does not verify")
    return Held(role, provider, sub, issued.value, user.session_id, id_token, time.monotonic())


def is_live(stack: FuzzStack, held: Held) -> bool:
    return stack.auth.sessions.check(held.value, activity=False).user is not None


def refresh_watched(stack: FuzzStack, state: LogoutState) -> None:
    """A live session for each watched role: replaced once ended, or old enough that the
    idle timeout could approach."""
    for role in WATCHED:
        held = state.watched.get(role)
        if held is None or time.monotonic() - held.made_at > WATCHED_MAX_AGE or not is_live(stack, held):
            state.watched[role] = start_session(stack, role)


@dataclass(frozen=True)
class SentCookie:
    """The session cookie value a case sends (None: none), the session it was made from, and
    whether that session was live when sent."""

    value: str | None
    session: Held | None
    live: bool


def make_cookie(stack: FuzzStack, state: LogoutState, spec: CookieSpec) -> SentCookie:
    """Make the session ``spec`` asks for, put it in the state it asks for, and its value."""
    sessions = stack.auth.sessions
    store = sessions.store
    assert store is not None
    if spec.kind == "none":
        return SentCookie(None, None, False)
    if spec.kind == "garbage":
        return SentCookie(spec.text.replace(";", ""), None, False)
    if spec.kind == "unknown_session":
        provider, sub = USERS["this_user"]
        identity = Identity(sub=sub, issuer=stack.providers[provider].issuer, provider=provider, name=sub)
        return SentCookie(sessions.cookie.issue(identity, new_session_id()).value, None, False)
    if spec.kind == "ended_idle":
        held = start_session(stack, "this_user", state.past)
        return SentCookie(held.value, held, False)
    role = {"other_user": "another_user", "same_sub_other_provider": "same_sub_other_provider"}.get(
        spec.kind, "this_user"
    )
    held = start_session(stack, role)
    now = time.time()
    if spec.kind == "ended_logout":
        sessions.end(held.value)
    elif spec.kind == "ended_everywhere":
        store.end(held.session_id, LOGOUT_EVERYWHERE, now)
    elif spec.kind == "ended_backchannel":
        record = store.get(held.session_id)
        assert record is not None and record.provider_sid is not None
        sessions.end_for_provider(
            held.provider, sub=None, sid=record.provider_sid, jti=secrets.token_hex(8), until=now + 60
        )
    elif spec.kind == "record_tampered":
        record = store.get(held.session_id)
        assert record is not None
        # Another email under the old tag: what a writer to the store without the secret can do.
        store.set_tokens(held.session_id, b"x", {**record.claims, "email": "mallory@example.com"})
    elif spec.kind == "forged":
        return SentCookie(forge_cookie(stack, state, held, spec).replace(";", ""), held, True)
    return SentCookie(held.value, held, spec.kind in LIVE_KINDS)


def forge_cookie(stack: FuzzStack, state: LogoutState, held: Held, spec: CookieSpec) -> str:
    """A value made from ``held``'s genuine cookie that must not name it (see ``CookieSpec``)."""
    if spec.mutation is not None:
        return apply_mutation(held.value, spec.mutation)
    payload = unseal(stack.cookie_secret, SESSION_SALT, held.value)
    if spec.key or spec.salt:
        return sign(spec.key or stack.cookie_secret, spec.salt or SESSION_SALT, "sha256", payload)
    bob = state.watched["other_user"]
    edited = {
        "sub_bob": {"sub": bob.sub},
        "session_of_bob": {"session": bob.session_id},
        "random_session": {"session": new_session_id()},
        "provider_beta": {"provider": "beta"},
        "issuer_beta": {"iss": stack.providers["beta"].issuer},
    }[spec.edit]
    return sign(stack.cookie_secret, SESSION_SALT, "sha256", payload | edited)


# -- checking one answer


def decision_violations(expected: LogoutExpectation, status: int) -> list[Violation]:
    """Signed out (303) exactly when the judge says so; asked (200) otherwise; 405 for other methods."""
    wanted = {"sign_out": {303}, "confirm": {200}, "either": {200, 303}, "not_allowed": {405}}[expected.decision]
    if status in wanted or status not in LOGOUT_TARGET_STATUSES:
        return []  # a status outside the contract is the response checks' finding
    what = {303: "signed out", 200: "asked to confirm", 405: "refused the method"}[status]
    return [Violation(LOGOUT_DECISION, f"{what} where the judge says {expected.decision}: {expected.reason}")]


FORM = re.compile(r"<form\b[^>]*>", re.IGNORECASE)


def confirmation_violations(response: httpx.Response, everywhere: bool | None, method: str) -> list[Violation]:
    """A 200 is the "Sign out?" page: HTML, no cookie set, and (but to HEAD, which has no body)
    one form that POSTs to /auth/logout with the request's ``everywhere`` flag."""
    found = []
    if not response.headers.get("content-type", "").startswith("text/html"):
        found.append(Violation(NOT_CONFIRMATION, f"a 200 that is not HTML: {response.headers.get('content-type')!r}"))
    if response.headers.get_list("set-cookie"):
        found.append(Violation(NOT_CONFIRMATION, f"the confirmation sets {response.headers.get_list('set-cookie')}"))
    if method == "HEAD":
        return found
    actions = {f"{LOGOUT_PATH}?everywhere=1"} if everywhere else {LOGOUT_PATH}
    if everywhere is None:
        actions = {LOGOUT_PATH, f"{LOGOUT_PATH}?everywhere=1"}
    forms = FORM.findall(response.text)
    expected = [f'<form method="post" action="{html.escape(action, quote=True)}"' for action in sorted(actions)]
    if "<title>Sign out?</title>" not in response.text or len(forms) != 1 or not forms[0].startswith(tuple(expected)):
        found.append(Violation(NOT_CONFIRMATION, f"not a form posting to {sorted(actions)}: {clip(forms)}"))
    return found


def sign_out_violations(
    response: httpx.Response,
    presented: Held | None,
    end_session: Mapping[str, str],
    confirms: Callable[[str | None], bool],
) -> list[Violation]:
    """A 303 deletes the session cookie and sets nothing else; it sends the browser to the
    provider's end-session endpoint, with the ended session's ID token, exactly when a live
    session was presented, and otherwise to the app's root; its ``state`` proves a sign-out
    (``confirms``: ``Sessions.confirms_sign_out``)."""
    found = []
    cookies = response.headers.get_list("set-cookie")
    if set_cookies(response) != [(COOKIE_NAME, "")] or "max-age=0" not in cookies[0].lower():
        found.append(Violation(SIGN_OUT_RESPONSE, f"the 303 does not just delete the session cookie: {cookies}"))
    location = response.headers.get("location", "")
    parts = urlsplit(location)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if presented is None:
        if location.startswith(tuple(end_session.values())) or parts.netloc or parts.path != "/":
            found.append(Violation(SIGN_OUT_RESPONSE, f"no live session, yet the 303 goes to {clip(location)}"))
    else:
        endpoint = end_session[presented.provider]
        if not location.startswith(endpoint + "?"):
            found.append(
                Violation(SIGN_OUT_RESPONSE, f"a live {presented.provider} session ended, 303 to {clip(location)}")
            )
        elif query.get("id_token_hint") != presented.id_token or query.get("post_logout_redirect_uri") != (
            PUBLIC_URL + "/"
        ):
            found.append(Violation(SIGN_OUT_RESPONSE, f"not the ended session's sign-out: {clip(location)}"))
    if not confirms(query.get("state")):
        found.append(Violation(SIGN_OUT_RESPONSE, f"the 303's state proves no sign-out: {clip(location)}"))
    return found


def session_end_violations(
    sessions: Iterable[tuple[Held, bool]],
    *,
    signed_out: bool,
    presented: Held | None,
    everywhere: bool | None,
) -> list[Violation]:
    """Each ``(session, live now)``, every one live before the request: it must have ended if
    the request signed out the presented live session and it is that one, or (everywhere)
    one of the same provider and ``sub``; and no other may have ended."""
    found = []
    for held, live in sessions:
        same = presented is not None and (held.provider, held.sub) == (presented.provider, presented.sub)
        named = signed_out and presented is not None and held.session_id == presented.session_id
        must_end = named or (signed_out and same and everywhere is True)
        may_end = named or (signed_out and same and everywhere is not False)
        who = f"the {held.role} session ({held.provider}/{held.sub})"
        if must_end and live:
            found.append(Violation(SESSION_LEFT_LIVE, f"{who} is still live after the sign-out"))
        elif not may_end and not live:
            cause = f"signed out with {presented.role}'s cookie" if signed_out and presented else "no sign-out"
            found.append(Violation(SESSION_ENDED_WRONGLY, f"{who} ended ({cause}, everywhere={everywhere})"))
    return found


# -- the runner


def request_headers(case: LogoutCase) -> dict[str, bytes]:
    headers = {name: value.encode("utf-8")[:MAX_HEADER_BYTES] for name, value in case.fetch}
    for name, value in (("origin", case.origin), ("referer", case.referer)):
        if value is not None and header_value(value):
            headers[name] = header_value(value).encode("utf-8")[:MAX_HEADER_BYTES]
    return headers


def case_inputs(case: LogoutCase, cookie: str | None) -> list[str]:
    """Every fuzzed string the request carries, as generated and as the app reads it."""
    texts = [value for _, value in case.fetch] + [case.origin or "", case.referer or ""]
    texts += case.query.fuzzed() + [text for pair in case.decoys for text in pair]
    if cookie is not None and case.cookie.kind in ("garbage", "forged"):
        texts.append(cookie)
    return texts + [as_received(text) for text in texts]


def run_logout(stack: FuzzStack, case: LogoutCase, verdict: Verdict) -> None:
    state = logout_state(stack)
    refresh_watched(stack, state)
    sent = make_cookie(stack, state, case.cookie)
    pairs = [(name, value.replace(";", "")) for name, value in case.decoys]
    pairs += [(COOKIE_NAME, sent.value)] if sent.value is not None else []
    headers = request_headers(case)
    if pairs:
        headers["cookie"] = cookie_header(pairs)
    url = httpx.URL(LOGOUT_PATH, query=case.query.query())
    received = {name.lower(): value.decode("latin-1") for name, value in headers.items()}
    expected = judge_logout(case.method, received, url.query)
    read = read_session_cookie(received.get("cookie", ""))
    presented = sent.session if sent.live and sent.session is not None and read == sent.session.value else None
    verdict.notes.append(f"cookie: {case.cookie.kind}")
    if expected.decision == "either":
        verdict.notes.append(f"judged either: {expected.reason}")
    watched = list(state.watched.values())
    stack.client.cookies.clear()
    stack.logs.records.clear()
    try:
        response = stack.client.request(case.method, url, headers=headers)
    except Exception as error:
        verdict.violations.append(Violation(RAISED, f"{case.method} {url} {describe(error)}"))
        return
    status = response.status_code
    verdict.responses.append(("logout", status))
    verdict.notes.append(f"judged {expected.decision}, answered {status}")
    verdict.violations += response_violations(
        response,
        allowed=LOGOUT_TARGET_STATUSES,
        fuzzed=case_inputs(case, sent.value),
        baseline=state.baseline,
        origins=stack.origins,
    )
    verdict.violations += log_violations(stack.logs.records)
    verdict.violations += decision_violations(expected, status)
    if status in (200, 303) and "no-store" not in response.headers.get("cache-control", ""):
        verdict.violations.append(Violation(UNEXPECTED_STATUS, f"a {status} without Cache-Control: no-store"))
    if status == 200:
        verdict.violations += confirmation_violations(response, expected.everywhere, case.method)
    elif status == 303:
        verdict.violations += sign_out_violations(
            response, presented, state.end_session, stack.auth.sessions.confirms_sign_out
        )
        verdict.notes.append("signed out a live session" if presented else "signed out, nothing live")
    elif response.headers.get_list("set-cookie"):
        verdict.violations.append(Violation(UNEXPECTED_STATUS, f"a {status} sets a cookie"))
    checked = [(held, is_live(stack, held)) for held in watched]
    if sent.live and sent.session is not None:
        checked.append((sent.session, is_live(stack, sent.session)))
    verdict.violations += session_end_violations(
        checked, signed_out=status == 303, presented=presented, everywhere=expected.everywhere
    )
    verdict.notes += [f"watched {held.role} session ended" for held, live in checked[: len(watched)] if not live]
    tidy(stack, sent.session)


def tidy(stack: FuzzStack, held: Held | None) -> None:
    """End the case's own session if it is still live, so that sessions do not pile up."""
    store = stack.auth.sessions.store
    if held is not None and store is not None:
        store.end(held.session_id, "logout", time.time())
