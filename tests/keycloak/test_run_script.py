"""``scripts/run.sh --keycloak``: the demo against Keycloak without Docker, as a developer starts it.

It finds the run's Keycloak already serving the realm (``KEYCLOAK_PORT``), so it starts none of
its own, and runs the app with ``scripts/keycloak-app.env``; only the app's port and public URL
are this run's (the realm names them)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.app_process import ROOT, stop_process_group, wait_until
from tests.support.keycloak import KeycloakServer
from tests.support.keycloak_login import sign_in


@pytest.fixture(scope="module")
def run_script(keycloak: KeycloakServer) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env.update(
        VENV=sys.prefix,  # this test run's virtualenv: run.sh installs the package into it (a no-op here)
        KEYCLOAK_PORT=str(keycloak.port),
        AUTH_PUBLIC_URL=keycloak.app_url,  # the environment wins over scripts/keycloak-app.env
        AUTH_STORE=f"sqlite:///{tempfile.mkdtemp(prefix='run-sh-store-')}/sessions.db",
    )
    log = Path(tempfile.mkstemp(prefix="run-sh-", suffix=".log")[1])
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                "bash",
                str(ROOT / "scripts" / "run.sh"),
                "--keycloak",
                "--server.port",
                str(keycloak.app_port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, log
    finally:
        stop_process_group(process)
        log.unlink(missing_ok=True)


def test_run_sh_keycloak_runs_the_demo_against_the_running_keycloak(
    run_script: tuple[subprocess.Popen[bytes], Path], keycloak: KeycloakServer, browser: requests.Session
) -> None:
    process, log = run_script

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"scripts/run.sh exited with {process.returncode}:\n{log.read_text()}")
        try:
            return requests.get(f"http://127.0.0.1:{keycloak.app_port}/_stcore/health", timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(healthy, 120, "the demo started by scripts/run.sh --keycloak")
    assert f"Using the Keycloak serving {keycloak.issuer}." in log.read_text()

    result = sign_in(browser, keycloak.app_url, "alice")

    assert result.response.status_code == 302 and result.response.headers["location"] == "/"
    assert "streamlit_auth" in browser.cookies
    assert "event=login provider=keycloak" in log.read_text()
