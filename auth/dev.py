"""``python -m auth.dev [APP_SCRIPT] [streamlit args]``: run an app, with a local OpenID
provider when none is configured.

DEVELOPMENT ONLY. It works wherever the package is installed, not only in
this repository: the app script is the first argument (default ``app.py`` in
the current directory) and settings come from the environment over
``AUTH_ENV_FILE`` (default ``.env`` in the current directory), the same file
``Auth.from_environment()`` reads in the app. When ``AUTH_PROVIDERS`` is set
this simply runs ``streamlit run APP_SCRIPT``. Otherwise it starts a development
provider on 127.0.0.1 with two demo users and points the app at it through
environment variables, so a newcomer sees a real sign-in at once. The app itself
never falls back to this provider: without configuration ``streamlit run app.py``
refuses to start.

Which provider: in a source checkout of this repository (``scripts/run.sh``, or
an editable install) the repository's own ``devprovider`` package, found beside
``auth/``: the suite's test provider with a styled sign-in page, provider
sessions, end-session, back-channel logout to the app and refresh rotation. It
is not in the wheel, so an installed package runs ``oidc-provider-mock`` (the
``dev`` extra) instead: a plain form, no provider sessions, no back-channel
logout, but a real sign-in and logout.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

from .config import read_environment
from .dev_providers import (
    DEV_CLIENT_ID,
    DEV_PROVIDER_NAME,
    checkout_root,
    mock_provider_available,
    start_checkout_provider,
    start_mock_provider,
)

DEFAULT_APP_SCRIPT = "app.py"
DEFAULT_ENV_FILE = ".env"
DEV_EXTRA_INSTALL = "pip install 'streamlit-oidc-auth[dev]'"
USAGE = "usage: python -m auth.dev [APP_SCRIPT] [streamlit run options]"
DEFAULT_PROVIDER_PORT = 9400
DEFAULT_APP_PORT = 8501
DEV_LABEL = "the development provider"
#: The development provider's mark (a key on the red of its pages), for the app's sign-in button.
DEV_ICON = "data:image/svg+xml;base64," + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect width="24" height="24" rx="6" fill="#ff4b4b"/>'
    b'<g fill="none" stroke="#fff" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" '
    b'transform="translate(3.5 3.5) scale(.7)"><circle cx="8" cy="15" r="4"/><path d="M10.8 12.2 20 3"/>'
    b'<path d="m16 7 3 3"/><path d="m18.5 4.5 2 2"/></g></svg>'
).decode("ascii")


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else any free port on 127.0.0.1."""
    for port in (preferred, 0):
        if _bindable(port):
            return port if port else _any_free_port()
    raise OSError("no free port on 127.0.0.1")


def _bindable(port: int) -> bool:
    """Whether a server could listen on ``port`` now. Servers (uvicorn, Streamlit's, the
    development provider) set SO_REUSEADDR, so connections of a server that just stopped,
    still in TIME_WAIT, do not keep them off the port: nor may they keep this probe off."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _any_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider_environment(port: int, client_secret: str) -> dict[str, str]:
    """Settings pointing the app at the local provider (the secrets are fresh on every start)."""
    return {
        "AUTH_PROVIDERS": DEV_PROVIDER_NAME,
        "AUTH_DEV_ISSUER": f"http://127.0.0.1:{port}",
        "AUTH_DEV_CLIENT_ID": DEV_CLIENT_ID,
        "AUTH_DEV_CLIENT_SECRET": client_secret,
        "AUTH_DEV_LABEL": DEV_LABEL,
        "AUTH_DEV_ICON": DEV_ICON,
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
        if _bindable(port):
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

    root = checkout_root()
    if root is None and not mock_provider_available():
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
    public_url = configured.get("AUTH_PUBLIC_URL") or f"http://localhost:{pinned}"
    client_secret = secrets.token_urlsafe(24)
    if root is not None:
        provider = start_checkout_provider(root, port, public_url, client_secret)
    else:
        provider = start_mock_provider(port)
    env.update(provider_environment(port, client_secret))
    env["AUTH_PUBLIC_URL"] = public_url
    print(_banner(port, root is not None), flush=True)
    try:
        return _run_app(_streamlit_command(script, argv), env)
    finally:
        provider.terminate()
        try:
            provider.wait(timeout=10)
        except subprocess.TimeoutExpired:
            provider.kill()


def _run_app(command: list[str], env: dict[str, str]) -> int:
    """Run Streamlit until it exits; its status, or 130 after Ctrl+C.

    SIGTERM (a process manager, a closed terminal) is passed on to Streamlit, so the
    launcher lives until the app has stopped and then stops the provider in ``main``:
    without this the launcher died at once, and the provider and app ran on, orphaned.
    Ctrl+C reaches Streamlit by itself (same process group); it is given 10 s to stop."""
    app = subprocess.Popen(command, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        app.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return app.wait()
    except KeyboardInterrupt:
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _banner(port: int, from_checkout: bool) -> str:
    """What the terminal says about the development provider: that it is one, where, and who."""
    where = f"http://127.0.0.1:{port}"
    if from_checkout:
        which = (
            f"  Its sessions page, {where}/, signs a session out as a provider's admin would\n"
            "  (the app hears of it through back-channel logout).\n"
        )
    else:
        which = "  It is oidc-provider-mock (the dev extra): no provider sessions, no back-channel logout.\n"
    return (
        "\n  DEVELOPMENT ONLY: no AUTH_PROVIDERS configured, so a local OpenID provider\n"
        f"  runs at {where} with demo users 'alice' (admin) and 'bob'.\n"
        f"{which}"
        "  Configure a real provider to use it instead: python -m auth init --provider NAME\n"
        "  (python -m auth init --example writes .env.example, every setting explained).\n"
    )


def _streamlit_command(script: Path, argv: list[str]) -> list[str]:
    """``streamlit run`` under this interpreter, so the app sees the same installed packages."""
    return [sys.executable, "-m", "streamlit", "run", str(script), *argv]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
