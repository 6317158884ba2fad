"""``auth.events.format_fields`` (logfmt lines) and ``auth.oidc.encode_client_secret_basic``."""

from __future__ import annotations

import base64
import logging
from types import SimpleNamespace

import pytest

from auth.events import format_fields, log_event
from auth.oidc import encode_client_secret_basic

# --- format_fields ----------------------------------------------------------------------


def test_plain_values_unquoted_in_order() -> None:
    assert format_fields(
        event="login", provider="google", sub="1234", email="a.b+c@example.com", path="/app/x", status=200
    ) == ("event=login provider=google sub=1234 email=a.b+c@example.com path=/app/x status=200")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line1\nline2", '"line1\\nline2"'),
        ("nel\x85here", '"nel\\u0085here"'),
        ("ls\u2028ps\u2029", '"ls\\u2028ps\\u2029"'),
        ("bidi\u202eevil", '"bidi\\u202eevil"'),
        ("esc\x1b[31m", '"esc\\u001b[31m"'),
        ("a=b", '"a=b"'),
        ("", None),
        (None, None),
    ],
)
def test_quoting(value: object, shown: str | None) -> None:
    line = format_fields(before="x", value=value, after="y")
    assert line == ("before=x after=y" if shown is None else f"before=x value={shown} after=y")


def test_none_and_empty_dropped_but_zero_and_false_kept() -> None:
    assert format_fields(a=None, b="", c=0, d=False) == "c=0 d=False"


@pytest.mark.parametrize(
    "value",
    [
        "a\nb",
        "a\r\nb",
        "a\rb",
        "x\n\nevent=forged",
        "x\x85event=forged",
        "x\u2028event=forged",
        "x\u2029y",
        "x\x0by\x0cz\x1c\x1d\x1e",
    ],
)
def test_output_is_always_one_line(value: str) -> None:
    """Every character str.splitlines() breaks on (NEL, U+2028, U+2029, VT, FF, FS…) is escaped."""
    line = format_fields(event="callback", reason=value)
    assert len(line.splitlines()) == 1
    assert line.startswith('event=callback reason="')


def test_long_values_are_cut() -> None:
    line = format_fields(reason="x" * 5000)
    assert len(line) < 600 and line.endswith('…"')


def test_quoted_value_cannot_forge_another_field() -> None:
    line = format_fields(reason='x" sub="admin')
    assert line == 'reason="x\\" sub=\\"admin"'


def test_log_event_writes_one_logfmt_line(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger("auth"), "propagate", True)
    caplog.set_level(logging.INFO, logger="auth")
    log_event("login_ok", provider="google", sub="u 1", email=None)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("auth", logging.INFO, 'event=login_ok provider=google sub="u 1"')
    ]


# --- encode_client_secret_basic ---------------------------------------------------------


def _decoded(header: str) -> str:
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(encoded, validate=True).decode("utf-8")


def test_basic_auth_form_encodes_id_and_secret() -> None:
    auth = SimpleNamespace(client_id="my app:1", client_secret="a+b%c:d e/f")
    headers: dict[str, str] = {"Accept": "application/json"}
    uri, out_headers, body = encode_client_secret_basic(auth, "POST", "https://idp/token", headers, "code=x")
    assert (uri, body) == ("https://idp/token", "code=x")
    assert out_headers["Accept"] == "application/json"
    assert _decoded(out_headers["Authorization"]) == "my+app%3A1:a%2Bb%25c%3Ad+e%2Ff"
    expected = base64.b64encode(b"my+app%3A1:a%2Bb%25c%3Ad+e%2Ff").decode("ascii")
    assert out_headers["Authorization"] == f"Basic {expected}"


def test_basic_auth_plain_credentials_unchanged() -> None:
    auth = SimpleNamespace(client_id="my-app_1", client_secret="Abc-123_xyz")
    _, headers, _ = encode_client_secret_basic(auth, "POST", "https://idp/token", {}, "")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"my-app_1:Abc-123_xyz").decode("ascii")


def test_basic_auth_non_ascii_secret_is_utf8_percent_encoded() -> None:
    auth = SimpleNamespace(client_id="app", client_secret="pä$$")
    _, headers, _ = encode_client_secret_basic(auth, "POST", "https://idp/token", {}, "")
    assert _decoded(headers["Authorization"]) == "app:p%C3%A4%24%24"
