"""``auth.redirects.safe_next_path``: only back into this app, never an open redirect."""

from __future__ import annotations

import pytest

from auth.redirects import safe_next_path


@pytest.mark.parametrize(
    "value",
    [
        "/",
        "/admin",
        "/admin?x=1&y=2",
        "/page#frag",
        "/%0d%0aSet-Cookie:x",
        "/authors",
        "/a/b/c",
        "/admin?next=https://evil.example",
        "/" + "a" * 2047,
    ],
)
def test_accepted_at_root(value: str) -> None:
    assert safe_next_path(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "https://evil.example",
        "http://evil.example/admin",
        "http:/evil",
        "//evil.example",
        "//evil.example/admin",
        "/\\evil.example",
        "\\\\evil",
        "/admin\\..\\x",
        "javascript:alert(1)",
        "data:text/html,x",
        "/\r\nx",
        "/\nx",
        "/\tx",
        "/\x00x",
        "/\x7fx",
        "/./x",
        "/../x",
        "/a/../../x",
        "/a/.",
        "x/relative",
        "admin",
        "?x=1",
        "#frag",
        "/" + "a" * 2999,
        "/" + "a" * 2048,
        "/auth/login?provider=x",
        "/auth/callback",
        "/auth/logout",
        "/auth",
        "/auth/",
    ],
)
def test_rejected_at_root(value: str | None) -> None:
    assert safe_next_path(value) == "/"
    assert safe_next_path(value, "") == "/"


@pytest.mark.parametrize("value", ["/app", "/app/", "/app/admin", "/app/admin?x=1", "/app/page#frag"])
def test_accepted_under_base_path(value: str) -> None:
    assert safe_next_path(value, "/app") == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "/",
        "/other",
        "/application",
        "/app/auth/logout",
        "/app/auth/callback",
        "/app/auth",
        "/app/../admin",
        "//evil.example/app",
        "https://evil.example/app/",
        "/auth/login",
    ],
)
def test_rejected_under_base_path(value: str | None) -> None:
    assert safe_next_path(value, "/app") == "/app/"


@pytest.mark.parametrize("value", ["/app/%2e%2e/other", "/app/%2E%2E/other", "/app/.%2e/other", "/app/%2e./other"])
def test_percent_encoded_dot_segments_cannot_leave_the_base_path(value: str) -> None:
    # Browsers treat "%2e%2e", ".%2e" and "%2e." as ".." (WHATWG URL: double-dot path segment),
    # so "/app/%2e%2e/other" is followed to "/other", outside the app.
    assert safe_next_path(value, "/app") == "/app/"


# --- length in bytes of the percent-encoded form ------------------------------------------


def test_non_ascii_is_percent_encoded() -> None:
    assert safe_next_path("/データ?q=é") == "/%E3%83%87%E3%83%BC%E3%82%BF?q=%C3%A9"


def test_existing_escapes_are_kept() -> None:
    assert safe_next_path("/a%20b?x=%E4%B8%AD") == "/a%20b?x=%E4%B8%AD"


@pytest.mark.parametrize("count", [228, 2041])
def test_limit_counts_encoded_bytes_not_characters(count: int) -> None:
    """228 CJK characters are 2,053 bytes once encoded: over the 2,048-byte limit."""
    assert safe_next_path("/" + "中" * count) == "/"


def test_just_under_the_limit_in_encoded_bytes_is_kept() -> None:
    value = "/" + "中" * 227  # 1 + 227 * 9 = 2,044 bytes
    assert safe_next_path(value) == "/" + "%E4%B8%AD" * 227


@pytest.mark.parametrize("char", ["\x85", "\x9b", "\x80"])
def test_c1_control_characters_are_refused(char: str) -> None:
    assert safe_next_path(f"/a{char}b") == "/"
