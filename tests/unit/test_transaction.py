"""``auth.transaction``: the PKCE/state/nonce login transaction and its single-use cookie."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any

import pytest

from auth.errors import LoginError, LoginTransactionMissing, StateMismatch
from auth.identity import Identity
from auth.secret import Secret
from auth.session_cookie import SessionCookie
from auth.signing import SESSION_SALT, TRANSACTION_SALT, TimedSigner
from auth.transaction import LoginTransaction, TransactionCookies
from tests.support.clock import T0, Clock

PREFIX = "streamlit_auth"
VERIFIER_CHARSET = re.compile(r"^[A-Za-z0-9\-._~]+$")  # RFC 7636 §4.1 unreserved characters


@pytest.fixture
def jar(secret: Secret, clock: Clock) -> TransactionCookies:
    return TransactionCookies([secret], cookie_prefix=PREFIX, clock=clock)


def cookies_for(jar: TransactionCookies, *transactions: LoginTransaction) -> dict[str, str]:
    return {jar.cookie_name(t.state): jar.seal(t) for t in transactions}


def missing(jar: TransactionCookies, cookies: dict[str, str], state: str | None) -> LoginTransactionMissing:
    with pytest.raises(LoginTransactionMissing) as caught:
        jar.open(cookies, state)
    return caught.value


def mismatch(jar: TransactionCookies, cookies: dict[str, str], state: str | None) -> StateMismatch:
    with pytest.raises(StateMismatch) as caught:
        jar.open(cookies, state)
    return caught.value


# --- LoginTransaction.start --------------------------------------------------------------


def test_start_values_have_enough_entropy_and_the_right_shape() -> None:
    transaction = LoginTransaction.start("corp", "/admin")
    assert (transaction.provider, transaction.next_path) == ("corp", "/admin")
    assert len(transaction.state) >= 43
    assert len(transaction.nonce) >= 43
    assert 43 <= len(transaction.code_verifier) <= 128
    assert VERIFIER_CHARSET.match(transaction.code_verifier)


def test_code_challenge_is_s256_of_verifier() -> None:
    transaction = LoginTransaction.start("corp", "/")
    digest = hashlib.sha256(transaction.code_verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    assert transaction.code_challenge == expected
    assert "=" not in transaction.code_challenge
    assert len(transaction.code_challenge) == 43


def test_code_challenge_known_vector() -> None:
    # RFC 7636 Appendix B.
    transaction = LoginTransaction("p", "s", "n", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "/")
    assert transaction.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_start_values_differ_between_calls() -> None:
    first, second = LoginTransaction.start("corp", "/"), LoginTransaction.start("corp", "/")
    assert first.state != second.state
    assert first.nonce != second.nonce
    assert first.code_verifier != second.code_verifier
    assert len({first.state, first.nonce, first.code_verifier}) == 3


# --- TransactionCookies ------------------------------------------------------------------


def test_cookie_name_is_prefixed_and_safe(jar: TransactionCookies) -> None:
    assert jar.cookie_name("abcdefghijklmnopqrstuvwxyz") == "streamlit_auth_tx_abcdefghijklmnop"
    assert jar.cookie_name("ab;c=d e,f") == "streamlit_auth_tx_abcdef"


def test_seal_open_round_trip(jar: TransactionCookies) -> None:
    transaction = LoginTransaction.start("corp", "/admin?x=1")
    cookies = cookies_for(jar, transaction)
    assert list(cookies) == [jar.cookie_name(transaction.state)]
    assert jar.open(cookies, transaction.state) == transaction


def test_another_process_with_the_same_secret_opens_it(jar: TransactionCookies, secret: Secret, clock: Clock) -> None:
    transaction = LoginTransaction.start("corp", "/")
    other = TransactionCookies([secret], cookie_prefix=PREFIX, clock=clock)
    assert other.open(cookies_for(jar, transaction), transaction.state) == transaction


def test_second_open_is_refused(jar: TransactionCookies) -> None:
    transaction = LoginTransaction.start("corp", "/")
    cookies = cookies_for(jar, transaction)
    jar.open(cookies, transaction.state)
    assert missing(jar, cookies, transaction.state).detail == "state already used"


def test_forged_state_with_another_transaction_cookie(jar: TransactionCookies) -> None:
    transaction = LoginTransaction.start("corp", "/")
    cookies = cookies_for(jar, transaction)
    forged = secrets.token_urlsafe(32)
    assert mismatch(jar, cookies, forged).detail == "state matches no login transaction of this browser"
    # The refused attempt does not spend the real transaction.
    assert jar.open(cookies, transaction.state) == transaction


def test_forged_state_sharing_the_cookie_name_prefix(jar: TransactionCookies) -> None:
    transaction = LoginTransaction.start("corp", "/")
    cookies = cookies_for(jar, transaction)
    forged = transaction.state[:16] + "X" * 27
    assert jar.cookie_name(forged) == jar.cookie_name(transaction.state)
    assert mismatch(jar, cookies, forged).detail == "state differs from the transaction's"
    assert jar.open(cookies, transaction.state) == transaction


def test_no_transaction_cookie_at_all(jar: TransactionCookies) -> None:
    error = missing(jar, {"streamlit_auth": "session-value", "other": "x"}, secrets.token_urlsafe(32))
    assert error.detail == "no login transaction cookie"


@pytest.mark.parametrize("state", [None, ""])
def test_missing_state(jar: TransactionCookies, state: str | None) -> None:
    transaction = LoginTransaction.start("corp", "/")
    assert mismatch(jar, cookies_for(jar, transaction), state).detail == "callback without state"


def test_expired_transaction(jar: TransactionCookies, clock: Clock) -> None:
    transaction = LoginTransaction.start("corp", "/")
    cookies = cookies_for(jar, transaction)
    clock.now = T0 + 601
    assert missing(jar, cookies, transaction.state).detail == "unusable transaction cookie: SignatureExpired"


def test_transaction_at_the_age_limit_opens(jar: TransactionCookies, clock: Clock) -> None:
    transaction = LoginTransaction.start("corp", "/")
    cookies = cookies_for(jar, transaction)
    clock.now = T0 + 600
    assert jar.open(cookies, transaction.state) == transaction


def test_transaction_from_the_future_does_not_open(jar: TransactionCookies, clock: Clock) -> None:
    transaction = LoginTransaction.start("corp", "/")
    cookies = cookies_for(jar, transaction)
    clock.now = T0 - 10
    assert missing(jar, cookies, transaction.state).detail == "unusable transaction cookie: SignatureExpired"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda v: ("A" if v[3] != "A" else "B").join((v[:3], v[4:])), id="payload-char"),
        pytest.param(lambda v: ("A" if v[-10] != "A" else "B").join((v[:-10], v[-9:])), id="signature-char"),
        pytest.param(lambda v: v[:-1], id="truncated"),
        pytest.param(lambda v: v + "x", id="appended"),
        pytest.param(lambda v: "garbage.with.dots", id="garbage"),
    ],
)
def test_tampered_transaction(jar: TransactionCookies, tamper: object) -> None:
    transaction = LoginTransaction.start("corp", "/")
    name = jar.cookie_name(transaction.state)
    value = jar.seal(transaction)
    tampered = tamper(value)  # type: ignore[operator]
    assert tampered != value
    error = missing(jar, {name: tampered}, transaction.state)
    assert error.detail == "unusable transaction cookie: BadTimeSignature"


def test_signed_by_another_secret(jar: TransactionCookies, clock: Clock) -> None:
    transaction = LoginTransaction.start("corp", "/")
    stranger = TransactionCookies([Secret(secrets.token_urlsafe(32))], cookie_prefix=PREFIX, clock=clock)
    cookies = cookies_for(stranger, transaction)
    assert missing(jar, cookies, transaction.state).detail.startswith("unusable transaction cookie: ")


def test_session_cookie_value_under_the_transaction_name(jar: TransactionCookies, secret: Secret, clock: Clock) -> None:
    transaction = LoginTransaction.start("corp", "/")
    session = SessionCookie([secret], name=PREFIX, timeout=600, clock=clock)
    # A session payload shaped exactly like a transaction, still signed under the session salt.
    value = TimedSigner([secret], SESSION_SALT, clock).sign(
        {"provider": "corp", "state": transaction.state, "nonce": "n", "code_verifier": "v", "next_path": "/"}
    )
    assert missing(jar, {jar.cookie_name(transaction.state): value}, transaction.state).detail.startswith(
        "unusable transaction cookie: "
    )
    issued = session.issue(Identity(sub="u", issuer="https://i", provider="corp", name="u")).value
    with pytest.raises(LoginTransactionMissing):
        jar.open({jar.cookie_name(transaction.state): issued}, transaction.state)


def test_two_concurrent_transactions_in_one_browser(jar: TransactionCookies) -> None:
    first = LoginTransaction.start("corp", "/one")
    second = LoginTransaction.start("google", "/two")
    cookies = cookies_for(jar, first, second)
    assert len(cookies) == 2
    assert jar.names_in({**cookies, "streamlit_auth": "session"}) == list(cookies)
    assert jar.open(cookies, second.state) == second
    assert jar.open(cookies, first.state) == first


# --- error texts for the browser ----------------------------------------------------------


INTERNAL_WORDS = ("state", "nonce", "cookie", "transaction", "hmac", "signature", "verifier", "pkce", "_", "error")


@pytest.mark.parametrize(
    ("error_type", "text"),
    [
        (
            LoginTransactionMissing,
            "This sign-in link has expired or was already used, or sign-in was started "
            "in another browser. Please start again.",
        ),
        (StateMismatch, "The sign-in response did not match the sign-in this browser started. Please start again."),
    ],
)
def test_user_messages_are_plain_sentences(error_type: type[LoginError], text: str) -> None:
    error = error_type("unusable transaction cookie: BadSignature")
    assert error.user_message == text
    assert error.status == 400
    assert text[0].isupper() and text.endswith(".")
    for word in INTERNAL_WORDS:
        assert word not in text.lower()
    assert error.detail not in text


def test_raised_errors_carry_the_plain_user_message(jar: TransactionCookies) -> None:
    transaction = LoginTransaction.start("corp", "/")
    cookies = cookies_for(jar, transaction)
    forged = mismatch(jar, cookies, "forged")
    assert forged.user_message == StateMismatch.user_message
    jar.open(cookies, transaction.state)
    reused = missing(jar, cookies, transaction.state)
    assert reused.user_message == LoginTransactionMissing.user_message
    assert str(reused) == "state already used"


def test_host_prefixed_session_cookie_gives_a_host_prefixed_transaction_cookie_at_root(secret: Secret) -> None:
    """Under __Host- the transaction cookie is __Host- too, so a sibling subdomain cannot plant
    one (login CSRF); the prefix requires Path=/, so it is not scoped to the /auth routes."""
    jar = TransactionCookies([secret], cookie_prefix="__Host-app_session", path="/auth")
    transaction = LoginTransaction.start("corp", "/")

    name = jar.cookie_name(transaction.state)

    assert name.startswith("__Host-app_session_tx_")
    assert jar.path == "/"
    assert jar.open({name: jar.seal(transaction)}, transaction.state) == transaction


def test_transaction_cookie_is_scoped_to_the_auth_routes_without_prefix(secret: Secret) -> None:
    jar = TransactionCookies([secret], cookie_prefix="app_session", path="/app/auth")
    assert jar.path == "/app/auth"


def test_surplus_keeps_the_newest_transactions_and_drops_unreadable_ones(secret: Secret, clock: Clock) -> None:
    """Abandoned sign-ins must not pile up cookies past a browser's header limits."""
    jar = TransactionCookies([secret], cookie_prefix=PREFIX, clock=clock)
    cookies: dict[str, str] = {}
    names = []
    for _ in range(5):
        transaction = LoginTransaction.start("corp", "/")
        names.append(jar.cookie_name(transaction.state))
        cookies[names[-1]] = jar.seal(transaction)
        clock.now += 1
    cookies[PREFIX + "_tx_forged"] = "not-a-signed-value"
    cookies["unrelated"] = "x"

    surplus = jar.surplus(cookies, keep=2)

    assert sorted(surplus) == sorted([*names[:3], PREFIX + "_tx_forged"])
    assert jar.surplus({name: cookies[name] for name in names[3:]}, keep=2) == []


@pytest.mark.parametrize("state", ["Ãª-state", "é" * 20, "a b\x1bc", "<script>"])
def test_cookie_names_are_plain_ascii_whatever_the_state(jar: TransactionCookies, state: str) -> None:
    name = jar.cookie_name(state)
    assert re.fullmatch(rf"{PREFIX}_tx_[A-Za-z0-9_-]*", name)


def test_names_the_app_could_not_have_set_are_ignored(jar: TransactionCookies) -> None:
    cookies = {
        f"{PREFIX}_tx_ok-1": "x",
        f"{PREFIX}_tx_<x>": "x",
        f"{PREFIX}_tx_\x1b": "x",
        f"{PREFIX}_tx_é": "x",
        f"{PREFIX}_tx_" + "a" * 17: "x",
    }
    assert jar.names_in(cookies) == [f"{PREFIX}_tx_ok-1"]


@pytest.mark.parametrize(
    "payload",
    [
        {"provider": "corp", "state": None, "nonce": "n", "code_verifier": "v" * 43, "next_path": "/"},
        {"provider": "corp", "state": "s", "nonce": "n", "code_verifier": ["v"], "next_path": "/"},
        {"provider": "corp", "state": "s", "nonce": "n", "code_verifier": "v" * 43},
        {"provider": "corp", "state": "s", "nonce": "n", "code_verifier": "v" * 43, "next_path": "/", "x": "y"},
        ["not", "a", "dict"],
    ],
)
def test_a_signed_cookie_of_another_shape_means_start_again(secret: Secret, clock: Clock, payload: Any) -> None:
    """An older release's cookie (or a bug) is signed by us, yet must not crash the callback."""
    jar = TransactionCookies([secret], cookie_prefix=PREFIX, clock=clock)
    value = TimedSigner([secret], TRANSACTION_SALT, clock).sign(payload)
    error = missing(jar, {jar.cookie_name("s"): value}, "s")
    assert error.detail == "unusable transaction cookie: unknown shape"
