"""``auth.pages_folder``: which page files of a ``pages/`` folder app have no guard, in
Streamlit's menu order; and ``Auth.pages_folder``/``navigation`` refusing what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth import pages_folder
from auth.ui import sections_of


def write(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(source, encoding="utf-8")
    return path


def test_page_files_come_in_streamlits_menu_order(tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    for name in ("b_page.py", "10_ten.py", "2_two.py", "a_page.py", "_private.py", ".hidden.py", "notes.txt"):
        write(folder, name, "")
    assert [path.name for path in pages_folder.page_files(folder)] == [
        "2_two.py",
        "10_ten.py",
        "a_page.py",
        "b_page.py",
    ]
    assert pages_folder.page_files(tmp_path / "missing") == []


@pytest.mark.parametrize(
    ("source", "guarded"),
    [
        ("from app import auth\nauth.require_login()\n", True),
        ("from app import auth\nuser = auth.require_role('admin')\n", True),
        ("from app import auth\nauth.require_group('analysts')\n", True),
        ("from app import require_login\nrequire_login()\n", True),
        ("import streamlit as st\nst.title('open')\n", False),
        ("from app import auth\nuser = auth.current_user()\n", False),  # shows what it likes to anyone
        ("# auth.require_login()\n", False),  # a comment guards nothing
        ("def page(:\n", False),  # does not parse
    ],
)
def test_a_page_is_guarded_by_a_call_that_stops_signed_out_visitors(source: str, guarded: bool) -> None:
    assert pages_folder.is_guarded(source) is guarded


def test_unguarded_names_the_open_pages_only(tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    write(folder, "1_Guarded.py", "from app import auth\nauth.require_login()\n")
    open_page = write(folder, "2_Open.py", "import streamlit as st\n")
    assert pages_folder.unguarded(folder) == [open_page]


def test_navigation_takes_lists_and_sections_but_nothing_else() -> None:
    assert sections_of([]) == {"": []}
    assert sections_of({"A": [], "B": []}) == {"A": [], "B": []}
    with pytest.raises(TypeError, match="a list of pages, or a dict of section labels"):
        sections_of("home.py")  # type: ignore[arg-type]


def test_the_migration_refuses_a_folder_still_named_pages() -> None:
    from auth import Auth, load_settings

    auth = Auth(
        load_settings(
            {
                "AUTH_PROVIDERS": "corp",
                "AUTH_CORP_ISSUER": "http://127.0.0.1:9/",
                "AUTH_CORP_CLIENT_ID": "app",
                "AUTH_CORP_CLIENT_SECRET": "secret",
                "AUTH_COOKIE_SECRET": "x" * 40,
                "AUTH_STORE": "memory://",
            }
        )
    )
    with pytest.raises(ValueError, match="rename the pages folder"):
        auth.pages_folder("home.py", "pages")
