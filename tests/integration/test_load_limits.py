"""Sign-in traffic cannot starve the app: provider calls have a bounded capacity of their
own (503 "busy" beyond it, at once), and each client address a rate limit (429).
In-process routes against a real provider whose token endpoint stalls."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
import requests

from auth.errors import ProviderBusy, TooManyAttempts
from auth.throttle import MAX_TRACKED_ADDRESSES, AddressRateLimit, ProviderCapacity
from devprovider import LocalProvider
from tests.support.app_process import wait_until
from tests.support.clock import Clock
from tests.support.inprocess import build_auth, client_for, path_and_query


def test_full_capacity_answers_busy_at_once_instead_of_queueing(provider: LocalProvider) -> None:
    """Concurrency 2 + queue 8: of 13 callbacks against a stalled token endpoint, 3 are
    told "busy" while the first ones still wait on the provider."""
    auth = build_auth(
        {"local": provider}, AUTH_PROVIDER_CONCURRENCY="2", AUTH_RATE_LIMIT="off", AUTH_HTTP_TIMEOUT="60s"
    )
    assert (auth.http.capacity.concurrency, auth.http.capacity.queue) == (2, 8)
    callbacks = []
    with client_for(auth) as browser:
        for _ in range(13):  # thirteen browsers, each with its own sign-in
            browser.cookies.clear()
            start = browser.get("/auth/login", params={"provider": "local"})
            back = requests.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
            cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
            callbacks.append((path_and_query(back.headers["location"]), cookie))
        browser.cookies.clear()
        provider.token_fault, provider.slow_seconds = "slow", 0.5
        busy_seen_while_stalled = threading.Event()

        def complete(callback: tuple[str, str]) -> tuple[int, str, str | None]:
            url, cookie = callback
            response = browser.get(url, headers={"cookie": cookie})
            if response.status_code == 503 and len(provider.token_requests) <= 2:
                busy_seen_while_stalled.set()
            return response.status_code, response.text, response.headers.get("retry-after")

        with ThreadPoolExecutor(max_workers=13) as pool:
            results = list(pool.map(complete, callbacks))

    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(503) == 3
    assert busy_seen_while_stalled.is_set()
    busy = [r for r in results if r[0] == 503]
    assert all("Sign-in is busy right now" in text and retry == "5" for _, text, retry in busy)
    assert len(provider.token_requests) == 10  # the busy ones never reached the provider


def test_busy_capacity_recovers(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider}, AUTH_PROVIDER_CONCURRENCY="1")
    capacity = auth.http.capacity
    with client_for(auth) as browser:
        response = browser.get("/auth/login", params={"provider": "local"})
    assert response.status_code == 302 and capacity.pending == 0


def test_rate_limit_per_client_address(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider}, AUTH_RATE_LIMIT="3/min")
    noisy, other = client_for(auth, address="203.0.113.9"), client_for(auth, address="198.51.100.4")
    answers = [noisy.get("/auth/login", params={"provider": "local"}) for _ in range(4)]

    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    refused = answers[-1]
    assert "too many sign-in attempts" in refused.text
    assert int(refused.headers["retry-after"]) == 20  # one request per 20 s at 3/min
    assert "Try again" in refused.text
    assert other.get("/auth/login", params={"provider": "local"}).status_code == 302
    # Callbacks count too: the same address is refused there before any provider call.
    assert noisy.get("/auth/callback/local", params={"code": "c", "state": "s"}).status_code == 429


def test_rate_limit_refills_over_time() -> None:
    clock = Clock(0.0)
    limit = AddressRateLimit(60, clock=clock)
    for _ in range(60):
        limit.check("a")
    with pytest.raises(TooManyAttempts) as caught:
        limit.check("a")
    assert caught.value.retry_after == 1
    clock.now += 1.0
    limit.check("a")


def test_admit_and_charge_limit_failures_only() -> None:
    """The back-channel's use: every request is admitted while the address has budget, and
    only the refused ones spend it."""
    clock = Clock(0.0)
    limit = AddressRateLimit(3, clock=clock)
    for _ in range(10):
        limit.admit("a")  # admitted and never charged: a good request
    for _ in range(3):
        limit.admit("a")
        limit.charge("a")
    with pytest.raises(TooManyAttempts) as caught:
        limit.admit("a")
    assert caught.value.retry_after == 20
    limit.charge("a")  # nothing left to spend: no debt either
    clock.now += 20.0
    limit.admit("a")
    limit.admit("b")


def test_rate_limit_forgets_the_least_recent_addresses_beyond_its_bound() -> None:
    limit = AddressRateLimit(1, clock=Clock(0.0))
    limit.check("first")
    for index in range(MAX_TRACKED_ADDRESSES):
        limit.check(f"addr-{index}")
    limit.check("first")  # forgotten, so a fresh bucket: memory stays bounded


def test_rate_limit_off_admits_everything() -> None:
    limit = AddressRateLimit(0)
    for _ in range(1000):
        limit.check("a")


def test_a_queued_call_gives_up_after_max_wait() -> None:
    """Queued behind stalled calls, a sign-in hears "busy" instead of hanging for several
    provider timeouts. Real worker threads; the stalled call waits on an event, not a clock."""
    capacity = ProviderCapacity(1, queue=5, max_wait=0.2)
    release = threading.Event()

    async def scenario() -> tuple[str, BaseException | None]:
        async with anyio.create_task_group() as group:
            results: dict[str, str] = {}

            async def stalled() -> None:
                results["stalled"] = await capacity.run(lambda: "done" if release.wait(30) else "timeout")

            group.start_soon(stalled)
            await anyio.wait_all_tasks_blocked()
            try:
                await capacity.run(lambda: "ran")
            except ProviderBusy as error:
                refused: BaseException | None = error
            else:
                refused = None
            release.set()
        return results["stalled"], refused

    # A thread of its own: the browser tests' Playwright keeps an event loop on the main thread.
    with ThreadPoolExecutor(max_workers=1) as runner:
        stalled_result, refused = runner.submit(anyio.run, scenario).result()
    assert stalled_result == "done"
    assert isinstance(refused, ProviderBusy) and "no provider-call slot within 0.2 s" in str(refused)
    assert capacity.pending == 0


def test_busy_error_is_a_503_with_retry_after() -> None:
    error = ProviderBusy("x")
    assert (error.status, error.retry_after, error.reason) == (503, 5, "busy")


def test_waiting_for_capacity_is_bounded_by_the_queue(provider: LocalProvider) -> None:
    """A wait-for-condition, not a sleep: the stalled calls are visibly in flight first."""
    auth = build_auth({"local": provider}, AUTH_PROVIDER_CONCURRENCY="1", AUTH_RATE_LIMIT="off")
    provider.discovery_fault, provider.slow_seconds = "slow", 2.0
    with client_for(auth) as browser, ThreadPoolExecutor(max_workers=5) as pool:
        first = [pool.submit(browser.get, "/auth/login", params={"provider": "local"}) for _ in range(5)]
        wait_until(lambda: auth.http.capacity.pending == 5, 10, "five sign-ins running or queued")
        fourth = browser.get("/auth/login", params={"provider": "local"})
        results = [future.result() for future in first]
    assert fourth.status_code == 503
    assert all(result.status_code in (302, 502, 504) for result in results)
