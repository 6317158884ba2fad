"""The browser's part of the code flow, driven over plain HTTP with ``requests``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

#: the Fetch Metadata of the user's own same-origin click: a link of the app, or a form button
SIGN_OUT_BUTTON = {
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-User": "?1",
}


def sign_out(browser: requests.Session, app_url: str, *, everywhere: bool = False) -> requests.Response:
    """Press the account panel's "Log out" (or "Sign out everywhere") button."""
    parts = urlsplit(app_url)
    return browser.post(
        f"{app_url}/auth/logout",
        params={"everywhere": "1"} if everywhere else None,
        headers={"Origin": f"{parts.scheme}://{parts.netloc}", **SIGN_OUT_BUTTON},
        allow_redirects=False,
        timeout=10,
    )


def query(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def start_login(
    browser: requests.Session, app_url: str, provider: str, next_path: str | None = "/"
) -> requests.Response:
    params = {"provider": provider}
    if next_path is not None:
        params["next"] = next_path
    return browser.get(f"{app_url}/auth/login", params=params, allow_redirects=False, timeout=10)


def callback_from_local(browser: requests.Session, app_url: str, user: str = "alice", next_path: str = "/") -> str:
    """Log in at the local provider with ``login_hint``; return the callback URL it sends us to."""
    login = start_login(browser, app_url, "local", next_path)
    assert login.status_code == 302, login.text
    approved = browser.get(login.headers["location"] + f"&login_hint={user}", allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    return approved.headers["location"]


def callback_from_mock(
    browser: requests.Session, app_url: str, user: str = "alice", next_path: str = "/", action: str | None = None
) -> str:
    """Pick a predefined user on oidc-provider-mock's authorize form (or press Deny)."""
    login = start_login(browser, app_url, "mock", next_path)
    assert login.status_code == 302, login.text
    form = {"action": action} if action else {"sub": user}
    approved = browser.post(login.headers["location"], data=form, allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    return approved.headers["location"]


def same_origin_callback(callback_url: str, app_url: str) -> str:
    """The callback URL as the app serves it (its host may be the public URL's)."""
    parts = urlsplit(callback_url)
    return f"{app_url}{parts.path.removeprefix(urlsplit(app_url).path)}?{parts.query}"
