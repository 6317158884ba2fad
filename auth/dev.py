"""``python -m auth.dev``: run the demo app, with a local OpenID provider when none is configured.

DEVELOPMENT ONLY. When ``AUTH_PROVIDERS`` is set (environment or ``.env``)
this simply runs ``streamlit run app.py``. Otherwise it starts the
``oidc-provider-mock`` provider on 127.0.0.1 with two demo users and points
the app at it through environment variables, so a newcomer sees a real
sign-in at once. The app itself never falls back to this provider: without
configuration ``streamlit run app.py`` refuses to start.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .config import read_environment

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROVIDER_PORT = 9400
DEFAULT_APP_PORT = 8501
DEV_CLIENT_ID = "streamlit-dev"

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


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else any free port on 127.0.0.1."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def start_provider(port: int, users: tuple[dict[str, object], ...] = DEMO_USERS) -> subprocess.Popen[bytes]:
    """Start oidc-provider-mock and wait until its discovery document answers."""
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        command += ["--user-claims", json.dumps(user)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
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
    raise RuntimeError("the development provider did not start within 30 s")


def provider_environment(port: int) -> dict[str, str]:
    """Settings pointing the app at the local provider; fresh secrets on every start."""
    return {
        "AUTH_PROVIDERS": "dev",
        "AUTH_DEV_ISSUER": f"http://127.0.0.1:{port}",
        "AUTH_DEV_CLIENT_ID": DEV_CLIENT_ID,
        "AUTH_DEV_CLIENT_SECRET": secrets.token_urlsafe(24),
        "AUTH_DEV_LABEL": "the local development provider (development only)",
        "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
    }


def app_port(argv: list[str]) -> int | None:
    """The port given to ``streamlit run`` (``--server.port 8502`` or ``--server.port=8502``)."""
    for index, arg in enumerate(argv):
        if arg.startswith("--server.port="):
            return int(arg.split("=", 1)[1])
        if arg == "--server.port" and index + 1 < len(argv):
            return int(argv[index + 1])
    return None


def first_free_port(start: int, attempts: int = 20) -> int:
    """The first port from ``start`` on that nothing listens on (as Streamlit would pick)."""
    for port in range(start, start + attempts):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {start}-{start + attempts - 1}")


def main(argv: list[str]) -> int:
    """Always passes ``--server.port``: Streamlit then stops when the port is taken
    instead of moving to the next one while sign-in still points at the first."""
    env = dict(os.environ)
    dotenv_path = os.environ.get("AUTH_ENV_FILE", ROOT / ".env") or None
    configured = read_environment(dotenv_path)
    pinned = app_port(argv)
    if configured.get("AUTH_PROVIDERS"):
        # Real providers know one redirect URI: keep the port it names (default 8501).
        if pinned is None:
            argv = ["--server.port", str(DEFAULT_APP_PORT), *argv]
        return subprocess.call(_streamlit_command(argv), env=env)

    if pinned is None:
        pinned = first_free_port(DEFAULT_APP_PORT)
        argv = ["--server.port", str(pinned), *argv]
    port = free_port(DEFAULT_PROVIDER_PORT)
    provider = start_provider(port)
    env.update(provider_environment(port))
    env.setdefault("AUTH_PUBLIC_URL", f"http://localhost:{pinned}")
    command = _streamlit_command(argv)
    print(
        "\n  DEVELOPMENT ONLY: no AUTH_PROVIDERS configured, so a local OpenID provider\n"
        f"  runs at http://127.0.0.1:{port} with demo users 'alice' (admin) and 'bob'.\n"
        "  Configure a real provider in .env (see .env.example) to use it instead.\n",
        flush=True,
    )
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        provider.terminate()
        try:
            provider.wait(timeout=10)
        except subprocess.TimeoutExpired:
            provider.kill()


def _streamlit_command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), *argv]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
