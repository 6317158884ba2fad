"""Runs the real demo app (``streamlit run app.py``) as a subprocess on 127.0.0.1.

Integration and browser tests talk to it over HTTP exactly as a browser
would. Its output goes to a file so tests can assert on the log lines (and
on what must never appear in them). When ``scripts/test.sh`` measures coverage,
the app measures ``auth/`` too (see ``COVERAGE_VARIABLES``).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import requests

from auth.dev_providers import start_mock_provider
from devprovider import LocalProvider

ROOT = Path(__file__).resolve().parents[2]
_LOCAL_URL = re.compile(r"URL: http://[^:\s/]+:(\d+)")
#: Coverage's subprocess switch and data file, set by scripts/test.sh: passed on explicitly so the
#: real app's lines count in the coverage report whatever environment a test gives it (coverage's
#: ``sigterm`` setting saves its data when ``stop()`` sends SIGTERM).
COVERAGE_VARIABLES = ("COVERAGE_PROCESS_START", "COVERAGE_FILE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until true; a readiness wait, never used as a timed assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def streamlit_options(port: int) -> list[str]:
    """Loopback only, no browser, no telemetry, no file watcher: a test server."""
    return [
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def stop_process_group(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to the process and its children (coverage saves its data on it); SIGKILL after 15 s."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


#: the whole output of every app process this test run started, for the log scan of tests/conftest.py
APP_OUTPUTS: list[str] = []


class AppProcess:
    """``streamlit run app.py`` with the given environment, ignoring any developer ``.env``."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        base_path: str = "",
        pin_port: bool = True,
        script: Path | None = None,
    ) -> None:
        """``pin_port=False`` leaves the port to Streamlit (8501, or the next free one);
        ``port`` is then read from its "Local URL" line once it has started. ``script`` runs
        another app than the demo (one of ``tests/apps``), from its own directory."""
        self.script = script or ROOT / "app.py"
        self.port = port or free_port()
        self.pin_port = pin_port
        self.base_path = base_path
        self.env = dict(env)
        self._log = tempfile.NamedTemporaryFile(prefix="app-", suffix=".log", delete=False)  # noqa: SIM115
        # The default store (SQLite), in a folder of this process's own unless the test names a store.
        self._store_dir = tempfile.TemporaryDirectory(prefix="app-store-")
        self._process: subprocess.Popen[bytes] | None = None
        self._recorded = False

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}{self.base_path}"

    @property
    def store_path(self) -> Path:
        """The SQLite session store this app uses unless its environment names another."""
        return Path(self._store_dir.name) / "sessions.db"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "streamlit", "run", str(self.script), *streamlit_options(self.port)]
        if self.base_path:
            command += ["--server.baseUrlPath", self.base_path.strip("/")]
        if not self.pin_port:
            index = command.index("--server.port")
            del command[index : index + 2]
        return command

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
        env.update({"AUTH_ENV_FILE": "", "PYTHONUNBUFFERED": "1"})
        env["AUTH_STORE"] = f"sqlite:///{self.store_path}"
        env.update(self.env)
        env.update({name: os.environ[name] for name in COVERAGE_VARIABLES if name in os.environ})
        return env

    def start(self, timeout: float = 60) -> AppProcess:
        self._process = subprocess.Popen(
            self.command(),
            cwd=self.script.parent,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        if not self.pin_port:
            wait_until(
                lambda: self._exited() or _LOCAL_URL.search(self.output()) is not None,
                timeout,
                "Streamlit's Local URL line",
            )
            match = _LOCAL_URL.search(self.output())
            if match is None:
                raise RuntimeError(f"app exited:\n{self.output()}")
            self.port = int(match.group(1))

        def healthy() -> bool:
            if self._exited():
                raise RuntimeError(f"app exited with {self._process.returncode}:\n{self.output()}")  # type: ignore[union-attr]
            try:
                return requests.get(f"http://127.0.0.1:{self.port}{self.base_path}/_stcore/health", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, "the app's health endpoint")
        return self

    def _exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def output(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        stop_process_group(self._process)
        if self._process is not None and not self._recorded:
            self._recorded = True
            APP_OUTPUTS.append(self.output())

    def __enter__(self) -> AppProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        Path(self._log.name).unlink(missing_ok=True)
        self._store_dir.cleanup()


def local_app(
    provider: LocalProvider,
    *,
    client_id: str,
    client_secret: str,
    label: str = "Local provider",
    script: Path | None = None,
    **overrides: str,
) -> AppProcess:
    """The demo app (or ``script``) signing in at one ``LocalProvider`` as provider ``local``,
    with a fresh cookie secret and its public URL on its own port; ``overrides`` win."""
    process = AppProcess({}, script=script)
    process.env = {
        "AUTH_PROVIDERS": "local",
        "AUTH_LOCAL_ISSUER": provider.issuer,
        "AUTH_LOCAL_CLIENT_ID": client_id,
        "AUTH_LOCAL_CLIENT_SECRET": client_secret,
        "AUTH_LOCAL_LABEL": label,
        "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
        "AUTH_PUBLIC_URL": f"http://localhost:{process.port}",
        **overrides,
    }
    return process


class MockProviderProcess:
    """The independent ``oidc-provider-mock`` package with the demo users, as a subprocess:
    the same development provider ``python -m auth.dev`` runs, and a provider we did not write."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MockProviderProcess:
        self._process = start_mock_provider(self.port)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def __enter__(self) -> MockProviderProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
