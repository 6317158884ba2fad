"""Load test: does sign-in traffic hurt the people already using the app?

Run from the repository root::

    .venv/bin/python scripts/load.py [--logins 50] [--stalled 60] [--samples 20]
    .venv/bin/python scripts/load.py --keycloak [--logins 50]

``--keycloak`` measures something else: the login round trip against the real Keycloak
(``scripts/load_keycloak.py``), ``--logins`` sign-ins one after another through its form.

Everything runs on this machine and talks only to 127.0.0.1 / localhost: a
``LocalProvider`` (devprovider/) in a thread, the real demo app
(``streamlit run app.py``, tests/support/app_process.py) as a subprocess, and
Debian's headless Chromium driven by Playwright (never ``playwright install``).

Scenario A: one signed-in browser keeps clicking "Click me" on the Home page
while ``--logins`` complete logins (login -> provider -> callback -> session
cookie) run concurrently over HTTP. Rerun latency is measured inside the page:
from the click event to the frame that shows the rerun's new text.

Scenario B: the provider's token endpoint stalls (``slow_seconds``) while
``--stalled`` callbacks hang on it; meanwhile ``/_stcore/health`` and a static
file of Streamlit are timed.

It reports numbers and prints "target met / NOT met" per target, but never
fails on timing. Exit status: 0 after a complete run, 1 if a scenario broke
(harness error), 2 if setup failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import platform
import re
import secrets
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import streamlit  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from auth.bench import machine_speed_us  # noqa: E402
from devprovider import LocalProvider, ProviderUser  # noqa: E402
from tests.support.app_process import AppProcess, wait_until  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.http_flow import start_login  # noqa: E402

CLIENT_ID = "load-test"
MAX_BURSTS = 8  # bounds scenario A: at most this many bursts of --logins
CLIENT_SECRET = secrets.token_urlsafe(16)
COOKIE_NAME = "streamlit_auth"  # the app's default AUTH_COOKIE_NAME
HTTP_TIMEOUT_SECONDS = 10  # AUTH_HTTP_TIMEOUT given to the app
SLOW_SECONDS = 8.0  # how long the stalled token endpoint waits
REQUEST_TIMEOUT = 30.0  # any single request of ours
CALLBACK_TIMEOUT = 60.0  # a stalled callback may queue behind others: allow more
BROWSER_WAIT_MS = 30_000  # longest wait for one rerun in the page
MIN_BURST_SAMPLES = 3  # rerun samples to take even if the burst ends sooner
TARGET_RATIO = 2.0
TARGET_MS = 100.0

CLICKED = "Button clicked."
NOT_CLICKED = "Button not clicked yet."


class SetupError(Exception):
    """Provider, app or browser could not be brought up: nothing to measure."""


# ----------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(value: float) -> str:
    return "   n/a" if math.isnan(value) else f"{value:6.0f}" if value >= 10 else f"{value:6.1f}"


def summary(values: list[float]) -> str:
    return (
        f"n={len(values):<3d} p50 {ms(percentile(values, 50))} ms   p95 {ms(percentile(values, 95))} ms"
        f"   max {ms(max(values) if values else math.nan)} ms"
    )


def verdict(ok: bool | None) -> str:
    return "target met" if ok else ("NOT measured" if ok is None else "target NOT met")


# ---------------------------------------------------------------- HTTP logins


class LoginStepFailed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step


def provider_callback_url(browser: requests.Session, app_url: str) -> str:
    """/auth/login, then the provider's authorize URL with login_hint=alice: the callback URL."""
    login = start_login(browser, app_url, "local", "/")
    if login.status_code != 302 or "location" not in login.headers:
        raise LoginStepFailed("login", f"HTTP {login.status_code}")
    approved = browser.get(
        login.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=REQUEST_TIMEOUT
    )
    if approved.status_code != 302 or "code=" not in approved.headers.get("location", ""):
        raise LoginStepFailed("authorize", f"HTTP {approved.status_code}")
    return approved.headers["location"]


@dataclass
class LoginResult:
    ok: bool
    total_ms: float
    callback_ms: float = math.nan
    outcome: str = ""  # "302+cookie", "callback HTTP 503", "login HTTP 429", "ReadTimeout", ...


def complete_login(app_url: str, barrier: threading.Barrier) -> LoginResult:
    with requests.Session() as browser:
        barrier.wait(timeout=REQUEST_TIMEOUT)
        started = time.perf_counter()
        try:
            callback = provider_callback_url(browser, app_url)
            callback_started = time.perf_counter()
            response = browser.get(callback, allow_redirects=False, timeout=REQUEST_TIMEOUT)
            done = time.perf_counter()
        except LoginStepFailed as error:
            return LoginResult(False, (time.perf_counter() - started) * 1000, outcome=str(error))
        except requests.RequestException as error:
            return LoginResult(False, (time.perf_counter() - started) * 1000, outcome=type(error).__name__)
        got_cookie = bool(response.cookies.get(COOKIE_NAME)) and bool(browser.cookies.get(COOKIE_NAME))
        ok = response.status_code == 302 and got_cookie
        outcome = "302+cookie" if ok else f"callback HTTP {response.status_code}" + ("" if got_cookie else " no cookie")
        return LoginResult(ok, (done - started) * 1000, (done - callback_started) * 1000, outcome)


@dataclass
class CallbackResult:
    outcome: str  # "302", "503", "504", "ReadTimeout", ...
    elapsed_ms: float
    finished_at: float


def hit_callback(browser: requests.Session, callback: str, barrier: threading.Barrier) -> CallbackResult:
    barrier.wait(timeout=REQUEST_TIMEOUT)
    started = time.perf_counter()
    try:
        response = browser.get(callback, allow_redirects=False, timeout=CALLBACK_TIMEOUT)
        outcome = str(response.status_code)
        if response.status_code == 302 and not response.cookies.get(COOKIE_NAME):
            outcome = "302 without cookie"
    except requests.RequestException as error:
        outcome = type(error).__name__
    finally:
        browser.close()
    done = time.perf_counter()
    return CallbackResult(outcome, (done - started) * 1000, done)


@contextmanager
def thread_pool(
    workers: int, barrier: threading.Barrier | None = None
) -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """A pool that, on an error or Ctrl-C, releases its waiters and does not block the exit.

    Requests in flight have timeouts and fail at once when the app is stopped, so the
    worker threads end by themselves shortly after.
    """
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="load")
    try:
        yield pool
    except BaseException:
        if barrier is not None:
            barrier.abort()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def timed_get(url: str) -> tuple[float, str]:
    """One GET on a fresh connection: (milliseconds, outcome)."""
    started = time.perf_counter()
    try:
        response = requests.get(url, timeout=REQUEST_TIMEOUT)
        _ = response.content
        outcome = str(response.status_code)
    except requests.RequestException as error:
        outcome = type(error).__name__
    return (time.perf_counter() - started) * 1000, outcome


# ------------------------------------------------------------------- browser

# Arms a one-shot waiter in the page: it starts at the next `eventType` event (capture
# phase, so before Streamlit's own handlers) and resolves on the animation frame after
# a markdown element with exactly `want` appears. Timing is the page's own clock, so
# neither Playwright's polling nor this process's load skews it.
ARM_JS = """
([want, eventType, timeoutMs]) => {
  const shown = () => Array.from(document.querySelectorAll('[data-testid="stMarkdownContainer"]'))
      .some((el) => el.textContent.trim() === want);
  window.__rerunDone = new Promise((resolve) => {
    let actedAt = null;
    let finished = false;
    const observer = new MutationObserver(() => check());
    const finish = (value) => { if (!finished) { finished = true; observer.disconnect(); resolve(value); } };
    function check() {
      if (actedAt === null || !shown()) return;
      const domMs = performance.now() - actedAt;
      observer.disconnect();
      requestAnimationFrame(() => finish({domMs, frameMs: performance.now() - actedAt}));
    }
    document.addEventListener(eventType, () => { actedAt = performance.now(); check(); },
                              {capture: true, once: true});
    observer.observe(document.body, {subtree: true, childList: true, characterData: true});
    setTimeout(() => finish({timeout: true}), timeoutMs);
  });
  return shown();
}
"""


class RerunProbe:
    """The signed-in Home page: alternates "Click me" (measured) and a slider step (resets)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.slider_steps = 0

    def _measure(self, want: str, event: str, act: Callable[[], None]) -> float:
        already = self.page.evaluate(ARM_JS, [want, event, BROWSER_WAIT_MS])
        if already:
            raise RuntimeError(f"{want!r} is already on the page before the action")
        act()
        result: dict[str, Any] = self.page.evaluate("() => window.__rerunDone")
        if result.get("timeout"):
            raise RuntimeError(f"no rerun showing {want!r} within {BROWSER_WAIT_MS} ms")
        return float(result["frameMs"])

    def click(self) -> float:
        """Click "Click me"; ms until "Button clicked." is on screen."""
        return self._measure(CLICKED, "click", self.page.get_by_role("button", name="Click me").click)

    def reset(self) -> float:
        """One slider step (alternating right/left): a rerun in which the button is not pressed."""
        key = "ArrowRight" if self.slider_steps % 2 == 0 else "ArrowLeft"
        self.slider_steps += 1
        slider = self.page.get_by_role("slider")
        slider.focus()
        return self._measure(NOT_CLICKED, "keydown", lambda: slider.press(key))

    def sample(self) -> tuple[float, float]:
        """(click rerun ms, slider rerun ms)."""
        clicked = self.click()
        return clicked, self.reset()


def sign_in_browser(browser: Browser, app_url: str) -> Page:
    context = browser.new_context()
    context.set_default_timeout(BROWSER_WAIT_MS)
    page = context.new_page()
    page.goto(app_url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^Sign in with ")).click()
    # The LocalProvider's own login page: one button per user.
    page.get_by_role("button", name="alice", exact=True).click()
    expect(page.get_by_role("heading", name="Hello Alice Example")).to_be_visible()
    expect(page.get_by_text(NOT_CLICKED)).to_be_visible()
    if not any(c["name"] == COOKIE_NAME for c in context.cookies()):
        raise SetupError("the browser has no session cookie after signing in")
    return page


# ----------------------------------------------------------------- scenarios


def scenario_a(app: AppProcess, probe: RerunProbe, logins: int, samples: int) -> None:
    print(f"\n-- Scenario A: {logins} concurrent logins while a signed-in browser interacts --")
    for _ in range(2):  # warm-up, not counted
        probe.sample()
    idle_click, idle_slider = [], []
    for _ in range(samples):
        clicked, slid = probe.sample()
        idle_click.append(clicked)
        idle_slider.append(slid)
    print(f"rerun latency (click -> 'Button clicked.' on screen), idle:   {summary(idle_click)}")

    # One burst lasts well under a second, which leaves room for only a few reruns inside it:
    # repeat bursts (at most MAX_BURSTS) until `samples` clicks began while logins were running.
    burst_click, burst_slider, overlapped, bursts = [], [], 0, 0
    done: set[concurrent.futures.Future[LoginResult]] = set()
    pending: set[concurrent.futures.Future[LoginResult]] = set()
    burst_ms = 0.0
    while overlapped < samples and bursts < MAX_BURSTS:
        bursts += 1
        barrier = threading.Barrier(logins + 1)
        with thread_pool(logins, barrier) as pool:
            futures = [pool.submit(complete_login, app.url, barrier) for _ in range(logins)]
            barrier.wait(timeout=REQUEST_TIMEOUT)
            deadline = time.perf_counter() + REQUEST_TIMEOUT * 4  # hard bound on the sampling loop
            while time.perf_counter() < deadline and not all(f.done() for f in futures):
                clicked, slid = probe.sample()
                burst_click.append(clicked)  # only clicks that began during the burst
                burst_slider.append(slid)
                overlapped += 1
            finished, unfinished = concurrent.futures.wait(futures, timeout=REQUEST_TIMEOUT * 3)
            done |= finished
            pending |= unfinished
            burst_ms = max([burst_ms, *(f.result().total_ms for f in finished)])
    results = [f.result() for f in done]
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    print(
        f"logins: {len(ok)} ok, {len(failed) + len(pending)} failed"
        f" (each: /auth/login -> provider authorize -> /auth/callback -> 302 + {COOKIE_NAME} cookie)"
    )
    if failed or pending:
        outcomes = Counter(r.outcome for r in failed) + Counter({"no answer": len(pending)})
        print("  failures: " + ", ".join(f"{k} x{v}" for k, v in outcomes.most_common()))
    print(f"  whole login (3 requests):     {summary([r.total_ms for r in results])}")
    print(f"  callback alone:               {summary([r.callback_ms for r in ok])}")
    print(f"  slowest login took {burst_ms:.0f} ms (each burst started together)")
    print(
        f"rerun latency during the bursts:                              {summary(burst_click)}"
        f"   ({bursts} burst(s) of {logins}; every sample began while logins were running)"
    )
    print(
        f"slider reruns (informational: keyboard step, reset between clicks): idle p50"
        f" {ms(percentile(idle_slider, 50)).strip()} ms, during burst p50"
        f" {ms(percentile(burst_slider, 50)).strip()} ms"
    )
    ratios = {}
    for q in (50, 95):
        idle, during = percentile(idle_click, q), percentile(burst_click, q)
        ratios[q] = during / idle if idle > 0 else math.nan
        print(f"  ratio during/idle p{q}: {ratios[q]:.2f}x  ({during:.0f} ms vs {idle:.0f} ms)")
    for q in (50, 95):
        measured = None if math.isnan(ratios[q]) else ratios[q] <= TARGET_RATIO
        print(f"TARGET rerun p{q} during burst <= {TARGET_RATIO:.0f}x idle: {verdict(measured)} ({ratios[q]:.2f}x)")


def find_static_asset(app: AppProcess) -> str:
    root = requests.get(f"http://127.0.0.1:{app.port}{app.base_path}/", timeout=REQUEST_TIMEOUT)
    root.raise_for_status()
    assets = re.findall(r"""["'](?:\./|/)?(static/[^"'?#\s]+\.(?:js|css))["']""", root.text)
    if not assets:
        raise SetupError("no /static/... asset referenced in the app's root HTML")
    # Prefer a stylesheet (what a browser fetches first and small); else the first script.
    assets.sort(key=lambda path: not path.endswith(".css"))
    return f"/{assets[0]}"


def sample_endpoints(
    urls: dict[str, str], samples: int, keep_going: Callable[[], bool] = lambda: True
) -> dict[str, list[tuple[float, str]]]:
    """Interleaved GETs (one of each per round), up to ``samples`` rounds while ``keep_going()``."""
    taken: dict[str, list[tuple[float, str]]] = {name: [] for name in urls}
    for _ in range(samples):
        if not keep_going():
            break
        for name, url in urls.items():
            taken[name].append(timed_get(url))
    return taken


def scenario_b(app: AppProcess, provider: LocalProvider, stalled: int, samples: int) -> None:
    print(
        f"\n-- Scenario B: {stalled} callbacks while the provider's token endpoint stalls "
        f"{SLOW_SECONDS:.0f} s (AUTH_HTTP_TIMEOUT={HTTP_TIMEOUT_SECONDS}s) --"
    )
    asset = find_static_asset(app)
    base = f"http://127.0.0.1:{app.port}{app.base_path}"
    urls = {"GET /_stcore/health": f"{base}/_stcore/health", f"GET {asset}": base + asset}
    size = len(requests.get(base + asset, timeout=REQUEST_TIMEOUT).content)
    print(f"static file: {asset} ({size / 1024:.0f} KiB as served to requests, gzip accepted)")
    idle = sample_endpoints(urls, samples)
    for name, values in idle.items():
        print(f"idle     {name[:44]:<44} {summary([v for v, _ in values])}")

    # Every callback needs its own real login, started before the stall begins.
    browsers = [requests.Session() for _ in range(stalled)]
    try:
        with thread_pool(8) as pool:
            callbacks = list(pool.map(lambda b: provider_callback_url(b, app.url), browsers))
    except BaseException:
        for browser in browsers:
            browser.close()
        raise

    provider.token_fault = "slow"
    provider.slow_seconds = SLOW_SECONDS
    token_requests_before = len(provider.token_requests)
    barrier = threading.Barrier(stalled + 1)
    try:
        with thread_pool(stalled, barrier) as pool:
            futures = [pool.submit(hit_callback, b, c, barrier) for b, c in zip(browsers, callbacks, strict=True)]
            barrier.wait(timeout=REQUEST_TIMEOUT)
            fired = time.perf_counter()

            def all_done() -> bool:
                return all(f.done() for f in futures)

            # Wait until the callbacks that can reach the provider have: the count stops growing.
            last = {"count": -1, "since": time.perf_counter()}

            def settled() -> bool:
                count = len(provider.token_requests) - token_requests_before
                now = time.perf_counter()
                if count != last["count"]:
                    last.update(count=count, since=now)
                return all_done() or count >= stalled or (count > 0 and now - last["since"] >= 0.5)

            wait_until(settled, timeout=SLOW_SECONDS / 2, what="callbacks to reach the token endpoint", interval=0.02)
            waiting = len(provider.token_requests) - token_requests_before
            print(
                f"callbacks waiting at the provider's token endpoint: {waiting} of {stalled}"
                f" ({(time.perf_counter() - fired) * 1000:.0f} ms after firing)"
            )
            during = sample_endpoints(urls, samples, keep_going=lambda: not all_done())
            sampled_until = time.perf_counter()
            still_hanging = sum(not f.done() for f in futures)
            done, pending = concurrent.futures.wait(futures, timeout=CALLBACK_TIMEOUT + 10)
    finally:
        provider.reset()  # token_fault=None, slow_seconds back to default
    for name, values in during.items():
        bad = Counter(outcome for _, outcome in values if outcome != "200")
        extra = ("   non-200: " + ", ".join(f"{k} x{v}" for k, v in bad.items())) if bad else ""
        print(f"stalled  {name[:44]:<44} {summary([v for v, _ in values])}{extra}")
    n_during = min(len(v) for v in during.values())
    print(
        f"  ({n_during} rounds in {(sampled_until - fired) * 1000:.0f} ms after firing;"
        f" {still_hanging} callbacks still hanging when sampling ended"
        + ("; sampling stopped early because every callback had returned)" if n_during < samples else ")")
    )
    results = [f.result() for f in done]
    histogram = Counter(r.outcome for r in results) + Counter({"no answer": len(pending)})
    print("callbacks: " + ", ".join(f"{outcome} x{count}" for outcome, count in sorted(histogram.items())))
    for outcome in sorted({r.outcome for r in results}):
        times = [r.elapsed_ms for r in results if r.outcome == outcome]
        print(f"  {outcome:<6} {summary(times)}")
    if results:
        last_done = max(r.finished_at for r in results)
        print(f"  last callback returned {(last_done - fired) * 1000:.0f} ms after firing")
    for name, values in during.items():
        p95 = percentile([v for v, _ in values], 95)
        measured = None if math.isnan(p95) else p95 < TARGET_MS and all(o == "200" for _, o in values)
        print(f"TARGET {name[:40]} p95 < {TARGET_MS:.0f} ms during the stall: {verdict(measured)} (p95 {p95:.0f} ms)")


# ---------------------------------------------------------------------- main


def log_summary(app: AppProcess) -> None:
    text = app.output()
    events = Counter(re.findall(r"event=(\w+)", text))
    reasons = Counter(re.findall(r"event=login_failed reason=(\S+)", text))
    line = "app log: " + (", ".join(f"{k} x{v}" for k, v in sorted(events.items())) or "no auth events")
    if reasons:
        line += "; login_failed reasons: " + ", ".join(f"{k} x{v}" for k, v in reasons.most_common())
    print(line)
    for pattern in ("Traceback", "AUTH_RATE_LIMIT", "WARNING"):
        count = text.count(pattern)
        if count:
            print(f"app log: {count} line(s) with {pattern!r}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=50, help="concurrent logins in scenario A (default 50)")
    parser.add_argument(
        "--stalled", type=int, default=60, help="concurrent stalled callbacks in scenario B (default 60)"
    )
    parser.add_argument("--samples", type=int, default=20, help="latency samples per measurement (default 20)")
    parser.add_argument(
        "--keycloak",
        action="store_true",
        help="instead: the login round trip (p50, p95) against the real Keycloak, --logins sign-ins one after"
        " another through its login form (scripts/load_keycloak.py)",
    )
    args = parser.parse_args()
    for name in ("logins", "stalled", "samples"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name} must be between 1 and 1000")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    if args.keycloak:
        from scripts.load_keycloak import main as keycloak_round_trips

        return keycloak_round_trips(args.logins)
    sys.stdout.reconfigure(line_buffering=True)  # a report read while it runs, or tailed from a file
    print("== streamlit-oidc-auth load test ==")
    print(f"machine speed: sum(range(100)) takes {machine_speed_us():.2f} us (lower is faster; auth.bench)")
    print(
        f"python {platform.python_version()}, {len(os.sched_getaffinity(0))} CPUs,"
        f" streamlit {streamlit.__version__}; --logins {args.logins} --stalled {args.stalled}"
        f" --samples {args.samples}"
    )
    status = 0
    with ExitStack() as stack:
        try:
            try:
                users = [
                    ProviderUser(
                        sub="alice",
                        claims={
                            "email": "alice@example.com",
                            "email_verified": True,
                            "name": "Alice Example",
                            "preferred_username": "alice",
                        },
                    )
                ]
                provider = stack.enter_context(
                    LocalProvider(users=users, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
                )
                app = AppProcess({})
                app.env = {
                    "AUTH_PROVIDERS": "local",
                    "AUTH_LOCAL_ISSUER": provider.issuer,
                    "AUTH_LOCAL_CLIENT_ID": CLIENT_ID,
                    "AUTH_LOCAL_CLIENT_SECRET": CLIENT_SECRET,
                    "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
                    "AUTH_PUBLIC_URL": f"http://localhost:{app.port}",
                    "AUTH_HTTP_TIMEOUT": f"{HTTP_TIMEOUT_SECONDS}s",
                    "AUTH_RATE_LIMIT": "off",
                }
                started = time.perf_counter()
                stack.enter_context(app)
                app_seconds = time.perf_counter() - started
                # Stop the provider before the app: that cuts short any stalled token request,
                # so the app's graceful shutdown is not kept waiting by it (stop() is idempotent).
                stack.callback(provider.stop)
                playwright = stack.enter_context(sync_playwright())
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                stack.callback(browser.close)
                page = sign_in_browser(browser, app.url)
            except KeyboardInterrupt:
                raise
            except Exception as error:
                traceback.print_exc()
                raise SetupError(str(error)) from error
            print(
                f"setup: provider {provider.issuer}, app {app.url} (healthy after {app_seconds:.1f} s),"
                f" chromium {browser.version}, browser signed in as Alice Example"
            )

            for name, run in (
                ("A", lambda: scenario_a(app, RerunProbe(page), args.logins, args.samples)),
                ("B", lambda: scenario_b(app, provider, args.stalled, args.samples)),
            ):
                try:
                    run()
                except KeyboardInterrupt:
                    raise
                except Exception:
                    print(f"\nScenario {name} broke (harness error, not a timing result):", file=sys.stderr)
                    traceback.print_exc()
                    status = 1
            print()
            log_summary(app)
        except SetupError as error:
            print(f"setup failed: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted: cleaning up", file=sys.stderr)
            return 130
        finally:
            sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
