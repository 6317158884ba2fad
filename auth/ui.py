"""What the user sees inside Streamlit: the login page, the account panel, page rules.

No protocol logic here: the session is checked through ``SignInUi.check_session``
on every rerun (``st.context.cookies`` carries the browser's cookies), and links
go to the ``/auth/*`` routes, which do the real work outside Streamlit. The
layer sees only the few parts of the package bundled in ``SignInUi``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from urllib.parse import urlencode, urlsplit

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from .access import admits
from .identity import User
from .redirects import app_root, safe_next_path

# How often an idle page re-checks its session. Short enough that a page
# never shows protected content much past expiry, long enough to be free.
MAX_RECHECK_SECONDS = 15.0
MIN_RECHECK_SECONDS = 1.0
_MARKDOWN_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_AUTOLINK_TRIGGER = re.compile(r"://|@|www(?=\.)", re.IGNORECASE)
WORD_JOINER = "\u2060"
# Set once ``navigation`` has drawn the account panel for this session, so the
# page scripts' own ``require_login`` calls do not draw it a second time.
_PANEL_BY_NAVIGATION = "_auth_account_panel_by_navigation"


@dataclass(frozen=True)
class ProviderButton:
    name: str
    label: str
    icon: str | None = None


@dataclass(frozen=True)
class SignInUi:
    """What the Streamlit layer needs from the rest of the package, and nothing more."""

    #: the session cookie's value -> the signed-in user, or None
    check_session: Callable[[str | None], User | None]
    now: Callable[[], float]
    cookie_name: str
    base_path: str
    session_timeout: float
    providers: tuple[ProviderButton, ...]
    #: (provider, next path) -> the /auth/login link
    login_href: Callable[[str, str], str]
    logout_url: str


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


def current_user(ui: SignInUi) -> User | None:
    return ui.check_session(st.context.cookies.get(ui.cookie_name))


def require_login(ui: SignInUi, *, show_account: bool = True) -> User:
    cookie = st.context.cookies.get(ui.cookie_name)
    user = ui.check_session(cookie)
    if user is None:
        login_page(ui, ended=cookie is not None)
        st.stop()
    if show_account and not st.session_state.get(_PANEL_BY_NAVIGATION):
        with st.sidebar:
            account_panel(ui, user)
    return user


def require_access(ui: SignInUi, *, roles: Sequence[str] = (), groups: Sequence[str] = ()) -> User:
    user = require_login(ui)
    rule = PageRule(roles=tuple(roles), groups=tuple(groups))
    if not rule.admits(user):
        refusal(rule)
        st.stop()
    return user


def navigation(ui: SignInUi, rules: PageRules, pages: Sequence[StreamlitPage]) -> StreamlitPage:
    user = require_login(ui, show_account=False)
    st.session_state[_PANEL_BY_NAVIGATION] = True
    with st.sidebar:
        account_panel(ui, user)
    visible: list[StreamlitPage] = []
    for page in pages:
        rule = rules.rule_for(page)
        visible.append(page if rule is None or rule.admits(user) else _refusal_page(page, rule))
    return st.navigation(visible)


def refusal(rule: PageRule) -> None:
    st.error(f"You do not have access to this page. It needs {rule.describe()}.", icon=":material/block:")


def _refusal_page(page: StreamlitPage, rule: PageRule) -> StreamlitPage:
    """Stands in for a page the user may not open: same URL, hidden from the menu."""

    def refused() -> None:
        refusal(rule)

    return st.Page(refused, title=page.title, url_path=page.url_path, visibility="hidden")


def current_path(base_path: str) -> str:
    """The path and query the browser shows, to come back to after signing in."""
    url = st.context.url
    path = urlsplit(url).path if url else app_root(base_path)
    pairs = [(key, value) for key in st.query_params for value in st.query_params.get_all(key)]
    return safe_next_path(f"{path}?{urlencode(pairs)}" if pairs else path, base_path)


def login_page(ui: SignInUi, *, ended: bool = False) -> None:
    next_path = current_path(ui.base_path)
    st.title("Sign in")
    if ended:
        st.info("Your session has ended. Please sign in again.", icon=":material/schedule:")
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
        st.caption(f"After signing in you will return to {escape_markdown(next_path)}")


def escape_markdown(text: str) -> str:
    """``text`` to show literally in Streamlit's markdown (``st.markdown``, ``st.title``,
    ``st.caption``…): claims come from the provider, and a name such as
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
        st.caption(escape_markdown(user.email))
    st.fragment(_session_clock, run_every=timedelta(seconds=recheck_interval(ui.session_timeout)))(ui)
    st.markdown(
        f'<a href="{escape(ui.logout_url, quote=True)}" target="_self">Log out</a>',
        unsafe_allow_html=True,
    )


def _session_clock(ui: SignInUi) -> None:
    """Runs on a timer: switches an idle page to the login view soon after expiry."""
    user = current_user(ui)
    if user is None:
        st.rerun(scope="app")  # raises: the rest of this run does not happen
    st.caption(f"Session ends in {format_remaining(user.seconds_left(ui.now()))}")


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
