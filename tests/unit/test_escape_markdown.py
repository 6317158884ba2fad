"""``auth.escape_markdown``: provider claims shown in Streamlit's markdown as plain text."""

from __future__ import annotations

import pytest

from auth import escape_markdown
from auth.ui import WORD_JOINER


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("Alice Admin", "Alice Admin"),
        ("![x](img)", "\\!\\[x\\]\\(img\\)"),
        (":red[x] :material/home:", "\\:red\\[x\\] \\:material\\/home\\:"),
        ("$x^2$ **b** _i_ `c` <b>", "\\$x\\^2\\$ \\*\\*b\\*\\* \\_i\\_ \\`c\\` \\<b\\>"),
        ("# title\n\n- item", "\\# title \\- item"),
        ("a\\b", "a\\\\b"),
    ],
)
def test_markdown_syntax_is_escaped_and_lines_flattened(text: str, escaped: str) -> None:
    assert escape_markdown(text) == escaped


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("https://evil.example", f"https\\:\\/\\/{WORD_JOINER}evil\\.example"),
        ("WWW.evil.example", f"WWW{WORD_JOINER}\\.evil\\.example"),
        ("bob@example.com", f"bob\\@{WORD_JOINER}example\\.com"),
    ],
)
def test_bare_urls_and_addresses_are_kept_from_being_linked(text: str, escaped: str) -> None:
    """GFM links bare URLs after escapes are resolved; an invisible word joiner stops it."""
    assert escape_markdown(text) == escaped
