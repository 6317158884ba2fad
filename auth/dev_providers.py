"""The two development providers ``python -m auth.dev`` can start, and the demo users of both.

DEVELOPMENT ONLY. In a source checkout the launcher runs the repository's ``devprovider``
package (``python -m devprovider``: provider sessions, end-session, back-channel logout,
refresh rotation, a styled sign-in page); it is not in the wheel, so an installed package
runs ``oidc-provider-mock`` (the ``dev`` extra) instead. Both bind to 127.0.0.1 only and get
the same two users.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

DEV_CLIENT_ID = "streamlit-dev"
#: The provider's name in the app's settings (``AUTH_DEV_*``) and callback path.
DEV_PROVIDER_NAME = "dev"
#: How long a starting provider may take to answer discovery.
START_TIMEOUT = 30.0

DEMO_USERS = (
    {
        "sub": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice Admin",
        "preferred_username": "alice",
        "roles": ["admin", "user"],
        "groups": ["admins"],
    },
    {
        "sub": "bob",
        "email": "bob@example.com",
        "email_verified": True,
        "name": "Bob User",
        "preferred_username": "bob",
        "roles": ["user"],
        "groups": ["analysts"],
    },
)


def checkout_root() -> Path | None:
    """The source checkout ``auth`` was imported from, when it holds ``devprovider/``.

    From a wheel ``auth`` sits in site-packages, which has no ``devprovider``: ``None``."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "devprovider" / "__main__.py").is_file() else None


def start_checkout_provider(
    root: Path, port: int, public_url: str, client_secret: str, users: tuple[dict[str, object], ...] = DEMO_USERS
) -> subprocess.Popen[bytes]:
    """Start the repository's ``python -m devprovider`` for the app at ``public_url`` and
    wait until its discovery document answers.

    The app's URLs are registered exactly as the README tells users to register them at a
    real provider, and its back-channel logout endpoint is where the provider reports the
    sessions that end there. The client secret goes through the environment, not ``ps``."""
    base = public_url.rstrip("/")
    command = [
        sys.executable,
        "-m",
        "devprovider",
        "--port",
        str(port),
        "--client-id",
        DEV_CLIENT_ID,
        "--redirect-uri",
        f"{base}/auth/callback/{DEV_PROVIDER_NAME}",
        "--post-logout-redirect-uri",
        f"{base}/",
        "--backchannel-logout-uri",
        f"{base}/auth/backchannel-logout",
    ]
    for user in users:
        command += ["--user", json.dumps(user)]
    env = {**os.environ, "DEVPROVIDER_CLIENT_SECRET": client_secret}
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL)
    return _wait_for_discovery(process, port)


def start_mock_provider(port: int, users: tuple[dict[str, object], ...] = DEMO_USERS) -> subprocess.Popen[bytes]:
    """Start oidc-provider-mock (the ``dev`` extra) and wait until its discovery document answers."""
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        command += ["--user-claims", json.dumps(user)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _wait_for_discovery(process, port)


def _wait_for_discovery(process: subprocess.Popen[bytes], port: int) -> subprocess.Popen[bytes]:
    """``process`` once its discovery document answers; an exit or ``START_TIMEOUT`` raises."""
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the development provider exited with status {process.returncode}")
        try:
            if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.1)  # readiness poll of a starting subprocess
    process.kill()
    raise RuntimeError(f"the development provider did not start within {START_TIMEOUT:.0f} s")


def mock_provider_available() -> bool:
    """Whether the ``dev`` extra (``oidc-provider-mock``) is installed.

    It is optional for an installed package, so its absence must be a clear
    instruction, not a provider subprocess dying with ``No module named``."""
    return importlib.util.find_spec("oidc_provider_mock") is not None
