"""A real Keycloak for the tests: the pinned distribution, the repository's realm, loopback only.

``KeycloakServer`` runs ``scripts/keycloak.sh`` (the same fetch, Java choice, realm import and
start as local development) on free ports bound to 127.0.0.1, with its own unpacked copy in
``.cache/keycloak/tests`` so a developer's Keycloak (``.cache/keycloak/dev``) can run beside
it. The realm is ``docker/keycloak/streamlit-realm.json`` as it is, except the app client's
URLs, which ``scripts/keycloak_realm.realm_for_app`` moves to the test app's port: a broken
realm file breaks these tests. The database lives in memory, so every run starts from the file.

Beside it: ``keycloak_admin`` (Keycloak's admin REST API, to change the running server as an
administrator would) and ``keycloak_login`` (its login form, driven over HTTP).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from dotenv import dotenv_values

from scripts.keycloak_realm import load_realm
from tests.support.app_process import ROOT, free_port, stop_process_group, wait_until
from tests.support.keycloak_admin import KeycloakAdmin

SCRIPT = ROOT / "scripts" / "keycloak.sh"
#: the tests' own unpacked server (scripts/keycloak.sh --install-dir)
INSTALL_DIR = ROOT / ".cache" / "keycloak" / "tests"
#: the app's settings against Keycloak without Docker; the tests move only its two URLs
APP_ENV_FILE = ROOT / "scripts" / "keycloak-app.env"
REALM = str(load_realm()["realm"])
#: generous: on the 2-core machine the first start of an unpacked copy builds it (8 s, 26 s while
#: other work loads the cores), the server then starts in 14-40 s; a cold ~/.m2 adds the download
START_DEADLINE = 300.0


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
