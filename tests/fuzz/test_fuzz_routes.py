"""Fuzzing the ``/auth/*`` routes in process: arbitrary queries, forged cookies, fuzzed
provider answers, back-channel logout requests with forged and genuine logout tokens, and
logout requests from anywhere with any cookie. Strategies, runners and invariants live in
``tests/fuzz/harness.py`` (and ``tests/fuzz/logout_target.py``), registered in
``tests/fuzz/targets.py`` and shared with ``scripts/fuzz.py``; ``FUZZ_EXAMPLES`` sets each
test's budget.

The first tests check the harness itself: fuzzing proves nothing if the
checks cannot fail or the stack is not what the targets assume.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given

from tests.fuzz import harness, logout_target
from tests.fuzz.harness import FuzzStack
from tests.fuzz.targets import TARGETS

# pytest-timeout's 120 s per test is for the default budget; a long FUZZ_EXAMPLES run gets
# about a second per case instead (the slowest cases make two provider round trips).
pytestmark = pytest.mark.timeout(max(120, harness.examples_per_test()))


@pytest.fixture(scope="module")
def stack() -> Iterator[FuzzStack]:
    with harness.running_stack() as running:
        yield running


def page(status: int, body: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "text/html; charset=utf-8", **(headers or {})}, text=body)


def kinds(
    response: httpx.Response,
    fuzzed: list[str],
    origins: frozenset[str] = frozenset(),
    allowed: frozenset[int] = harness.CALLBACK_STATUSES,
) -> set[str]:
    found = harness.response_violations(
        response, allowed=allowed, fuzzed=fuzzed, baseline="<p>\"'</p>", origins=origins
    )
    return {violation.kind for violation in found}


# -- the checks catch what they are there for ------------------------------------


def test_checks_flag_server_errors_but_not_a_busy_page() -> None:
    assert kinds(page(500, "Internal Server Error"), []) == {harness.SERVER_ERROR}
    assert kinds(page(503, "Service Unavailable"), []) == {harness.SERVER_ERROR}
    assert kinds(page(503, "Sign-in is busy right now. Please try again in a moment."), []) == set()


def test_checks_flag_a_session_cookie_but_not_its_deletion() -> None:
    created = page(400, "<p>x</p>", {"set-cookie": "streamlit_auth=abc.def.ghi; Path=/; HttpOnly"})
    deleted = page(400, "<p>x</p>", {"set-cookie": 'streamlit_auth=""; Max-Age=0; Path=/'})
    assert kinds(created, []) == {harness.SESSION_SET}
    assert kinds(deleted, []) == set()


def test_checks_flag_reflected_markup_but_not_escaped_or_template_text() -> None:
    payload = '"><img src=x onerror=alert(1)>'
    assert kinds(page(400, f"<p>error {payload}</p>"), [payload]) == {harness.REFLECTED}
    # Cut to a length limit, it is still found.
    assert kinds(page(400, f"<p>error {payload[:12]}</p>"), [payload]) == {harness.REFLECTED}
    assert kinds(page(400, "<p>x<script>y</p>"), ["no markup here"]) == {harness.REFLECTED}
    escaped = harness.html.escape(payload, quote=True)
    assert kinds(page(400, f"<p>error {escaped}</p>"), [payload, escaped]) == set()
    assert kinds(page(400, "<p>\"'</p>"), ['"', "<p>\"'</p>"]) == set()


def test_checks_flag_redirects_off_the_app() -> None:
    origins, allowed = frozenset({harness.PUBLIC_URL}), harness.LOGIN_STATUSES
    for location in ("https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example"):
        assert kinds(page(302, "", {"location": location}), [], origins, allowed) == {harness.OPEN_REDIRECT}, location
    for location in ("/", "/page?x=1", f"{harness.PUBLIC_URL}/page"):
        assert kinds(page(302, "", {"location": location}), [], origins, allowed) == set(), location
    assert kinds(page(302, "", {"location": "/"}), [], origins) == {harness.UNEXPECTED_STATUS}


def backchannel_kinds(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, fuzzed: tuple[str, ...] = ()
) -> set[str]:
    response = httpx.Response(status, headers={"cache-control": "no-store", **(headers or {})}, content=body)
    return {violation.kind for violation in harness.backchannel_response_violations(response, fuzzed)[0]}


def test_checks_flag_backchannel_answers_outside_the_contract() -> None:
    json_type = {"content-type": "application/json"}

    def refusal(error: str, description: object) -> bytes:
        return json.dumps({"error": error, "error_description": description}).encode()

    assert backchannel_kinds(200) == set()
    assert backchannel_kinds(400, refusal("invalid_request", "logout token has expired"), json_type) == set()
    assert backchannel_kinds(500, b"Internal Server Error") == {harness.SERVER_ERROR}
    assert backchannel_kinds(404, b"Not Found") == {harness.UNEXPECTED_STATUS}
    assert backchannel_kinds(200, b"OK") == {harness.UNEXPECTED_STATUS}
    no_cache_header = httpx.Response(200)
    assert {v.kind for v in harness.backchannel_response_violations(no_cache_header, ())[0]} == {
        harness.UNEXPECTED_STATUS
    }
    assert backchannel_kinds(400, b"<p>bad</p>", {"content-type": "text/html"}) == {harness.UNEXPECTED_STATUS}
    assert backchannel_kinds(400, refusal("server_error", "logout token has expired"), json_type) == {
        harness.UNEXPECTED_STATUS
    }
    assert backchannel_kinds(200, headers={"set-cookie": "x=1"}) == {harness.SESSION_SET}
    # Not one of the fixed messages: flagged, and as a reflection when it quotes the request.
    token = "eyJhbGciOiJub25lIn0.e30."
    assert backchannel_kinds(400, refusal("invalid_request", "bad token"), json_type, (token,)) == {harness.NOT_FIXED}
    quoting = refusal("invalid_request", f"bad token {token[:14]}")
    assert backchannel_kinds(400, quoting, json_type, (token,)) == {harness.NOT_FIXED, harness.REFLECTED}


def test_checks_flag_forged_log_lines() -> None:
    def record(message: str) -> harness.logging.LogRecord:
        return harness.logging.LogRecord("auth", harness.logging.WARNING, __file__, 1, message, None, None)

    assert [v.kind for v in harness.log_violations([record("event=x\nevent=login sub=admin")])] == [harness.LOG_FORGING]
    assert harness.log_violations([record('event=login_failed detail="a b"')]) == []


# -- the stack is what the targets assume ----------------------------------------


def test_each_provider_has_a_callback_under_auth_callback(stack: FuzzStack) -> None:
    assert set(stack.callback_paths) == set(harness.PROVIDERS)
    assert all(path.startswith(harness.LEGACY_CALLBACK) for path in stack.callback_paths.values())


def test_login_sets_a_transaction_cookie_named_after_the_state(stack: FuzzStack) -> None:
    stack.client.cookies.clear()
    start = stack.start_login("beta", "/page")
    assert start.cookie_name == f"{harness.TRANSACTION_PREFIX}{start.state[:16]}"
    assert start.cookie_name == stack.transaction_cookie_name(start.state)


def test_a_genuine_code_is_what_the_session_check_catches(stack: FuzzStack) -> None:
    """Proves the session invariant is not vacuous: the same check, on a real sign-in's
    response, reports the session cookie that no fuzzed request may get."""
    response = stack.genuine_callback("beta")
    stack.client.cookies.clear()
    assert response.status_code == 302
    assert [v.kind for v in harness.session_violations(harness.set_cookies(response))] == [harness.SESSION_SET]


def test_genuine_session_verifies_and_logout_deletes_it(stack: FuzzStack) -> None:
    assert stack.auth.sessions.cookie.verify(stack.valid_session) is not None
    verdict = harness.Verdict("sanity")
    stack.client.cookies.clear()
    response = harness.send(
        stack,
        verdict,
        "logout",
        headers={
            "cookie": harness.cookie_header([(harness.COOKIE_NAME, stack.valid_session)]),
            # the user's own click on a link of the app: the one GET that signs out
            "sec-fetch-site": b"same-origin",
            "sec-fetch-mode": b"navigate",
            "sec-fetch-dest": b"document",
            "sec-fetch-user": b"?1",
        },
    )
    assert verdict.ok, verdict.explain()
    assert response is not None and response.status_code == 303
    assert (harness.COOKIE_NAME, "") in harness.set_cookies(response)
    # Ended in the store too: the same cookie, replayed, proves nothing any more.
    assert stack.auth.sessions.check(stack.valid_session).ended == "logout"


# -- the fuzz targets --------------------------------------------------------------


@harness.fuzz_settings()
@given(case=TARGETS["login_query"].strategy)
def test_login_survives_arbitrary_query_strings(stack: FuzzStack, case: harness.QueryCase) -> None:
    verdict = TARGETS["login_query"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=TARGETS["callback_query"].strategy)
def test_callbacks_survive_arbitrary_query_strings(stack: FuzzStack, case: harness.QueryCase) -> None:
    verdict = TARGETS["callback_query"].execute(stack, case)
    assert verdict.ok, verdict.explain()


# Cases found by earlier runs, always tried first (hypothesis may not draw them again).
# The genuine cookie re-encoded: the same signed bytes, but not the value the app issued.
PADDED_SESSION = harness.SessionCookieCase(
    harness.Forgery("mutate", harness.Mutation("reencode", text="trailing_padding")), "logout"
)
STANDARD_BASE64_SESSION = harness.SessionCookieCase(
    harness.Forgery("mutate", harness.Mutation("reencode", text="std_alphabet")), "logout"
)
# Three transaction cookies at /auth/login, one named with a control character.
ODD_NAMED_TRANSACTIONS = harness.TransactionCookieCase(
    provider="alpha",
    forgery=harness.Forgery("mutate", harness.Mutation("truncate")),
    state=None,
    callback="own",
    code=None,
    decoys=(("0", ""), ("\x1b", "")),
    also_login=True,
    state_as_read=False,
)
# A callback whose state names a transaction cookie the app cannot delete: the browser sent
# "streamlit_auth_tx_ê" in UTF-8, the app reads "streamlit_auth_tx_Ãª" and derives that from "Ãª".
NON_ASCII_NAMED_TRANSACTION = harness.TransactionCookieCase(
    provider="alpha",
    forgery=harness.Forgery("arbitrary", text="x"),
    state="ê",
    callback="own",
    code="x",
    decoys=(),
    also_login=False,
    state_as_read=True,
)
# A transaction payload signed with the app's own key (an older release's, or a bug's) without a string state.
STATELESS_TRANSACTION = harness.TransactionCookieCase(
    provider="alpha",
    forgery=harness.Forgery("resign", salt=harness.TRANSACTION_SALT, edit=harness.PayloadEdit("set", "state", None)),
    state=None,
    callback="own",
    code=None,
    decoys=(),
    also_login=False,
    state_as_read=False,
)


@harness.fuzz_settings()
@given(case=TARGETS["session_cookie"].strategy)
@example(case=PADDED_SESSION)
@example(case=STANDARD_BASE64_SESSION)
def test_forged_session_cookies_sign_nobody_in(stack: FuzzStack, case: harness.SessionCookieCase) -> None:
    verdict = TARGETS["session_cookie"].execute(stack, case)
    assert verdict.verify_calls == 1
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=TARGETS["transaction_cookie"].strategy)
@example(case=ODD_NAMED_TRANSACTIONS)
@example(case=NON_ASCII_NAMED_TRANSACTION)
@example(case=STATELESS_TRANSACTION)
def test_forged_transaction_cookies_complete_no_sign_in(stack: FuzzStack, case: harness.TransactionCookieCase) -> None:
    verdict = TARGETS["transaction_cookie"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=TARGETS["real_callback"].strategy)
def test_fuzzed_provider_answers_to_a_real_sign_in_complete_nothing(
    stack: FuzzStack, case: harness.RealCallbackCase
) -> None:
    verdict = TARGETS["real_callback"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=TARGETS["host_header"].strategy)
def test_strange_hosts_redirect_only_to_the_app(stack: FuzzStack, case: harness.HostCase) -> None:
    verdict = TARGETS["host_header"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=TARGETS["next_redirect"].strategy)
def test_a_sign_in_returns_only_into_the_app(stack: FuzzStack, case: harness.NextRedirectCase) -> None:
    verdict = TARGETS["next_redirect"].execute(stack, case)
    assert verdict.ok, verdict.explain()


# -- back-channel logout ------------------------------------------------------------


def genuine_logout(provider: str = "alpha", subject: str = "watched", **changes: Any) -> harness.BackchannelCase:
    """A form holding one genuine logout token for ``provider``'s watched session."""
    token = harness.TokenSpec(provider, subject, "own")
    case = harness.BackchannelCase("token", pairs=(("logout_token", harness.TOKEN),), token=token)
    return dataclasses.replace(case, **changes) if changes else case


def test_a_genuine_logout_token_ends_only_the_session_it_names(stack: FuzzStack) -> None:
    """Proves the back-channel target reaches a 200 and checks sessions for real: a genuine
    token ends the watched session it names and no other; the same token again is refused."""
    state = harness.backchannel_state(stack)
    harness.refresh_watched(stack, state)
    alpha, beta = state.watched["alpha"], state.watched["beta"]
    verdict = TARGETS["backchannel"].execute(stack, genuine_logout(repeat=True))
    assert verdict.ok, verdict.explain()
    assert verdict.responses == [("backchannel", 200), ("backchannel", 400)]
    assert "watched alpha session ended" in verdict.notes
    assert "400 invalid_request: logout token already used (jti seen before)" in verdict.notes
    assert stack.auth.sessions.check(alpha.value, activity=False).ended == "backchannel"
    assert harness.is_live(stack, beta)


def test_the_watched_session_check_is_not_vacuous(stack: FuzzStack) -> None:
    """A session ended while no genuine token named it is reported; so is a 200 that names a
    session and leaves it live."""
    state = harness.backchannel_state(stack)
    harness.refresh_watched(stack, state)
    alpha = state.watched["alpha"]
    genuine = harness.build_logout_token(stack, state, harness.TokenSpec("alpha", "watched", "own"))
    found, _ = harness.watched_violations(stack, [alpha], genuine, "a 200")
    assert [v.kind for v in found] == [harness.LOGOUT_IGNORED]
    user = stack.auth.sessions.cookie.verify(alpha.value)
    assert user is not None and user.session_id is not None and stack.auth.sessions.store is not None
    stack.auth.sessions.store.end(user.session_id, "backchannel", time.time())
    found, ended = harness.watched_violations(stack, [alpha], None, "a 400")
    assert [v.kind for v in found] == [harness.SESSION_ENDED] and ended == []
    assert alpha.ended  # replaced before the next case


def test_the_judge_accepts_only_genuine_tokens(stack: FuzzStack) -> None:
    state = harness.backchannel_state(stack)
    harness.refresh_watched(stack, state)
    now = time.time()

    def judged(spec: harness.TokenSpec) -> str:
        return harness.judge_logout_token(stack, state, harness.build_logout_token(stack, state, spec), now).outcome

    assert judged(harness.TokenSpec("beta", "watched_sub", "own")) == "accept"
    for signer in ("other_provider", "foreign", "client_secret_hs256", "unsigned"):
        assert judged(harness.TokenSpec("beta", "watched_sub", signer)) == "refuse", signer
    iss = harness.FieldEdit("iss", "@issuer:alpha")
    assert judged(harness.TokenSpec("beta", "watched", "own", claim_edits=(iss,))) == "refuse"
    kid = harness.FieldEdit("kid", "@kid:alpha")
    assert judged(harness.TokenSpec("beta", "watched", "foreign", header_edits=(kid,))) == "refuse"


# A genuine token in a body of exactly the route's limit, then one byte over it.
AT_BODY_LIMIT = genuine_logout("beta", pad_to=harness.MAX_BACKCHANNEL_BODY)
OVER_BODY_LIMIT = genuine_logout("beta", pad_to=harness.MAX_BACKCHANNEL_BODY + 1)
# The same genuine token twice in one form.
TWO_TOKENS = genuine_logout(pairs=(("logout_token", harness.TOKEN), ("logout_token", harness.TOKEN)))
# The provider's own key signing a token for the other provider's issuer and session.
CROSS_PROVIDER = harness.BackchannelCase(
    "token",
    pairs=(("logout_token", harness.TOKEN),),
    token=harness.TokenSpec(
        "alpha", "other_provider_sid", "own", claim_edits=(harness.FieldEdit("iss", "@issuer:beta"),)
    ),
)
# A genuine token whose sid has a lone surrogate (a valid JSON escape, "\udc80"): the SQLite
# store cannot encode it, and the route answered with the UnicodeEncodeError's message.
SURROGATE_SID = genuine_logout(token=harness.TokenSpec("alpha", "odd_sid", "own", odd="\udc80"))


@harness.fuzz_settings()
@given(case=TARGETS["backchannel"].strategy)
@example(case=genuine_logout())
@example(case=genuine_logout("beta", "watched_sub", repeat=True))
@example(case=AT_BODY_LIMIT)
@example(case=OVER_BODY_LIMIT)
@example(case=TWO_TOKENS)
@example(case=CROSS_PROVIDER)
@example(case=SURROGATE_SID)
def test_backchannel_logout_ends_sessions_only_for_genuine_tokens(
    stack: FuzzStack, case: harness.BackchannelCase
) -> None:
    verdict = TARGETS["backchannel"].execute(stack, case)
    assert verdict.ok, verdict.explain()


# -- logout ------------------------------------------------------------------------

CLICK = (
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-User", "?1"),
)
IMAGE = (("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Mode", "no-cors"), ("Sec-Fetch-Dest", "image"))


def logout_case(
    method: str = "GET",
    fetch: tuple[tuple[str, str], ...] = CLICK,
    cookie: str | logout_target.CookieSpec = "live",
    query: tuple[tuple[str, str], ...] = (),
    origin: str | None = None,
) -> logout_target.LogoutCase:
    return logout_target.LogoutCase(
        method=method,
        fetch=fetch,
        origin=origin,
        referer=None,
        query=harness.QueryCase("logout", query, "quote", ""),
        cookie=logout_target.CookieSpec(cookie) if isinstance(cookie, str) else cookie,
    )


def judged(method: str, query: bytes = b"", **headers: str) -> str:
    received = {name.replace("_", "-"): value for name, value in headers.items()}
    return logout_target.judge_logout(method, received, query).decision


def test_the_logout_judge_follows_the_rule() -> None:
    click = {"sec_fetch_site": "same-origin", "sec_fetch_mode": "navigate", "sec_fetch_dest": "document"}
    assert judged("GET", **click, sec_fetch_user="?1") == "sign_out"
    assert judged("HEAD", **click, sec_fetch_user="?1") == "confirm"  # HEAD stays safe
    assert judged("GET", **click) == "confirm"  # not user-activated
    assert judged("GET", **(click | {"sec_fetch_dest": "image"}), sec_fetch_user="?1") == "confirm"
    assert judged("GET", **(click | {"sec_fetch_site": "same-site"}), sec_fetch_user="?1") == "confirm"
    assert judged("GET", origin=harness.PUBLIC_URL) == "confirm"  # a GET never goes by Origin
    assert judged("POST", sec_fetch_site="same-origin", origin="https://evil.example") == "sign_out"
    assert judged("POST", sec_fetch_site="SAME-ORIGIN") == "sign_out"
    assert judged("POST", sec_fetch_site="cross-site", origin=harness.PUBLIC_URL) == "confirm"
    assert judged("POST", sec_fetch_site="garbage", origin=harness.PUBLIC_URL) == "confirm"
    assert judged("POST", origin=harness.PUBLIC_URL) == "sign_out"
    for other in ("null", "http://localhost:8502", "http://localhost", "http://evil.example", "x"):
        assert judged("POST", origin=other) == "confirm", other
    assert judged("POST") == "confirm"
    for near in (
        "https://localhost:8501",  # another scheme, the app's host and port
        "http://localhost:8501/",  # no browser sends a path
        "HTTP://LOCALHOST:8501",  # nor upper case
        "http://localhost:8501:80",
        "http://local\thost:8501",
    ):
        assert judged("POST", origin=near) == "confirm", near
    for method in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        assert judged(method, **click, sec_fetch_user="?1") == "not_allowed", method

    def everywhere(query: bytes) -> bool | None:
        return logout_target.judge_logout("POST", {}, query).everywhere

    assert everywhere(b"everywhere=1") is True
    assert everywhere(b"%65verywhere=%31") is True
    assert everywhere(b"everywhere=1&everywhere=1") is True
    assert everywhere(b"everywhere=0") is False
    assert everywhere(b"everywhere=true&Everywhere=1") is False
    assert everywhere(b"everywhere=0&everywhere=1") is None


def test_the_logout_checks_catch_what_they_are_there_for() -> None:
    """Responses and session states that contradict the judge are reported."""
    sign_out = logout_target.LogoutExpectation("sign_out", "click", everywhere=False)
    confirm = logout_target.LogoutExpectation("confirm", "image", everywhere=True)
    assert [v.kind for v in logout_target.decision_violations(confirm, 303)] == [logout_target.LOGOUT_DECISION]
    assert [v.kind for v in logout_target.decision_violations(sign_out, 200)] == [logout_target.LOGOUT_DECISION]
    assert logout_target.decision_violations(sign_out, 303) == []

    form = '<title>Sign out?</title><form method="post" action="{}" style="margin:0">'
    everywhere_page = page(200, form.format("/auth/logout?everywhere=1"))
    assert logout_target.confirmation_violations(everywhere_page, True, "GET") == []
    assert [v.kind for v in logout_target.confirmation_violations(everywhere_page, False, "GET")] == [
        logout_target.NOT_CONFIRMATION
    ]
    with_cookie = page(200, form.format("/auth/logout"), {"set-cookie": "streamlit_auth=; Max-Age=0"})
    assert [v.kind for v in logout_target.confirmation_violations(with_cookie, False, "GET")] == [
        logout_target.NOT_CONFIRMATION
    ]

    def held(role: str, provider: str, sub: str) -> logout_target.Held:
        return logout_target.Held(role, provider, sub, f"{role}-cookie", f"{role}-id", f"{role}-token", 0.0)

    this, device, bob = (
        held("this_user", "alpha", "alice"),
        held("other_device", "alpha", "alice"),
        held("b", "alpha", "bob"),
    )
    endpoints = {"alpha": "http://127.0.0.1:1/logout"}
    deleted = {"set-cookie": 'streamlit_auth=""; Max-Age=0; Path=/'}

    def redirect_kinds(location: str, presented: logout_target.Held | None, headers: dict[str, str]) -> set[str]:
        response = page(303, "", {"location": location, **headers})
        found = logout_target.sign_out_violations(response, presented, endpoints, lambda state: state == "ok")
        return {v.kind for v in found}

    to_provider = "http://127.0.0.1:1/logout?state=ok&id_token_hint=this_user-token&post_logout_redirect_uri="
    to_provider += harness.quote(harness.PUBLIC_URL + "/", safe="")
    assert redirect_kinds(to_provider, this, deleted) == set()
    assert redirect_kinds("/?state=ok", None, deleted) == set()
    # An ended session's cookie sent to the provider; a cookie not deleted; a state that proves nothing.
    assert redirect_kinds(to_provider, None, deleted) == {logout_target.SIGN_OUT_RESPONSE}
    assert redirect_kinds("/?state=ok", None, {}) == {logout_target.SIGN_OUT_RESPONSE}
    assert redirect_kinds("/?state=forged", None, deleted) == {logout_target.SIGN_OUT_RESPONSE}

    def ended(checked: list[tuple[logout_target.Held, bool]], **outcome: Any) -> list[str]:
        return [v.kind for v in logout_target.session_end_violations(checked, **outcome)]

    everywhere = {"signed_out": True, "presented": this, "everywhere": True}
    assert ended([(this, False), (device, False), (bob, True)], **everywhere) == []
    assert ended([(bob, False)], **everywhere) == [logout_target.SESSION_ENDED_WRONGLY]
    assert ended([(device, True)], **everywhere) == [logout_target.SESSION_LEFT_LIVE]
    assert ended([(device, False)], **(everywhere | {"everywhere": False})) == [logout_target.SESSION_ENDED_WRONGLY]
    assert ended([(device, False)], **(everywhere | {"presented": None})) == [logout_target.SESSION_ENDED_WRONGLY]
    assert ended([(this, False)], **(everywhere | {"signed_out": False})) == [logout_target.SESSION_ENDED_WRONGLY]


def test_the_logout_target_reaches_every_outcome(stack: FuzzStack) -> None:
    """Proves the target signs out for real and checks sessions: a click with a live cookie
    and everywhere=1 ends the other device's session too; an ended session's cookie ends
    nothing; an image asks to confirm."""
    everywhere = (("everywhere", "1"),)
    verdict = TARGETS["logout"].execute(stack, logout_case(query=everywhere))
    assert verdict.ok, verdict.explain()
    assert verdict.responses == [("logout", 303)]
    assert {"signed out a live session", "watched other_device session ended"} <= set(verdict.notes)
    assert "watched other_user session ended" not in verdict.notes
    for cookie in logout_target.NOT_LIVE_KINDS:
        verdict = TARGETS["logout"].execute(stack, logout_case("POST", CLICK[:1], cookie, everywhere))
        assert verdict.ok, (cookie, verdict.explain())
        assert verdict.responses == [("logout", 303)] and "signed out, nothing live" in verdict.notes, cookie
        assert not [note for note in verdict.notes if note.startswith("watched")], cookie
    verdict = TARGETS["logout"].execute(stack, logout_case(fetch=IMAGE, query=everywhere))
    assert verdict.ok, verdict.explain()
    assert verdict.responses == [("logout", 200)]


@harness.fuzz_settings()
@given(case=TARGETS["logout"].strategy)
@example(case=logout_case(query=(("everywhere", "1"),)))
@example(case=logout_case("HEAD"))
@example(case=logout_case("POST", (), "ended_idle", (("everywhere", "1"),), origin=harness.PUBLIC_URL))
@example(case=logout_case("GET", IMAGE, "live", (("everywhere", "1"),)))
# a same-origin navigation the user did not make (a script's, a meta refresh): no Sec-Fetch-User
@example(case=logout_case("GET", CLICK[:3]))
# bob's session id in alice's cookie, signed with the app's key: it names no live session
@example(
    case=logout_case(
        "POST",
        (),
        logout_target.CookieSpec("forged", edit="session_of_bob"),
        (("everywhere", "1"),),
        origin="https://localhost:8501",
    )
)
def test_logout_signs_out_only_on_the_users_request(stack: FuzzStack, case: logout_target.LogoutCase) -> None:
    verdict = TARGETS["logout"].execute(stack, case)
    assert verdict.ok, verdict.explain()
