"""Reading a real app's session cookie and session store in a test, as that app would.

The cookie's signature is salted with the app id (``auth.app_id``), which an app
without ``AUTH_APP_ID`` derives from its cookie name and public URL: a test that
verifies the cookie must know the same three things the app does.
"""

from __future__ import annotations

from pathlib import Path

from auth.app_id import derive_app_id
from auth.secret import Secret
from auth.session_cookie import SessionCookie
from auth.stores.sqlite import SqliteStore


def app_session_cookie(
    cookie_secret: str,
    *,
    public_url: str,
    cookie_name: str = "streamlit_auth",
    base_path: str = "",
    timeout: float = 8 * 3600,
) -> SessionCookie:
    """A ``SessionCookie`` that verifies what the app at ``public_url`` signs."""
    return SessionCookie(
        [Secret(cookie_secret)],
        name=cookie_name,
        timeout=timeout,
        app_id=derive_app_id(cookie_name, public_url, base_path),
    )


def app_sqlite_store(
    path: Path, *, public_url: str, cookie_name: str = "streamlit_auth", base_path: str = ""
) -> SqliteStore:
    """The app's SQLite store, seeing that app's sessions (its rows carry the app id)."""
    return SqliteStore(path, app=derive_app_id(cookie_name, public_url, base_path))
