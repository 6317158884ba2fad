"""Which session checks count as the user's activity (issue 13, finding 7), in Streamlit's
own script runner (``streamlit.testing.v1.AppTest``): the run after a store outage is not,
``current_user`` is not by default, ``require_login`` is.

The scripts record the ``activity`` flag each check was made with; the check itself is a
stand-in, since what a check does with the flag is tested in ``test_sessions.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

#: (run number, activity) of every check the scripts below made, in order
CHECKS: list[tuple[int, bool]] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    CHECKS.clear()


def make_ui():  # type: ignore[no-untyped-def]
    """A ``SignInUi`` whose session check records its ``activity`` flag and finds a user."""
    import streamlit as st

    from auth.identity import SessionStatus, User
    from auth.ui import SignInUi
    from tests.unit.test_ui_activity import CHECKS

    run = st.session_state.setdefault("run", 0)

    def check(value: str | None, activity: bool) -> SessionStatus:
        CHECKS.append((run, activity))
        return SessionStatus(user=User(sub="alice", issuer="https://idp.example", provider="corp", name="Alice"))

    return SignInUi(
        check_session=check,
        now=lambda: 0.0,
        cookie_name="streamlit_auth",
        base_path="",
        session_timeout=600.0,
        providers=(),
        login_href=lambda provider, next_path: "/auth/login",
        logout_url="/auth/logout",
    )


def run_script(script: Callable[[], None], runs: int) -> None:
    app = AppTest.from_function(script)
    for run in range(runs):
        app.session_state["run"] = run
        app.run()
        assert not app.exception, app.exception


def test_the_run_after_a_store_outage_is_not_activity_in_any_of_its_checks() -> None:
    def script() -> None:
        import streamlit as st

        from auth import ui
        from tests.unit.test_ui_activity import make_ui

        signed_in_ui = make_ui()
        ui.session_status(signed_in_ui)  # navigation's check
        ui.session_status(signed_in_ui)  # the page's require_login
        if st.session_state["run"] == 0:
            ui._mark_next_run_quiet()  # what _wait_for_store does before it reruns the app

    run_script(script, 3)
    assert CHECKS == [(0, True), (0, True), (1, False), (1, False), (2, True), (2, True)]


def test_current_user_is_not_activity_unless_asked_and_require_login_is() -> None:
    def script() -> None:
        from auth import ui
        from tests.unit.test_ui_activity import make_ui

        signed_in_ui = make_ui()
        ui.current_user(signed_in_ui)
        ui.current_user(signed_in_ui, activity=True)
        ui.require_login(signed_in_ui, show_account=False)
        ui.require_login(signed_in_ui, show_account=False, activity=False)

    run_script(script, 1)
    assert CHECKS == [(0, False), (0, True), (0, True), (0, False)]


def test_the_public_api_passes_activity_through() -> None:
    """``Auth.current_user``/``require_login``/``require_role`` keep the defaults of ``auth.ui``."""
    import inspect

    from auth import Auth

    assert inspect.signature(Auth.current_user).parameters["activity"].default is False
    for method in (Auth.require_login, Auth.require_role, Auth.require_group):
        assert inspect.signature(method).parameters["activity"].default is True
