"""What the user sees inside Streamlit: the login page, the account panel, page rules.

No protocol logic here: the session is checked through ``SignInUi.check_session``
on every rerun (``st.context.cookies`` carries the browser's cookies), and links
go to the ``/auth/*`` routes, which do the real work outside Streamlit. The
layer sees only the few parts of the package bundled in ``SignInUi``.
"""

from __future__ import annotations

import logging
import re
import string
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode, urlsplit

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from . import pages_folder
from .access import admits
from .events import log_event
from .identity import SessionStatus, User
from .redirects import app_root, safe_next_path

# How often an open page re-checks its session with no user action. Short enough
# that a session ended elsewhere (another tab, replica, the provider) or by
# expiry leaves the page within 10 s; a check is one store read, so it is cheap.
MAX_RECHECK_SECONDS = 5.0
MIN_RECHECK_SECONDS = 1.0
# "Stay signed in" appears this long before the idle timeout (half the timeout when shorter).
STAY_SIGNED_IN_NOTICE = 60.0
# Why a session ended (auth.sessions' reasons), in the user's words.
ENDED_MESSAGES = {
    "logout": "You signed out of this session (in another tab or window).",
    "logout_everywhere": "You signed out everywhere.",
    "backchannel": "Your session was ended at the sign-in provider.",
    "idle": "Your session ended because there was no activity for a while.",
    "max_age": "Your session reached its maximum length.",
    "refresh_failed": "Your sign-in is no longer valid at the provider (it was revoked or has expired).",
    "access_denied": "Your account no longer has access to this app.",
}
ENDED_DEFAULT = "Your session has ended. Please sign in again."
STORE_UNAVAILABLE = (
    "Sign-in is temporarily unavailable, so this page cannot be shown right now. "
    "It will come back by itself as soon as sign-in works again."
)
_MARKDOWN_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_AUTOLINK_TRIGGER = re.compile(r"://|@|www(?=\.)", re.IGNORECASE)
WORD_JOINER = "\u2060"
# Set once ``navigation`` has drawn the account panel for this session, so the
# page scripts' own ``require_login`` calls do not draw it a second time.
_PANEL_BY_NAVIGATION = "_auth_account_panel_by_navigation"
# The query parameter a sign-out round trip comes back with (RP-Initiated Logout 1.0 ``state``).
SIGN_OUT_STATE = "state"


@dataclass(frozen=True)
class ProviderButton:
    name: str
    label: str
    icon: str | None = None


@dataclass(frozen=True)
class SignInUi:
    """What the Streamlit layer needs from the rest of the package, and nothing more."""

    #: (session cookie value, is this rerun the user's doing?) -> what the session check found
    check_session: Callable[[str | None, bool], SessionStatus]
    now: Callable[[], float]
    cookie_name: str
    base_path: str
    #: the idle timeout with a store, else the absolute one
    session_timeout: float
    providers: tuple[ProviderButton, ...]
    #: (provider, next path) -> the /auth/login link
    login_href: Callable[[str, str], str]
    logout_url: str
    #: session cookie value -> status after recording activity now ("Stay signed in")
    stay_signed_in: Callable[[str | None], SessionStatus] | None = None
    #: the ``state`` a sign-out round trip brought back -> was it ours?
    confirms_sign_out: Callable[[str | None], bool] | None = None
    #: shown beside "Log out" when sessions live in a store
    logout_everywhere_url: str | None = None
    #: does this server route requests to the /auth/* routes? None: do not check
    routes_served: Callable[[], bool] | None = None
    #: what the first page loads learn about the app's shape (None: do not look)
    shape: AppShape | None = None


class AppShape:
    """What this process learns about the app at its first page loads, said once in the log:
    its routes are not served, or page files of a ``pages/`` folder have no guard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._said: set[str] = set()

    def once(self, what: str) -> bool:
        """True the first time ``what`` is asked about in this process."""
        with self._lock:
            first = what not in self._said
            self._said.add(what)
        return first

    def check_pages_folder(self, main_script: Path, *, navigation: bool) -> None:
        """Say once what a ``pages/`` folder beside the entry script leaves open.

        Streamlit runs such a folder's files on their own (its first multipage form), so
        without ``navigation`` each file needs its own guard, and with it the files are
        still served directly until the process's first ``st.navigation`` call.
        """
        folder = main_script.parent / "pages"
        if not self.once("pages_folder") or not pages_folder.page_files(folder):
            return
        if navigation:
            log_event(
                "pages_folder_beside_navigation",
                level=logging.WARNING,
                folder=str(folder),
                detail="Streamlit serves the files of a folder named pages on their own, before and around "
                "auth.navigation: rename it (README: Apps with a pages/ folder)",
            )
            return
        open_pages = pages_folder.unguarded(folder)
        if open_pages:
            log_event(
                "pages_unguarded",
                level=logging.WARNING,
                pages=",".join(f"pages/{path.name}" for path in open_pages),
                detail="signed-out visitors can open these pages: call auth.require_login() at the top of "
                "each, or rename the folder and use auth.navigation(auth.pages_folder(...)) "
                "(README: Apps with a pages/ folder)",
            )


@dataclass(frozen=True)
class PageRule:
    """Who may open a page: any of ``roles`` (when given) and any of ``groups`` (when given)."""

    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def admits(self, user: User) -> bool:
        return admits(user, roles=self.roles, groups=self.groups)

    def describe(self) -> str:
        needs = []
        if self.roles:
            needs.append(("the role " if len(self.roles) == 1 else "one of the roles ") + ", ".join(self.roles))
        if self.groups:
            needs.append(("the group " if len(self.groups) == 1 else "one of the groups ") + ", ".join(self.groups))
        return " and ".join(needs)


class PageRules:
    """The rules ``restrict`` attached to pages, by the page's URL path.

    Page scripts build new ``st.Page`` objects on every rerun, but a page's URL
    path stays the same, so this stays as small as the set of restricted pages
    and ``restrict`` can hand back the page itself: the list given to
    ``navigation`` is then a plain ``list[StreamlitPage]``.
    """

    def __init__(self) -> None:
        self._rules: dict[str, PageRule] = {}

    def restrict(self, page: StreamlitPage, rule: PageRule) -> StreamlitPage:
        self._rules[page.url_path] = rule
        return page

    def rule_for(self, page: StreamlitPage) -> PageRule | None:
        return self._rules.get(page.url_path)


def recheck_interval(timeout: float) -> float:
    return min(MAX_RECHECK_SECONDS, max(MIN_RECHECK_SECONDS, timeout / 20))


def stay_signed_in_notice(timeout: float) -> float:
    """How long before the idle timeout "Stay signed in" is offered."""
    return STAY_SIGNED_IN_NOTICE if timeout >= 2 * STAY_SIGNED_IN_NOTICE else timeout / 2


def session_cookie(ui: SignInUi) -> str | None:
    """This rerun's session cookie (the browser's cookies of the page's WebSocket)."""
    return st.context.cookies.get(ui.cookie_name)


def rerun_app() -> None:
    """Run the page again from the top (the session check then shows the login page)."""
    st.rerun(scope="app")


def session_status(ui: SignInUi, *, activity: bool = True) -> SessionStatus:
    """The session check of this rerun. ``activity``: does this rerun count as the user's
    doing (postponing the idle timeout)? Never in a run the package itself started (see
    ``_quiet_run``)."""
    return ui.check_session(session_cookie(ui), activity and not _quiet_run())


# Streamlit session id -> the script run whose checks are not activity (or ``_NEXT_RUN``
# until the next run claims it). Kept here, not in st.session_state, because it holds an
# object of Streamlit's that need not be serialisable.
_quiet_runs: dict[str, object] = {}
_NEXT_RUN = object()


def _mark_next_run_quiet() -> None:
    """The next run of this page is the package's doing (the page coming back after a
    store outage), not the user's: its session checks must not count as activity, or every
    unattended tab would get a new idle period after each outage."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        _quiet_runs[ctx.session_id] = _NEXT_RUN


def _quiet_run() -> bool:
    """Is this run one that ``_mark_next_run_quiet`` marked? Every check of that run
    (``navigation`` and then the page's ``require_login``) is quiet; the next run is not.

    A run is told apart by ``ScriptRunContext.cursors``, which Streamlit replaces at the
    start of every run (full or fragment): no public API names the current run.
    """
    ctx = get_script_run_ctx()
    if ctx is None or ctx.session_id not in _quiet_runs:
        return False
    marker = _quiet_runs[ctx.session_id]
    run = getattr(ctx, "cursors", None)
    if marker is _NEXT_RUN and run is not None:
        _quiet_runs[ctx.session_id] = run
        return True
    if marker is run and run is not None:
        return True
    del _quiet_runs[ctx.session_id]
    return marker is _NEXT_RUN  # without a run marker: quiet once


def current_user(ui: SignInUi, *, activity: bool = False) -> User | None:
    require_routes(ui)
    return session_status(ui, activity=activity).user


def require_login(ui: SignInUi, *, show_account: bool = True, activity: bool = True) -> User:
    require_routes(ui)
    _check_app_shape(ui, navigation=False)
    status = session_status(ui, activity=activity)
    if status.user is None:
        signed_out_view(ui, status)
        st.stop()
    user = status.user
    if show_account and not st.session_state.get(_PANEL_BY_NAVIGATION):
        with st.sidebar:
            account_panel(ui, user)
    return user


def signed_out_view(ui: SignInUi, status: SessionStatus) -> None:
    """The login page, or the "temporarily unavailable" notice while the store is down."""
    if status.unavailable:
        unavailable_notice(ui)
    else:
        login_page(ui, ended=status.ended)


def unavailable_notice(ui: SignInUi) -> None:
    st.title("Sign-in is temporarily unavailable")
    st.warning(STORE_UNAVAILABLE, icon=":material/cloud_off:")
    st.fragment(_wait_for_store, run_every=timedelta(seconds=recheck_interval(ui.session_timeout)))(ui)


def _wait_for_store(ui: SignInUi) -> None:
    """Runs on a timer while the store is down; reruns the page once it answers again.
    That rerun is not the user's doing, so it is not activity."""
    if not session_status(ui, activity=False).unavailable:
        _mark_next_run_quiet()
        st.rerun(scope="app")


def require_access(
    ui: SignInUi, *, roles: Sequence[str] = (), groups: Sequence[str] = (), activity: bool = True
) -> User:
    user = require_login(ui, activity=activity)
    rule = PageRule(roles=tuple(roles), groups=tuple(groups))
    if not rule.admits(user):
        refusal(rule)
        st.stop()
    return user


#: what ``st.navigation`` accepts as a page: an ``st.Page``, or what ``st.Page`` is given
PageLike = StreamlitPage | str | Path | Callable[[], None]
#: ``st.navigation``'s ``pages``: a list, or a mapping of section labels to lists
NavigationPages = Sequence[PageLike] | Mapping[str, Sequence[PageLike]]
NavigationPosition = Literal["sidebar", "hidden", "top"]


def sections_of(pages: NavigationPages) -> dict[str, list[StreamlitPage]]:
    """``pages`` as ``st.navigation`` reads them: sections (``""`` for a plain list) of pages,
    page-likes made into ``st.Page`` objects the way ``st.navigation`` does."""
    if isinstance(pages, Mapping):
        grouped: Mapping[str, Sequence[PageLike]] = pages
    elif isinstance(pages, (str, Path)) or not isinstance(pages, Sequence):
        raise TypeError("pages must be a list of pages, or a dict of section labels to lists of pages")
    else:
        grouped = {"": pages}
    return {
        section: [page if isinstance(page, StreamlitPage) else st.Page(page) for page in members]
        for section, members in grouped.items()
    }


def navigation(
    ui: SignInUi,
    rules: PageRules,
    pages: NavigationPages,
    *,
    position: NavigationPosition = "sidebar",
    expanded: bool | int = False,
) -> StreamlitPage:
    """``st.navigation`` for the signed-in user, with the same arguments and meaning.

    Signed out, every page's URL shows the signed-out view and the menu is hidden: after
    sign-out or expiry the sidebar must not keep listing the protected pages. Signed in,
    a page the rules refuse stays at its URL (answering with the refusal) but leaves the
    menu, and a section left with no page to show leaves it too.
    """
    require_routes(ui)
    _check_app_shape(ui, navigation=True)
    sections = sections_of(pages)
    status = session_status(ui)
    if status.user is None:

        def signed_out() -> None:
            signed_out_view(ui, status)

        stand_ins = [
            _stand_in(page, signed_out, visibility="visible")
            for members in sections.values()
            for page in members
            if not page.is_external
        ]
        return st.navigation(stand_ins, position="hidden")
    user = status.user
    st.session_state[_PANEL_BY_NAVIGATION] = True
    with st.sidebar:
        account_panel(ui, user)
    shown: dict[str, list[StreamlitPage]] = {}
    refused: list[StreamlitPage] = []
    for section, members in sections.items():
        for page in members:
            rule = None if page.is_external else rules.rule_for(page)
            if rule is None or rule.admits(user):
                shown.setdefault(section, []).append(page)
            else:
                refused.append(_refusal_page(page, rule))
    if refused:
        # Hidden pages take no room in the menu: they join the first section shown (or make
        # up the only one), so a section with nothing left to show is not drawn at all.
        first = next(iter(shown), next(iter(sections)))
        shown[first] = shown.get(first, []) + refused
    if list(shown) == [""]:
        return st.navigation(shown[""], position=position, expanded=expanded)
    return st.navigation(shown, position=position, expanded=expanded)


def _check_app_shape(ui: SignInUi, *, navigation: bool) -> None:
    ctx = get_script_run_ctx()
    if ui.shape is not None and ctx is not None:
        ui.shape.check_pages_folder(Path(ctx.main_script_path), navigation=navigation)


def require_routes(ui: SignInUi) -> None:
    """Stop with an error for the developer when this server does not serve the ``/auth/*``
    routes: "Sign in" would go to Streamlit's own ``/auth/login``, which sends the browser
    back to the app, and the user would click forever. Logged once per process."""
    if ui.routes_served is None or ui.routes_served():
        return
    ctx = get_script_run_ctx()
    started = Path(ctx.main_script_path).name if ctx is not None else "the page script"
    fix = "start the launcher that builds st.App(..., routes=auth.routes) instead, usually: streamlit run app.py"
    if ui.shape is None or ui.shape.once("routes_not_served"):
        log_event("auth_routes_not_served", level=logging.ERROR, started=started, fix=fix)
    st.title("Sign-in is not set up")
    st.error(
        f"This server runs {escape_markdown(started)} directly, so it does not serve the sign-in "
        f"routes ({ui.base_path}/auth/login, …/auth/callback/…, …/auth/logout), so nobody can sign in. "
        "Start the launcher that builds `st.App(..., routes=auth.routes)` instead, usually "
        "`streamlit run app.py`.",
        icon=":material/build:",
    )
    fine_print("This message is for the app's developer; the same is in the server's log.")
    st.stop()


def folder_pages(home: str | Path, folder: str) -> list[StreamlitPage]:
    """``home`` (the default page) and the page files of ``folder`` (beside the entry
    script) in Streamlit's own menu order: an app that had a ``pages/`` folder, as pages
    for ``navigation``. The folder must not be named ``pages``: Streamlit would serve its
    files on their own, around ``navigation``."""
    ctx = get_script_run_ctx()
    base = Path(ctx.main_script_path).parent if ctx is not None else Path.cwd()
    files = pages_folder.page_files(base / folder)
    return [st.Page(home, default=True), *(st.Page(f"{folder}/{path.name}") for path in files)]


def refusal(rule: PageRule) -> None:
    st.error(f"You do not have access to this page. It needs {rule.describe()}.", icon=":material/block:")


def _refusal_page(page: StreamlitPage, rule: PageRule) -> StreamlitPage:
    """Stands in for a page the user may not open: same URL, hidden from the menu."""

    def refused() -> None:
        refusal(rule)

    return _stand_in(page, refused, visibility="hidden")


def _stand_in(
    page: StreamlitPage, run: Callable[[], None], *, visibility: Literal["visible", "hidden"]
) -> StreamlitPage:
    """A page that answers at ``page``'s URL (and is the default when it is) with ``run``."""
    if not page.url_path:  # the default page: its URL is the app's root
        return st.Page(run, title=page.title, icon=page.icon or None, default=True)
    return st.Page(run, title=page.title, icon=page.icon or None, url_path=page.url_path, visibility=visibility)


def current_path(base_path: str) -> str:
    """The path and query the browser shows, to come back to after signing in."""
    url = st.context.url
    path = urlsplit(url).path if url else app_root(base_path)
    pairs = [(key, value) for key in st.query_params for value in st.query_params.get_all(key)]
    return safe_next_path(f"{path}?{urlencode(pairs)}" if pairs else path, base_path)


def login_page(ui: SignInUi, *, ended: str | bool | None = None) -> None:
    """``ended`` names why a session ended (see ``ENDED_MESSAGES``); True for "some reason"."""
    signed_out = _returned_from_sign_out(ui)
    next_path = current_path(ui.base_path)
    st.title("Sign in")
    if signed_out:
        st.success("You have signed out.", icon=":material/logout:")
    elif ended:
        message = ENDED_MESSAGES.get(ended, ENDED_DEFAULT) if isinstance(ended, str) else ENDED_DEFAULT
        st.info(message, icon=":material/schedule:")
    st.write("Choose how you want to sign in to continue.")
    buttons = "".join(
        _login_button(ui.login_href(provider.name, next_path), provider.label, provider.icon)
        for provider in ui.providers
    )
    st.markdown(
        f'<div style="display:flex;flex-direction:column;gap:.6rem;max-width:22rem">{buttons}</div>',
        unsafe_allow_html=True,
    )
    if next_path != app_root(ui.base_path):
        fine_print(f"After signing in you will return to {escape_markdown(next_path)}")


def _returned_from_sign_out(ui: SignInUi) -> bool:
    """The browser came back from signing out (at the provider or here) with our ``state``.

    The ``state`` is removed from the address bar, and so from the path to return to.
    """
    state = st.query_params.get(SIGN_OUT_STATE)
    if state is None:
        return False
    del st.query_params[SIGN_OUT_STATE]
    return ui.confirms_sign_out is not None and ui.confirms_sign_out(state)


def fine_print(markdown: str) -> None:
    """Secondary text, small and in the theme's text colour: ``st.caption``'s grey is below the
    4.5:1 contrast WCAG 2.2 SC 1.4.3 asks of small text (3.9:1 on the main area's white, 3.8:1
    on the sidebar's grey in Streamlit 1.67's light theme), and a fixed darker grey would be
    lost on the dark theme. ``markdown`` must already be escaped (``escape_markdown``)."""
    st.markdown(f":small[{markdown}]")


def escape_markdown(text: str) -> str:
    """``text`` to show literally in Streamlit's markdown (``st.markdown``, ``st.title``,
    ``fine_print``…): claims come from the provider, and a name such as
    ``![x](https://tracker/…)`` must not render an image, a link or a ``:red[…]`` directive.

    Every ASCII punctuation character is backslash-escaped (CommonMark §2.4) and
    line breaks are flattened, so the value stays one line of plain text. GFM also
    turns bare URLs and e-mail addresses into links after escapes are resolved, so an
    invisible word joiner (U+2060) after ``://``, ``www`` and ``@`` keeps them text.
    """
    unlinked = _AUTOLINK_TRIGGER.sub(lambda match: match.group(0) + WORD_JOINER, " ".join(text.split()))
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", unlinked)


def account_panel(ui: SignInUi, user: User) -> None:
    st.markdown(f"Signed in as **{escape_markdown(user.name)}**")
    if user.email and user.email != user.name:
        fine_print(escape_markdown(user.email))
    st.fragment(_session_clock, run_every=timedelta(seconds=recheck_interval(ui.session_timeout)))(ui)
    buttons = [_post_button(ui.logout_url, "Log out")]
    if ui.logout_everywhere_url:
        buttons.append(_post_button(ui.logout_everywhere_url, "Sign out everywhere"))
    st.markdown(
        f'<div style="display:flex;gap:.5rem;flex-wrap:wrap;margin-top:.25rem">{"".join(buttons)}</div>',
        unsafe_allow_html=True,
    )


def _post_button(action: str, label: str) -> str:
    """A form that POSTs to ``action``: signing out changes state, so it is never a link
    (a GET could be sent by an image or a link in the page's own content)."""
    return (
        f'<form method="post" action="{escape(action, quote=True)}" target="_self" style="margin:0">'
        '<button type="submit" style="font:inherit;font-size:.875rem;cursor:pointer;padding:.25rem .75rem;'
        'border:1px solid rgba(49,51,63,.2);border-radius:.5rem;background:transparent;color:inherit">'
        f"{escape(label)}</button></form>"
    )


def _session_clock(ui: SignInUi) -> None:
    """Runs on a timer, not counted as activity: shows the time left, offers "Stay signed
    in" near the idle timeout, and switches the page to the login view soon after the
    session ends, here or anywhere else."""
    status = session_status(ui, activity=False)
    if status.user is None:
        st.rerun(scope="app")  # raises: the rest of this run does not happen
    user = status.user
    left = user.seconds_left(ui.now())
    fine_print(f"Session ends in {format_remaining(left)}")
    near_idle_end = user.ends_when_idle and left <= stay_signed_in_notice(ui.session_timeout)
    if (
        ui.stay_signed_in is not None
        and near_idle_end
        and st.button("Stay signed in", key="_auth_stay_signed_in", icon=":material/timer:")
    ):
        if ui.stay_signed_in(st.context.cookies.get(ui.cookie_name)).user is None:
            st.rerun(scope="app")
        st.rerun(scope="fragment")


def format_remaining(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" if minutes >= 10 else f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


def _login_button(href: str, label: str, icon: str | None) -> str:
    icon_html = ""
    if icon and icon.startswith(("https://", "http://", "data:image/")):
        icon_html = f'<img src="{escape(icon, quote=True)}" alt="" width="18" height="18" style="margin-right:.5rem">'
    elif icon:
        icon_html = f'<span style="margin-right:.5rem">{escape(icon)}</span>'
    return (
        f'<a href="{escape(href, quote=True)}" target="_self" '
        'style="display:flex;align-items:center;justify-content:center;padding:.6rem 1rem;'
        "border:1px solid rgba(49,51,63,.2);border-radius:.5rem;text-decoration:none;"
        'color:inherit;font-weight:500;text-align:center">'
        f"{icon_html}Sign in with {escape(label)}</a>"
    )
