"""A real Keycloak for the tests: the pinned distribution, the repository's realm, loopback only.

``KeycloakServer`` runs ``scripts/keycloak.sh`` (the same fetch, Java choice, realm import and
start as local development) on free ports bound to 127.0.0.1, with its own unpacked copy in
``.cache/keycloak/tests`` so a developer's Keycloak (``.cache/keycloak/dev``) can run beside
it. The realm is ``docker/keycloak/streamlit-realm.json`` as it is, except the app client's
URLs, which ``scripts/keycloak_realm.realm_for_app`` moves to the test app's port: a broken
realm file breaks these tests. The database lives in memory, so every run starts from the file.

``KeycloakAdmin`` is a small client of Keycloak's admin REST API (users, their sessions,
logout, disabling, realm settings) with the bootstrap admin of the master realm, so tests change
Keycloak the way an administrator would instead of editing the realm file. ``sign_in`` drives
Keycloak's own login form over HTTP as a browser would.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from dotenv import dotenv_values
from requests.cookies import RequestsCookieJar

from scripts.keycloak_realm import CLIENT_ID, load_realm
from tests.support.app_process import ROOT, free_port, stop_process_group, wait_until

SCRIPT = ROOT / "scripts" / "keycloak.sh"
#: the tests' own unpacked server (scripts/keycloak.sh --install-dir)
INSTALL_DIR = ROOT / ".cache" / "keycloak" / "tests"
#: the app's settings against Keycloak without Docker; the tests move only its two URLs
APP_ENV_FILE = ROOT / "scripts" / "keycloak-app.env"
REALM = str(load_realm()["realm"])
#: the bootstrap admin of the master realm (scripts/keycloak.sh, as in docker/compose.yml)
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
#: generous: on the 2-core machine the first start of an unpacked copy builds it (8 s, 26 s while
#: other work loads the cores), the server then starts in 14-40 s; a cold ~/.m2 adds the download
START_DEADLINE = 300.0
HTTP_TIMEOUT = 10
#: how Python's cookie jar names the loopback hosts (a dotless host gets ".local")
LOOPBACK_COOKIE_DOMAINS = ("localhost.local", "localhost", "127.0.0.1")


def demo_password(username: str) -> str:
    """The password the realm file gives a demo user (alice, bob, carol)."""
    for user in load_realm()["users"]:
        if user["username"] == username:
            return str(next(c["value"] for c in user["credentials"] if c["type"] == "password"))
    raise KeyError(username)


@dataclass
class KeycloakServer:
    """``scripts/keycloak.sh`` on free ports, its realm expecting an app at ``app_port``."""

    app_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Keycloak's base URL: ``--hostname``, so every issuer and endpoint is on it."""
        return f"http://localhost:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/health/ready"

    @property
    def app_url(self) -> str:
        """Where the realm's redirect and post-logout URIs send the browser."""
        return f"http://localhost:{self.app_port}"

    @property
    def backchannel_app_url(self) -> str:
        """Where Keycloak POSTs logout tokens: the app listens on 127.0.0.1 only."""
        return f"http://127.0.0.1:{self.app_port}"

    def command(self) -> list[str]:
        return [
            "bash",
            str(SCRIPT),
            "--install-dir",
            str(INSTALL_DIR),
            "--port",
            str(self.port),
            "--management-port",
            str(self.management_port),
            "--app-url",
            self.app_url,
            "--backchannel-app-url",
            self.backchannel_app_url,
        ]

    def start(self, deadline: float = START_DEADLINE) -> KeycloakServer:
        self._log = tempfile.NamedTemporaryFile(prefix="keycloak-", suffix=".log", delete=False)  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "KEYCLOAK_"))}
        env["KEYCLOAK_START_TIMEOUT"] = str(int(deadline))
        # Its own session: stop() ends the script, kc.sh and the JVMs as one process group.
        self._process = subprocess.Popen(
            self.command(), cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(self._ready, deadline, f"Keycloak's {self.ready_url} (log: {self._log.name})", interval=0.5)
        return self

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"scripts/keycloak.sh exited with {self._process.returncode}:\n{self.output()[-5000:]}")
        try:
            return requests.get(self.ready_url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def output(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace") if self._log else ""

    def stop(self) -> None:
        """SIGTERM to the whole process group (Keycloak shuts down cleanly), SIGKILL after 15 s."""
        stop_process_group(self._process)
        if self._log is not None:
            Path(self._log.name).unlink(missing_ok=True)

    def admin(self) -> KeycloakAdmin:
        return KeycloakAdmin(self.url, REALM)

    def app_environment(self, cookie_secret: str, **overrides: str) -> dict[str, str]:
        """``scripts/keycloak-app.env`` as ``scripts/run.sh --keycloak`` uses it, with Keycloak's
        URL and the app's public URL moved to this run's ports, and a cookie secret of the test's."""
        env = {key: value for key, value in dotenv_values(APP_ENV_FILE).items() if value is not None}
        env.pop("AUTH_COOKIE_SECRET_FILE")
        env.update(
            AUTH_KEYCLOAK_URL=self.url,
            AUTH_PUBLIC_URL=self.app_url,
            AUTH_COOKIE_SECRET=cookie_secret,
            AUTH_HTTP_TIMEOUT="5s",
            **overrides,
        )
        return env


class KeycloakAdmin:
    """Keycloak's admin REST API as the master realm's bootstrap admin.

    The token comes from the master realm's password grant with ``admin-cli`` (Keycloak's
    "Admin REST API" guide); it lives one minute, so one is fetched per call."""

    def __init__(self, url: str, realm: str) -> None:
        self.url = url
        self.realm = realm

    def token(self) -> str:
        response = requests.post(
            f"{self.url}/realms/master/protocol/openid-connect/token",
            data={
                "client_id": "admin-cli",
                "username": ADMIN_USER,
                "password": ADMIN_PASSWORD,
                "grant_type": "password",
            },
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(
            method,
            f"{self.url}/admin/realms/{self.realm}{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=HTTP_TIMEOUT,
            **kwargs,
        )
        response.raise_for_status()
        return response

    def user(self, username: str) -> dict[str, Any]:
        found = self.request("GET", "/users", params={"username": username, "exact": "true"}).json()
        if len(found) != 1:
            raise LookupError(f"{len(found)} users named {username!r} in realm {self.realm!r}")
        user: dict[str, Any] = found[0]
        return user

    def user_sessions(self, user_id: str) -> list[dict[str, Any]]:
        """The user's online sessions; each ``id`` is the ``sid`` of the tokens issued in it."""
        sessions: list[dict[str, Any]] = self.request("GET", f"/users/{user_id}/sessions").json()
        return sessions

    def offline_sessions(self, user_id: str, client_id: str = CLIENT_ID) -> list[dict[str, Any]]:
        """The user's offline sessions with the client (from the ``offline_access`` scope)."""
        client_uuid = self.client(client_id)["id"]
        sessions: list[dict[str, Any]] = self.request("GET", f"/users/{user_id}/offline-sessions/{client_uuid}").json()
        return sessions

    def revoke_offline_access(self, user_id: str, client_id: str = CLIENT_ID) -> None:
        """Revoke the user's grant to the client, offline tokens included (they survive a logout);
        a user without one is left as is (Keycloak answers 404)."""
        try:
            self.request("DELETE", f"/users/{user_id}/consents/{client_id}")
        except requests.HTTPError as error:
            if error.response is None or error.response.status_code != 404:
                raise

    def logout_user(self, user_id: str) -> None:
        """End every online session of the user; Keycloak sends back-channel logout tokens."""
        self.request("POST", f"/users/{user_id}/logout")

    def set_user_enabled(self, user_id: str, enabled: bool) -> None:
        """Disable (or enable) a user: the full representation is read, changed and written."""
        user = self.request("GET", f"/users/{user_id}").json()
        user["enabled"] = enabled
        self.request("PUT", f"/users/{user_id}", json=user)

    def realm_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.request("GET", "").json()
        return settings

    def update_realm(self, settings: Mapping[str, Any]) -> None:
        """Change realm settings, e.g. ``{"accessTokenLifespan": 10}``: fields not sent stay."""
        self.request("PUT", "", json=dict(settings))

    def client(self, client_id: str = CLIENT_ID) -> dict[str, Any]:
        found = self.request("GET", "/clients", params={"clientId": client_id}).json()
        if len(found) != 1:
            raise LookupError(f"{len(found)} clients {client_id!r} in realm {self.realm!r}")
        client: dict[str, Any] = found[0]
        return client


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
