"""Fuzzing the ``/auth/*`` routes in process: arbitrary queries, forged cookies, fuzzed
provider answers, and back-channel logout requests with forged and genuine logout tokens.
Strategies, runners and invariants live in ``tests/fuzz/harness.py``, registered in
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

from tests.fuzz import harness
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
