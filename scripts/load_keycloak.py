"""The login round trip against the real Keycloak: ``scripts/load.py --keycloak [--logins N]``.

Starts the pinned Keycloak with the repository's realm on free ports, as the tests do
(``tests/support/keycloak.py``, which runs ``scripts/keycloak.sh``), and the real demo app
against it (``scripts/keycloak-app.env``'s settings). Then signs alice in N times, one after
another, through Keycloak's own login form over HTTP (``tests/support/keycloak_login.py``),
each time in a fresh cookie jar, so Keycloak always shows its form and checks the password:

1. the app's ``/auth/login`` (a redirect to Keycloak);
2. Keycloak's login page;
3. the form's POST (Keycloak checks the password, a redirect to the app's callback);
4. the app's callback (the code exchanged at Keycloak, the ID token checked, the session stored).

Prints p50 and p95 of the whole round trip and of each step (the time to each response's
headers), after a few sign-ins that warm up both servers. Never fails on timing. Exit status:
0 after a complete run, 1 if a sign-in failed, 2 if setup failed, 130 when interrupted.
Everything binds to 127.0.0.1 (Keycloak, the app) and stops at the end.
"""

from __future__ import annotations

import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from auth.bench import machine_speed_us  # noqa: E402
from tests.support.app_process import AppProcess  # noqa: E402
from tests.support.keycloak import KeycloakServer  # noqa: E402
from tests.support.keycloak_login import browser_session, sign_in  # noqa: E402

WARM_UP = 3
USERNAME = "alice"
STEPS = (
    "app /auth/login",
    "Keycloak's login page",
    "Keycloak's form POST (password)",
    "app callback (code exchange)",
)
COOKIE_NAME = "streamlit_auth"  # the app's default AUTH_COOKIE_NAME


class SignInFailed(Exception):
    """One sign-in did not end with the app's session cookie."""


def percentile(values: list[float], q: int) -> float:
    """Linear interpolation between the closest ranks (as scripts/load.py); NaN for no values."""
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(values: list[float]) -> str:
    return (
        f"n={len(values):<3d} p50 {percentile(values, 50):6.0f} ms   p95 {percentile(values, 95):6.0f} ms"
        f"   max {max(values):6.0f} ms"
    )


def timed_sign_in(app_url: str) -> tuple[float, list[float]]:
    """One sign-in through Keycloak's form: the whole round trip and each step, in ms."""
    steps: list[float] = []
    with browser_session() as browser:

        def record(response: requests.Response, *args: object, **kwargs: object) -> None:
            steps.append(response.elapsed.total_seconds() * 1000)

        browser.hooks["response"].append(record)
        started = time.perf_counter()
        result = sign_in(browser, app_url, USERNAME)
        total = (time.perf_counter() - started) * 1000
        if result.response.status_code != 302 or not browser.cookies.get(COOKIE_NAME):
            raise SignInFailed(f"the callback answered {result.response.status_code} without a session cookie")
    if len(steps) != len(STEPS):
        raise SignInFailed(f"{len(steps)} requests instead of {len(STEPS)}")
    return total, steps


def keycloak_version() -> str:
    command = ["bash", str(ROOT / "scripts" / "keycloak.sh"), "--print-version"]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout.strip()


def main(logins: int) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # a report read while it runs, or tailed from a file
    print("== streamlit-oidc-auth: the login round trip against the real Keycloak ==")
    print(f"machine speed: sum(range(100)) takes {machine_speed_us():.2f} us (lower is faster; auth.bench)")
    print(f"python {platform.python_version()}, {len(os.sched_getaffinity(0))} CPUs; --logins {logins}")
    keycloak = KeycloakServer()
    app: AppProcess | None = None
    try:
        try:
            started = time.perf_counter()
            keycloak.start()
            keycloak_seconds = time.perf_counter() - started
            # Every sign-in comes from 127.0.0.1: the per-address limit of /auth/login would cut the run short.
            env = keycloak.app_environment(secrets.token_urlsafe(32), AUTH_RATE_LIMIT="off")
            app = AppProcess(env, port=keycloak.app_port).start()
        except Exception as error:
            traceback.print_exc()
            print(f"setup failed: {error}", file=sys.stderr)
            return 2
        print(
            f"setup: Keycloak {keycloak_version()} at {keycloak.url} ready after {keycloak_seconds:.0f} s;"
            f" the demo app at {app.url}; signing in as {USERNAME} through Keycloak's form over HTTP"
        )
        try:
            for _ in range(WARM_UP):
                timed_sign_in(app.url)
            results = [timed_sign_in(app.url) for _ in range(logins)]
        except (SignInFailed, AssertionError, requests.RequestException) as error:
            print(f"a sign-in failed: {error}", file=sys.stderr)
            return 1
        print(f"\nsign-ins: {logins} one after another, each in a fresh cookie jar ({WARM_UP} warm-up not counted)")
        print(f"  whole round trip (4 requests):     {summary([total for total, _ in results])}")
        for index, step in enumerate(STEPS):
            print(f"  {step + ':':<35}{summary([steps[index] for _, steps in results])}")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        if app is not None:
            app.__exit__(None, None, None)
        keycloak.stop()
