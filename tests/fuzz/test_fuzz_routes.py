"""Fuzzing the ``/auth/*`` routes in process: arbitrary queries, forged cookies, fuzzed
provider answers. Strategies, runners and invariants live in ``tests/fuzz/harness.py``,
shared with ``scripts/fuzz.py``; ``FUZZ_EXAMPLES`` sets each test's budget.

The first tests check the harness itself: fuzzing proves nothing if the
checks cannot fail or the stack is not what the targets assume.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import example, given

from tests.fuzz import harness
from tests.fuzz.harness import FuzzStack

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
        headers={"cookie": harness.cookie_header([(harness.COOKIE_NAME, stack.valid_session)])},
    )
    assert verdict.ok, verdict.explain()
    assert response is not None and response.status_code == 303
    assert (harness.COOKIE_NAME, "") in harness.set_cookies(response)
    # Ended in the store too: the same cookie, replayed, proves nothing any more.
    assert stack.auth.sessions.check(stack.valid_session).ended == "logout"


# -- the fuzz targets --------------------------------------------------------------


@harness.fuzz_settings()
@given(case=harness.TARGETS["login_query"].strategy)
def test_login_survives_arbitrary_query_strings(stack: FuzzStack, case: harness.QueryCase) -> None:
    verdict = harness.TARGETS["login_query"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=harness.TARGETS["callback_query"].strategy)
def test_callbacks_survive_arbitrary_query_strings(stack: FuzzStack, case: harness.QueryCase) -> None:
    verdict = harness.TARGETS["callback_query"].execute(stack, case)
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
@given(case=harness.TARGETS["session_cookie"].strategy)
@example(case=PADDED_SESSION)
@example(case=STANDARD_BASE64_SESSION)
def test_forged_session_cookies_sign_nobody_in(stack: FuzzStack, case: harness.SessionCookieCase) -> None:
    verdict = harness.TARGETS["session_cookie"].execute(stack, case)
    assert verdict.verify_calls == 1
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=harness.TARGETS["transaction_cookie"].strategy)
@example(case=ODD_NAMED_TRANSACTIONS)
@example(case=NON_ASCII_NAMED_TRANSACTION)
@example(case=STATELESS_TRANSACTION)
def test_forged_transaction_cookies_complete_no_sign_in(stack: FuzzStack, case: harness.TransactionCookieCase) -> None:
    verdict = harness.TARGETS["transaction_cookie"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=harness.TARGETS["real_callback"].strategy)
def test_fuzzed_provider_answers_to_a_real_sign_in_complete_nothing(
    stack: FuzzStack, case: harness.RealCallbackCase
) -> None:
    verdict = harness.TARGETS["real_callback"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=harness.TARGETS["host_header"].strategy)
def test_strange_hosts_redirect_only_to_the_app(stack: FuzzStack, case: harness.HostCase) -> None:
    verdict = harness.TARGETS["host_header"].execute(stack, case)
    assert verdict.ok, verdict.explain()


@harness.fuzz_settings()
@given(case=harness.TARGETS["next_redirect"].strategy)
def test_a_sign_in_returns_only_into_the_app(stack: FuzzStack, case: harness.NextRedirectCase) -> None:
    verdict = harness.TARGETS["next_redirect"].execute(stack, case)
    assert verdict.ok, verdict.explain()
