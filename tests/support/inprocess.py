"""The app's routes served in-process (Starlette's ``TestClient``) against real providers.

Fast enough for many cases per test, yet every provider call is real HTTP to a
``LocalProvider`` on 127.0.0.1; only the app's own server is replaced by the
test client.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from auth import Auth, load_settings
from devprovider import LocalProvider
from tests.support.http_flow import SIGN_OUT_BUTTON

PUBLIC_URL = "http://localhost:8501"


def provider_env(name: str, provider: LocalProvider) -> dict[str, str]:
    prefix = f"AUTH_{name.upper()}_"
    return {
        f"{prefix}ISSUER": provider.issuer,
        f"{prefix}CLIENT_ID": provider.client_id,
        f"{prefix}CLIENT_SECRET": provider.client_secret,
    }


def build_auth(providers: Mapping[str, LocalProvider], **settings: str) -> Auth:
    """An ``Auth`` for these providers (name -> provider) with test-friendly settings."""
    env = {
        "AUTH_PROVIDERS": ",".join(providers),
        "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
        "AUTH_PUBLIC_URL": PUBLIC_URL,
        "AUTH_HTTP_TIMEOUT": "5s",
        "AUTH_STORE": "memory://",
    }
    for name, provider in providers.items():
        env.update(provider_env(name, provider))
    env.update(settings)
    return Auth(load_settings(env))


def client_for(auth: Auth, base_url: str = PUBLIC_URL, address: str = "198.51.100.7") -> TestClient:
    """A browser at ``address`` (for the rate limit), not following redirects."""
    return TestClient(Starlette(routes=auth.routes), base_url=base_url, follow_redirects=False, client=(address, 50000))


def sign_out(client: TestClient, *, everywhere: bool = False, base_path: str = "") -> httpx.Response:
    """What the account panel's "Log out" (or "Sign out everywhere") button sends: a
    same-origin form POST, with the Fetch Metadata headers a browser adds."""
    origin = f"{client.base_url.scheme}://{client.base_url.netloc.decode()}"
    return client.post(
        f"{base_path}/auth/logout",
        params={"everywhere": "1"} if everywhere else None,
        headers={"Origin": origin, **SIGN_OUT_BUTTON},
    )


def query(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def session_cookies(set_cookie_headers: list[str], name: str) -> list[str]:
    """Set-Cookie headers that set ``name`` to a non-empty value."""
    return [
        h
        for h in set_cookie_headers
        if h.startswith(f"{name}=") and not h.startswith(f"{name}=;") and not h.startswith(f'{name}="";')
    ]
