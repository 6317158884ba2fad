"""``auth.session.SessionCookie``: the signed, timestamped identity cookie."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import pytest
from itsdangerous import BadSignature, TimestampSigner

from auth.errors import SessionTooLarge
from auth.identity import Identity, User
from auth.secret import Secret
from auth.session_cookie import ESSENTIAL_CLAIMS, OPTIONAL_CLAIMS_BY_DROP_ORDER, SessionCookie, user_from_payload
from auth.signing import SESSION_SALT, TRANSACTION_SALT, TimedSigner
from auth.transaction import LoginTransaction, TransactionCookies
from tests.support.clock import T0, Clock

TIMEOUT = 600
NAME = "streamlit_auth"

IDENTITY: dict[str, Any] = {
    "sub": "user-1",
    "iss": "https://idp.example",
    "provider": "corp",
    "email": "alice@example.com",
    "email_verified": True,
    "name": "Alice Liddell",
    "preferred_username": "alice",
    "picture": "https://img.example/alice.png",
    "roles": ["admin", "viewer"],
    "groups": ["/staff"],
    "sid": "sid-1",
    "auth_time": T0 - 5,
}


@pytest.fixture
def cookie(secret: Secret, clock: Clock) -> SessionCookie:
    return SessionCookie([secret], name=NAME, timeout=TIMEOUT, clock=clock)


def as_identity(claims: dict[str, Any]) -> Identity:
    """An ``Identity`` from claims shaped like the cookie's payload."""
    identity = user_from_payload(claims, 0.0, 0.0)
    assert identity is not None
    return identity


def incompressible(length: int) -> str:
    """Random text zlib cannot shrink, so its size really counts against the cookie."""
    return secrets.token_urlsafe(length)[:length]


# --- round trip -----------------------------------------------------------------------


def test_round_trip_keeps_every_session_claim(cookie: SessionCookie) -> None:
    issued = cookie.issue(as_identity(IDENTITY))
    assert issued.dropped_claims == ()
    assert cookie.verify(issued.value) == User(
        sub="user-1",
        issuer="https://idp.example",
        provider="corp",
        name="Alice Liddell",
        email="alice@example.com",
        email_verified=True,
        preferred_username="alice",
        picture="https://img.example/alice.png",
        roles=("admin", "viewer"),
        groups=("/staff",),
        sid="sid-1",
        auth_time=T0 - 5,
        signed_in_at=float(T0),
        expires_at=float(T0 + TIMEOUT),
    )


def test_minimal_identity_round_trip(cookie: SessionCookie) -> None:
    user = cookie.verify(cookie.issue(as_identity({"sub": "s", "iss": "https://i", "provider": "p"})).value)
    assert user is not None
    assert (user.sub, user.issuer, user.provider, user.name) == ("s", "https://i", "p", "s")
    assert (user.email, user.email_verified, user.roles, user.groups, user.picture) == (None, False, (), (), None)


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"name": "Alice", "preferred_username": "alice", "email": "a@example.com"}, "Alice"),
        ({"preferred_username": "alice", "email": "a@example.com"}, "alice"),
        ({"email": "a@example.com"}, "a@example.com"),
        ({}, "user-1"),
        ({"name": "", "preferred_username": "alice"}, "alice"),
    ],
)
def test_name_fallback_order(cookie: SessionCookie, claims: dict[str, str], name: str) -> None:
    identity = {"sub": "user-1", "iss": "https://idp.example", "provider": "corp", **claims}
    user = cookie.verify(cookie.issue(as_identity(identity)).value)
    assert user is not None
    assert user.name == name


# --- expiry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "signed_in"),
    [(0, True), (TIMEOUT - 1, True), (TIMEOUT, True), (TIMEOUT + 1, False), (10 * TIMEOUT, False)],
)
def test_expiry_with_injected_clock(cookie: SessionCookie, clock: Clock, elapsed: int, signed_in: bool) -> None:
    value = cookie.issue(as_identity(IDENTITY)).value
    clock.now = T0 + elapsed
    user = cookie.verify(value)
    assert (user is not None) is signed_in
    if user is not None:
        assert user.seconds_left(clock.now) == TIMEOUT - elapsed


def test_cookie_from_the_future_is_signed_out(cookie: SessionCookie, clock: Clock) -> None:
    value = cookie.issue(as_identity(IDENTITY)).value
    clock.now = T0 - 10
    assert cookie.verify(value) is None


# --- tampering and garbage ---------------------------------------------------------------


def _replace(value: str, index: int) -> str:
    char = value[index]
    return value[:index] + ("A" if char != "A" else "B") + value[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda v: _replace(v, 3), id="payload-char"),
        pytest.param(lambda v: _replace(v, len(v) - 10), id="signature-char"),
        pytest.param(lambda v: _replace(v, v.rindex(".") - 2), id="timestamp-char"),
        pytest.param(lambda v: v[:-1], id="truncated"),
        pytest.param(lambda v: v[: v.rindex(".")], id="signature-removed"),
        pytest.param(lambda v: v + "x", id="appended"),
        pytest.param(lambda v: v + ".x", id="appended-part"),
    ],
)
def test_tampered_cookie_is_signed_out(cookie: SessionCookie, tamper: Any) -> None:
    value = cookie.issue(as_identity(IDENTITY)).value
    assert cookie.verify(value) is not None
    tampered = tamper(value)
    assert tampered != value
    assert cookie.verify(tampered) is None


@pytest.mark.parametrize(
    "value", [None, "", "garbage", ".", "a.b", "a.b.c", "....", "é.é.é", "\x00", "eyJzdWIiOiJ4In0.AAAA.BBBB"]
)
def test_garbage_is_signed_out(cookie: SessionCookie, value: str | None) -> None:
    assert cookie.verify(value) is None


def test_oversize_value_rejected_without_decoding(cookie: SessionCookie, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(self: TimestampSigner, value: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(value)
        raise BadSignature("spy")

    monkeypatch.setattr(TimestampSigner, "unsign", spy)
    assert cookie.verify("x" * 4097) is None
    assert calls == []
    # The spy is really in the path: a value at the limit is tried.
    assert cookie.verify("x" * 4096) is None
    assert calls and all(call == "x" * 4096 for call in calls)


def test_value_signed_by_other_secret_is_signed_out(cookie: SessionCookie, clock: Clock) -> None:
    other = SessionCookie([Secret(secrets.token_urlsafe(32))], name=NAME, timeout=TIMEOUT, clock=clock)
    assert cookie.verify(other.issue(as_identity(IDENTITY)).value) is None


# --- rotation --------------------------------------------------------------------------


def test_rotation_old_cookie_verifies_and_new_secret_signs(clock: Clock) -> None:
    old, new = Secret(secrets.token_urlsafe(32)), Secret(secrets.token_urlsafe(32))
    before = SessionCookie([old], name=NAME, timeout=TIMEOUT, clock=clock)
    rotated = SessionCookie([new, old], name=NAME, timeout=TIMEOUT, clock=clock)
    only_new = SessionCookie([new], name=NAME, timeout=TIMEOUT, clock=clock)
    only_old = before

    old_value = before.issue(as_identity(IDENTITY)).value
    user = rotated.verify(old_value)
    assert user is not None and user.sub == "user-1"
    assert only_new.verify(old_value) is None

    new_value = rotated.issue(as_identity(IDENTITY)).value
    assert only_new.verify(new_value) is not None  # signed by the new secret...
    assert only_old.verify(new_value) is None  # ...and not by the old one
    assert rotated.verify(new_value) is not None


def test_removed_secret_no_longer_verifies(clock: Clock) -> None:
    old, new = Secret(secrets.token_urlsafe(32)), Secret(secrets.token_urlsafe(32))
    value = SessionCookie([old], name=NAME, timeout=TIMEOUT, clock=clock).issue(as_identity(IDENTITY)).value
    assert SessionCookie([new], name=NAME, timeout=TIMEOUT, clock=clock).verify(value) is None


# --- salt and payload shape ------------------------------------------------------------


def test_value_under_another_salt_is_not_a_session(cookie: SessionCookie, secret: Secret, clock: Clock) -> None:
    payload = {"sub": "user-1", "iss": "https://idp.example", "provider": "corp"}
    assert cookie.verify(TimedSigner([secret], SESSION_SALT, clock).sign(payload)) is not None
    assert cookie.verify(TimedSigner([secret], TRANSACTION_SALT, clock).sign(payload)) is None
    sealed = TransactionCookies([secret], cookie_prefix=NAME, clock=clock).seal(LoginTransaction.start("corp", "/"))
    assert cookie.verify(sealed) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"iss": "https://idp.example", "provider": "corp"},
        {"sub": "user-1", "provider": "corp"},
        {"sub": "user-1", "iss": "https://idp.example"},
        {"sub": "user-1", "iss": 5, "provider": "corp"},
        {"sub": "", "iss": "https://idp.example", "provider": "corp"},
        {"sub": ["user-1"], "iss": "https://idp.example", "provider": "corp"},
        ["user-1", "https://idp.example", "corp"],
        "user-1",
        None,
        42,
    ],
)
def test_signed_payload_of_wrong_shape_is_signed_out(
    cookie: SessionCookie, secret: Secret, clock: Clock, payload: Any
) -> None:
    assert cookie.verify(TimedSigner([secret], SESSION_SALT, clock).sign(payload)) is None


def test_optional_claims_of_wrong_type_are_ignored(cookie: SessionCookie, secret: Secret, clock: Clock) -> None:
    payload = {
        "sub": "u",
        "iss": "https://i",
        "provider": "p",
        "email": 5,
        "email_verified": "true",
        "roles": "admin",
        "groups": ["ok", 3],
        "auth_time": True,
        "name": ["x"],
    }
    user = cookie.verify(TimedSigner([secret], SESSION_SALT, clock).sign(payload))
    assert user is not None
    assert (user.email, user.email_verified, user.roles, user.groups, user.auth_time, user.name) == (
        None,
        False,
        (),
        ("ok",),
        None,
        "u",
    )


def test_provider_or_issuer_not_accepted(secret: Secret, clock: Clock) -> None:
    accepted = {"google": ["https://accounts.google.com", "accounts.google.com"]}
    cookie = SessionCookie([secret], name=NAME, timeout=TIMEOUT, clock=clock, accepted_issuers=accepted)
    base = {"sub": "u", "provider": "google"}
    assert cookie.verify(cookie.issue(as_identity({**base, "iss": "https://accounts.google.com"})).value) is not None
    assert cookie.verify(cookie.issue(as_identity({**base, "iss": "accounts.google.com"})).value) is not None
    assert cookie.verify(cookie.issue(as_identity({**base, "iss": "https://evil.example"})).value) is None
    assert (
        cookie.verify(
            cookie.issue(as_identity({"sub": "u", "provider": "keycloak", "iss": "https://accounts.google.com"})).value
        )
        is None
    )


# --- issue(): allow-list and size ------------------------------------------------------


def _payload(secret: Secret, clock: Clock, value: str) -> dict[str, Any]:
    verified = TimedSigner([secret], SESSION_SALT, clock).unsign(value, max_age=None)
    assert verified is not None
    return verified[0]


def test_cookie_keeps_exactly_the_identity_claims(cookie: SessionCookie, secret: Secret, clock: Clock) -> None:
    """Only identity claims, under the claim names: never a token (an Identity holds none)."""
    value = cookie.issue(as_identity({**IDENTITY, "hd": "example.com"})).value
    assert _payload(secret, clock, value) == {**IDENTITY, "hd": "example.com"}
    assert set(_payload(secret, clock, value)) == set(ESSENTIAL_CLAIMS) | set(OPTIONAL_CLAIMS_BY_DROP_ORDER)


def test_issue_leaves_out_empty_values(cookie: SessionCookie, secret: Secret, clock: Clock) -> None:
    identity = {
        "sub": "u",
        "iss": "https://i",
        "provider": "p",
        "email": "",
        "name": None,
        "roles": [],
        "groups": (),
        "picture": "https://img/p.png",
    }
    assert _payload(secret, clock, cookie.issue(as_identity(identity)).value) == {
        "sub": "u",
        "iss": "https://i",
        "provider": "p",
        "picture": "https://img/p.png",
    }


@pytest.fixture
def auth_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    # configure_logging() elsewhere may stop the "auth" logger from propagating to caplog.
    monkeypatch.setattr(logging.getLogger("auth"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="auth")
    return caplog


def test_huge_picture_is_dropped_first(cookie: SessionCookie, auth_log: pytest.LogCaptureFixture) -> None:
    identity = {**IDENTITY, "picture": "https://img.example/" + incompressible(5000)}
    issued = cookie.issue(as_identity(identity))
    assert issued.dropped_claims == ("picture",)
    user = cookie.verify(issued.value)
    assert user is not None
    assert (user.picture, user.name, user.email, user.roles) == (
        None,
        "Alice Liddell",
        "alice@example.com",
        ("admin", "viewer"),
    )
    messages = [r.getMessage() for r in auth_log.records if r.name == "auth" and r.levelno == logging.WARNING]
    assert messages == [
        'event=session_claims_dropped reason="session cookie too large" dropped_claims=picture sub=user-1'
    ]


def test_dropped_claims_line_cannot_be_forged_by_sub(cookie: SessionCookie, auth_log: pytest.LogCaptureFixture) -> None:
    """A provider's ``sub`` is outside data: a newline in it must not start a forged line."""
    identity = {
        **IDENTITY,
        "sub": "u1\nevent=login sub=admin",
        "picture": "https://img.example/" + incompressible(5000),
    }
    cookie.issue(as_identity(identity))
    (message,) = [r.getMessage() for r in auth_log.records if r.name == "auth"]
    assert len(message.splitlines()) == 1
    assert message.endswith('sub="u1\\nevent=login sub=admin"')


def test_huge_groups_dropped_after_picture(cookie: SessionCookie, auth_log: pytest.LogCaptureFixture) -> None:
    identity = {
        "sub": "user-1",
        "iss": "https://idp.example",
        "provider": "corp",
        "email": "alice@example.com",
        "email_verified": True,
        "picture": "https://img.example/" + incompressible(3000),
        "groups": [incompressible(40) for _ in range(150)],
    }
    issued = cookie.issue(as_identity(identity))
    assert issued.dropped_claims == ("picture", "groups")
    user = cookie.verify(issued.value)
    assert user is not None
    assert (user.groups, user.picture, user.email, user.email_verified) == ((), None, "alice@example.com", True)
    messages = [r.getMessage() for r in auth_log.records if r.name == "auth"]
    assert messages == [
        'event=session_claims_dropped reason="session cookie too large" dropped_claims=picture,groups sub=user-1'
    ]


def test_no_warning_when_nothing_dropped(cookie: SessionCookie, auth_log: pytest.LogCaptureFixture) -> None:
    cookie.issue(as_identity(IDENTITY))
    assert [r for r in auth_log.records if r.name == "auth"] == []


def test_sub_too_large_raises(cookie: SessionCookie) -> None:
    with pytest.raises(SessionTooLarge) as caught:
        cookie.issue(as_identity({**IDENTITY, "sub": incompressible(4000)}))
    assert re.fullmatch(r"essential claims need \d+ bytes", str(caught.value))
    assert caught.value.user_message == "Your account's details are too large to keep in a session cookie."


@pytest.mark.parametrize("name", [NAME, "__Host-" + "n" * 200])
@pytest.mark.parametrize(
    "identity",
    [
        pytest.param(IDENTITY, id="normal"),
        pytest.param({**IDENTITY, "picture": incompressible(5000)}, id="huge-picture"),
        pytest.param({**IDENTITY, "groups": [incompressible(40) for _ in range(150)]}, id="huge-groups"),
        pytest.param({**IDENTITY, "name": incompressible(3900)}, id="huge-name"),
        pytest.param(
            {
                **IDENTITY,
                "roles": [incompressible(30) for _ in range(150)],
                "email": incompressible(3000) + "@example.com",
            },
            id="huge-roles-and-email",
        ),
    ],
)
def test_issued_value_always_fits(secret: Secret, clock: Clock, name: str, identity: dict[str, Any]) -> None:
    cookie = SessionCookie([secret], name=name, timeout=TIMEOUT, clock=clock)
    issued = cookie.issue(as_identity(identity))
    assert len(name) + 1 + len(issued.value) + 160 <= 4096
    user = cookie.verify(issued.value)
    assert user is not None and user.sub == "user-1"


@pytest.mark.parametrize(
    "spelling",
    [
        lambda v: v + "==",
        lambda v: v + "é",
        lambda v: v + "\r\n",
        lambda v: v.replace("-", "+").replace("_", "/") + "+/",
    ],
)
def test_one_genuine_cookie_has_one_accepted_spelling(cookie: SessionCookie, spelling: Any) -> None:
    """base64 decoding is lenient; the signed value is compared in its only canonical form."""
    value = cookie.issue(as_identity(IDENTITY)).value
    assert cookie.verify(value) is not None
    assert cookie.verify(spelling(value)) is None
