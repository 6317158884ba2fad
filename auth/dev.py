"""``python -m auth.dev [APP_SCRIPT] [streamlit args]``: run an app, with a local OpenID
provider when none is configured.

DEVELOPMENT ONLY. It works wherever the package is installed, not only in
this repository: the app script is the first argument (default ``app.py`` in
the current directory) and settings come from the environment over
``AUTH_ENV_FILE`` (default ``.env`` in the current directory), the same file
``Auth.from_environment()`` reads in the app. When ``AUTH_PROVIDERS`` is set
this simply runs ``streamlit run APP_SCRIPT``. Otherwise it starts the
``oidc-provider-mock`` provider (the ``dev`` extra) on 127.0.0.1 with two demo
users and points the app at it through environment variables, so a newcomer
sees a real sign-in at once. The app itself never falls back to this
provider: without configuration ``streamlit run app.py`` refuses to start.
"""

from __future__ import annotations

import importlib.util
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

DEFAULT_APP_SCRIPT = "app.py"
DEFAULT_ENV_FILE = ".env"
DEV_EXTRA_INSTALL = "pip install 'streamlit-oidc-auth[dev]'"
USAGE = "usage: python -m auth.dev [APP_SCRIPT] [streamlit run options]"
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


class UsageError(Exception):
    """A command line the launcher cannot run; the message says how to fix it."""


def split_app_script(argv: list[str], cwd: Path | None = None) -> tuple[Path, list[str]]:
    """The app script and the arguments left for ``streamlit run``.

    Like ``streamlit run``, the script comes first; anything starting with
    ``-`` there means "no script given", so ``app.py`` in the working directory
    is used (which is what an installed package's user has, instead of this
    repository's layout). A missing script is reported here rather than by
    Streamlit, after the development provider has already been started.
    """
    base = cwd or Path.cwd()
    if argv and not argv[0].startswith("-"):
        script, rest = Path(argv[0]), argv[1:]
        where = str(script)
    else:
        script, rest = base / DEFAULT_APP_SCRIPT, argv
        where = f"{DEFAULT_APP_SCRIPT} in the current directory ({base})"
    if not (base / script).is_file():
        raise UsageError(
            f"auth.dev: no app script: {where} does not exist.\n"
            f"{USAGE}\n"
            "Pass the script that creates the st.App, e.g. python -m auth.dev path/to/app.py --server.port 8502"
        )
    return script, rest


def dev_provider_available() -> bool:
    """Whether the ``dev`` extra (``oidc-provider-mock``) is installed.

    It is optional for an installed package, so its absence must be a clear
    instruction, not a provider subprocess dying with ``No module named``."""
    return importlib.util.find_spec("oidc_provider_mock") is not None


def main(argv: list[str]) -> int:
    """Always passes ``--server.port``: Streamlit then stops when the port is taken
    instead of moving to the next one while sign-in still points at the first.

    Returns Streamlit's exit status, or 2 for a usage problem (no app script, the
    ``dev`` extra missing) so scripts can tell those from an app failure."""
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{USAGE}\n\n{__doc__ or ''}")
        return 0
    try:
        script, argv = split_app_script(argv)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    env = dict(os.environ)
    dotenv_path = os.environ.get("AUTH_ENV_FILE", DEFAULT_ENV_FILE) or None
    configured = read_environment(dotenv_path)
    pinned = app_port(argv)
    if configured.get("AUTH_PROVIDERS"):
        # Real providers know one redirect URI: keep the port it names (default 8501).
        if pinned is None:
            argv = ["--server.port", str(DEFAULT_APP_PORT), *argv]
        return subprocess.call(_streamlit_command(script, argv), env=env)

    if not dev_provider_available():
        print(
            "auth.dev: AUTH_PROVIDERS is not configured (environment or "
            f"{dotenv_path or 'no settings file'}), and the local development provider is not installed.\n"
            f"Install it with: {DEV_EXTRA_INSTALL}\n"
            "or configure a real provider (AUTH_PROVIDERS and its settings, see the README).",
            file=sys.stderr,
        )
        return 2
    if pinned is None:
        pinned = first_free_port(DEFAULT_APP_PORT)
        argv = ["--server.port", str(pinned), *argv]
    port = free_port(DEFAULT_PROVIDER_PORT)
    provider = start_provider(port)
    env.update(provider_environment(port))
    env.setdefault("AUTH_PUBLIC_URL", f"http://localhost:{pinned}")
    command = _streamlit_command(script, argv)
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


def _streamlit_command(script: Path, argv: list[str]) -> list[str]:
    """``streamlit run`` under this interpreter, so the app sees the same installed packages."""
    return [sys.executable, "-m", "streamlit", "run", str(script), *argv]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
