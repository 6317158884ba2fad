"""Sign-in through Keycloak's own login form, over HTTP, as a browser goes through it."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookiejar import Cookie
from typing import Any
from urllib.parse import urljoin

import requests
from requests.cookies import RequestsCookieJar

from scripts.keycloak_realm import load_realm

HTTP_TIMEOUT = 10
#: how Python's cookie jar names the loopback hosts (a dotless host gets ".local")
LOOPBACK_COOKIE_DOMAINS = ("localhost.local", "localhost", "127.0.0.1")


def demo_password(username: str) -> str:
    """The password the realm file gives a demo user (alice, bob, carol)."""
    for user in load_realm()["users"]:
        if user["username"] == username:
            return str(next(c["value"] for c in user["credentials"] if c["type"] == "password"))
    raise KeyError(username)


class LoopbackCookieJar(RequestsCookieJar):
    """A cookie jar that sends ``Secure`` cookies of loopback hosts over plain http, as browsers do.

    Keycloak marks its login cookies (``AUTH_SESSION_ID``, ``KC_RESTART``, the SSO cookie)
    ``Secure`` even over http. Browsers treat loopback origins as secure contexts (W3C Secure
    Contexts §3.1, "potentially trustworthy" origins) and send such cookies back; Python's
    cookie jar sends them over https only, and Keycloak then refuses its own login form
    ("Restart login cookie not found"). requests copies the session's cookies into a fresh jar
    for every request, so the flag is dropped when a cookie is stored, for loopback hosts only."""

    def set_cookie(self, cookie: Cookie, *args: Any, **kwargs: Any) -> None:
        if cookie.secure and cookie.domain in LOOPBACK_COOKIE_DOMAINS:
            cookie.secure = False
        super().set_cookie(cookie, *args, **kwargs)


def browser_session() -> requests.Session:
    """A cookie-keeping HTTP client standing in for one browser on this machine."""
    session = requests.Session()
    session.cookies = LoopbackCookieJar()
    return session


class _LoginForm(HTMLParser):
    """The action and fields of Keycloak's login form (``<form id="kc-form-login">``)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == "kc-form-login":
            self.action, self._inside = attributes.get("action"), True
        elif tag == "input" and self._inside and attributes.get("name"):
            self.fields[str(attributes["name"])] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def login_form(page: requests.Response) -> tuple[str, dict[str, str]]:
    """The absolute URL the login form posts to, and its fields with their values."""
    parser = _LoginForm()
    parser.feed(page.text)
    if parser.action is None:
        raise AssertionError(f"no Keycloak login form at {page.url} (HTTP {page.status_code})")
    return urljoin(page.url, parser.action), parser.fields


@dataclass(frozen=True)
class SignIn:
    #: where Keycloak sent the browser back: the app's callback with code, state, session_state, iss
    callback_url: str
    #: the app's answer to it (a redirect into the app with the session cookie, or a refusal page)
    response: requests.Response


def sign_in(browser: requests.Session, app_url: str, username: str, next_path: str = "/") -> SignIn:
    """The code flow through Keycloak's own login form, as a browser goes through it.

    The app's ``/auth/login`` redirects to Keycloak; its login page is fetched, the form is
    filled in with the realm file's password for ``username`` and posted; Keycloak redirects
    to the app's callback, which is requested without following its answer."""
    login = browser.get(
        f"{app_url}/auth/login",
        params={"provider": "keycloak", "next": next_path},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    if login.status_code != 302:
        raise AssertionError(f"/auth/login answered {login.status_code}: {login.text[:500]}")
    page = browser.get(login.headers["location"], timeout=HTTP_TIMEOUT)
    action, fields = login_form(page)
    fields.update(username=username, password=demo_password(username))
    posted = browser.post(action, data=fields, allow_redirects=False, timeout=HTTP_TIMEOUT)
    if posted.status_code != 302:
        raise AssertionError(f"Keycloak's login form answered {posted.status_code}: {posted.text[:500]}")
    callback_url = posted.headers["location"]
    return SignIn(callback_url, browser.get(callback_url, allow_redirects=False, timeout=HTTP_TIMEOUT))
