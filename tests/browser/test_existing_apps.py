"""Sign-in added to apps that are not the demo (issue 15): every shape of ``st.navigation``
(sections, a list of page-likes, the top menu), the app's page script started without the
``st.App`` launcher, and an app with a ``pages/`` folder, before and after the one-line
migration. The apps are in ``tests/apps``; each signs in through a ``LocalProvider``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devprovider import LocalProvider, ProviderUser
from tests.support.app_process import ROOT, AppProcess, local_app, wait_until

APPS = ROOT / "tests" / "apps"
CLIENT_ID = "existing-apps"
CLIENT_SECRET = "existing-apps-secret"
LABEL = "Local provider"


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    users = [
        ProviderUser(sub="alice", claims={"name": "Alice Admin", "preferred_username": "alice", "roles": ["admin"]}),
        ProviderUser(sub="bob", claims={"name": "Bob User", "preferred_username": "bob"}),
    ]
    with LocalProvider(users=users, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as started:
        yield started


def running(script: str, provider: LocalProvider, **environment: str) -> AppProcess:
    """The app ``script`` (relative to ``tests/apps``, or absolute) signing in at ``provider``."""
    return local_app(
        provider, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, label=LABEL, script=APPS / script, **environment
    )


@pytest.fixture(scope="module")
def sections_app(provider: LocalProvider) -> Iterator[AppProcess]:
    with running("sections/app.py", provider) as app:
        yield app


def sign_in(page: Page, user: str, heading: str) -> None:
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    page.get_by_role("button", name=user, exact=True).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible()


def login_view(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("heading", name="Sign in", exact=True)


# -- 1. every shape of st.navigation ---------------------------------------------------------


def test_a_sectioned_menu_shows_only_what_the_user_may_open(sections_app: AppProcess, page: Page) -> None:
    page.goto(sections_app.url + "/reports")
    expect(login_view(page)).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # signed out: no menu at all
    expect(page.get_by_text("After signing in you will return to /reports")).to_be_visible()

    sign_in(page, "alice", "Reports")
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Core", exact=True)).to_be_visible()
    expect(nav.get_by_text("Operations", exact=True)).to_be_visible()
    for title in ("Overview", "Reports", "Admin console", "settings"):
        expect(nav.get_by_role("link", name=title, exact=True)).to_be_visible()
    # Compliance's only page needs a role alice lacks: page and section leave the menu ...
    expect(nav.get_by_text("Compliance")).to_have_count(0)
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)
    # ... and the page's URL answers with the refusal, not the page.
    page.goto(sections_app.url + "/audit")
    expect(page.get_by_text("You do not have access to this page. It needs the role auditor.")).to_be_visible()
    expect(page.get_by_role("heading", name="Audit log")).to_have_count(0)


def test_a_restricted_page_inside_a_section_is_refused_to_others(sections_app: AppProcess, page: Page) -> None:
    page.goto(sections_app.url + "/")
    sign_in(page, "bob", "Overview")
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Operations", exact=True)).to_be_visible()  # settings is still there
    expect(nav.get_by_role("link", name="settings")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin console")).to_have_count(0)
    page.goto(sections_app.url + "/admin")
    expect(page.get_by_text("You do not have access to this page. It needs the role admin.")).to_be_visible()


def test_the_top_menu_with_sections(provider: LocalProvider, page: Page) -> None:
    with running("sections/app.py", provider, APP_POSITION="top") as app:
        page.goto(app.url + "/")
        expect(login_view(page)).to_be_visible()
        expect(page.get_by_test_id("stTopNavLink")).to_have_count(0)
        sign_in(page, "alice", "Overview")
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # the menu is at the top
        top = page.get_by_test_id("stToolbar")
        expect(top.get_by_text("Core", exact=True)).to_be_visible()
        expect(top.get_by_text("Operations", exact=True)).to_be_visible()
        expect(top.get_by_text("Compliance")).to_have_count(0)


def test_a_list_of_page_likes_with_a_restricted_file_page(provider: LocalProvider, page: Page) -> None:
    """``"audit.py"`` given as a path, and ``settings`` as a function: the rule made for
    ``st.Page("audit.py")`` applies to the page ``st.navigation`` makes of the path."""
    with running("sections/app.py", provider, APP_NAVIGATION="list") as app:
        page.goto(app.url + "/audit")
        expect(login_view(page)).to_be_visible()
        page.get_by_role("link", name=f"Sign in with {LABEL}").click()
        page.get_by_role("button", name="alice", exact=True).click()
        expect(page.get_by_text("You do not have access to this page. It needs the role auditor.")).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        for title in ("Overview", "Reports", "Admin console", "settings"):
            expect(nav.get_by_role("link", name=title, exact=True)).to_be_visible()
        expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)


# -- 2. the page script started without the launcher -----------------------------------------


def test_the_page_script_started_without_the_launcher_says_how_to_start_it(provider: LocalProvider, page: Page) -> None:
    with running("sections/main.py", provider) as app:
        for _ in range(2):
            page.goto(app.url + "/")
            expect(page.get_by_role("heading", name="Sign-in is not set up")).to_be_visible()
            expect(page.get_by_text("This server runs main.py directly")).to_be_visible()
            expect(page.get_by_text("streamlit run app.py")).to_be_visible()
            expect(login_view(page)).to_have_count(0)
        wait_until(lambda: "event=auth_routes_not_served" in app.output(), 5, "the log line")
        log = app.output()
    assert log.count("event=auth_routes_not_served") == 1
    assert 'started=main.py fix="start the launcher that builds st.App(..., routes=auth.routes)' in log


# -- 3. an app with a pages/ folder ------------------------------------------------------------


def test_a_pages_folder_app_names_the_pages_left_open(provider: LocalProvider, page: Page) -> None:
    with running("pages_folder/app.py", provider) as app:
        page.goto(app.url + "/")
        expect(login_view(page)).to_be_visible()
        wait_until(lambda: "event=pages_unguarded" in app.output(), 5, "the warning")
        log = app.output()
    line = next(line for line in log.splitlines() if "event=pages_unguarded" in line)
    assert "pages=pages/2_Open_data.py " in line and "1_Guarded" not in line
    assert "auth.navigation(auth.pages_folder(...))" in line


def migrate(app_folder: Path, into: Path) -> Path:
    """The README's migration of a pages/ folder app, done to a copy: rename the folder, add
    a one-line entry script routing through ``auth.navigation``, point ``st.App`` at it."""
    shutil.copytree(app_folder, into)
    (into / "pages").rename(into / "app_pages")
    (into / "router.py").write_text(
        'from app import auth\n\nauth.navigation(auth.pages_folder("streamlit_app.py", "app_pages")).run()\n',
        encoding="utf-8",
    )
    launcher = into / "app.py"
    launcher.write_text(launcher.read_text(encoding="utf-8").replace("streamlit_app.py", "router.py"), encoding="utf-8")
    return launcher


def test_after_the_migration_every_page_is_behind_sign_in(provider: LocalProvider, page: Page, tmp_path: Path) -> None:
    launcher = migrate(APPS / "pages_folder", tmp_path / "app")
    with running(str(launcher), provider) as app:
        page.goto(app.url + "/Open_data")
        expect(login_view(page)).to_be_visible()
        expect(page.get_by_text("This page forgot its guard.")).to_have_count(0)
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        page.get_by_role("link", name=f"Sign in with {LABEL}").click()
        page.get_by_role("button", name="alice", exact=True).click()
        expect(page.get_by_text("This page forgot its guard.")).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        for title in ("streamlit app", "Guarded", "Open data"):
            expect(nav.get_by_role("link", name=title)).to_be_visible()
        log = app.output()
    assert "event=pages_unguarded" not in log and "event=pages_folder_beside_navigation" not in log


def test_a_pages_folder_beside_navigation_is_a_warning(provider: LocalProvider, page: Page, tmp_path: Path) -> None:
    """Routed through ``auth.navigation`` without renaming the folder: until the process's first
    ``st.navigation``, Streamlit serves the folder's files on their own, so that is said."""
    launcher = migrate(APPS / "pages_folder", tmp_path / "app")
    (tmp_path / "app" / "app_pages").rename(tmp_path / "app" / "pages")
    (tmp_path / "app" / "router.py").write_text(
        "from app import auth\n\n"
        'auth.navigation(["streamlit_app.py", "pages/1_Guarded.py", "pages/2_Open_data.py"]).run()\n',
        encoding="utf-8",
    )
    with running(str(launcher), provider) as app:
        page.goto(app.url + "/")
        expect(login_view(page)).to_be_visible()
        wait_until(lambda: "event=pages_folder_beside_navigation" in app.output(), 5, "the warning")
        assert "event=pages_unguarded" not in app.output()
