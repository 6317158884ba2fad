"""A minimal app that is not the demo, and a way to run it from its own directory.

Why not ``tests.support.app_process.AppProcess``: that runs the repository's ``app.py``
with the repository as working directory and this virtualenv's Python. These tests need
the opposite: someone else's two-file app in a directory of its own, started by another
interpreter (a fresh virtualenv) or another launcher (``python -m auth.dev``), so that
nothing from the repository's layout can help it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support.app_process import stop_process_group, wait_until

APP_SCRIPT = """\
import streamlit as st
from auth import Auth

auth = Auth.from_environment_or_exit()
app = st.App("page.py", routes=auth.routes)
"""

PAGE_SCRIPT = """\
import streamlit as st
from app import auth

auth.require_login()
st.write("Signed in to someone else's app.")
"""

#: The session cookie's default name on plain http (``__Host-`` only applies on https).
SESSION_COOKIE = "streamlit_auth"

#: Variables that would let a subprocess see the repository or a developer's settings
#: instead of what it was given: a ``PYTHONPATH`` onto the source tree, the active
#: virtualenv, real ``AUTH_*`` settings.
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def write_minimal_app(directory: Path) -> Path:
    """``app.py`` and ``page.py`` as a user of the package would write them; returns ``app.py``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "page.py").write_text(PAGE_SCRIPT, encoding="utf-8")
    app = directory / "app.py"
    app.write_text(APP_SCRIPT, encoding="utf-8")
    return app


def outside_environment(settings: Mapping[str, str], *, keep_coverage: bool) -> dict[str, str]:
    """This process's environment without ``AUTH_*`` settings or paths into the repository,
    plus ``settings``. ``keep_coverage`` passes scripts/test.sh's coverage switch on (this
    virtualenv has coverage; a fresh one has not, and pip need not be measured)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AUTH_")
        and name not in _LEAKY_VARIABLES
        and (keep_coverage or not name.startswith("COVERAGE_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def query(url: str) -> dict[str, str]:
    """A URL's query parameters (last value wins)."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


class ServedApp:
    """A command serving an app on 127.0.0.1, in its own process group and directory.

    Its own session, so ``stop()`` reaches whatever it started (``python -m auth.dev``
    starts a provider and Streamlit) with one SIGTERM; output goes to a file that failure
    messages quote.
    """

    def __init__(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], port: int) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env)
        self.port = port
        self._log = tempfile.NamedTemporaryFile(prefix="outside-app-", suffix=".log", delete=False)  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The public URL, as a browser (and ``AUTH_PUBLIC_URL``) names it."""
        return f"http://localhost:{self.port}"

    def output(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def start(self, timeout: float = 90) -> ServedApp:
        """Start and wait for Streamlit's health endpoint (generous: a fresh virtualenv
        compiles every module it imports on first use)."""
        self._process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def healthy() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self._process.returncode}:\n{self.output()}")
            try:
                return requests.get(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2).text == "ok"
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, f"the health endpoint of {self.command}")
        return self

    def stop(self) -> None:
        """SIGTERM to the whole group, as the other app tests do (coverage saves on it);
        then SIGKILL to whatever is left of the group after its leader has exited (what a
        launcher that failed to stop its children would leave behind)."""
        stop_process_group(self._process)
        if self._process is not None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:  # the whole group has exited: the usual case
                pass

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl+C in a terminal: SIGINT to the whole foreground group; the exit status."""
        assert self._process is not None and self._process.poll() is None, "not running"
        os.killpg(self._process.pid, signal.SIGINT)
        return self._process.wait(timeout=timeout)

    def terminate_launcher(self, timeout: float = 30) -> int:
        """SIGTERM to the launched process alone, not its group; its exit status."""
        assert self._process is not None and self._process.poll() is None, "not running"
        self._process.terminate()
        return self._process.wait(timeout=timeout)

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        Path(self._log.name).unlink(missing_ok=True)
