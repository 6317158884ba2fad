"""Limits that keep sign-in traffic from starving the app: provider-call capacity,
a per-address rate limit, and failed provider fetches remembered for a few seconds.

Provider calls block a thread until the provider answers (up to
``AUTH_HTTP_TIMEOUT``). Run in Starlette's shared thread pool, which
Streamlit also uses for static files, a stalled provider and a burst of
callbacks would take every worker and stall plain page loads. So provider
calls get a capacity of their own, and a request that would wait behind a
full queue is answered "busy" at once. The rate limit keeps one address
from spending all of that capacity. A provider that just failed to answer is
not asked again for every caller: its failure is remembered briefly.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

from .errors import ProviderBusy, ProviderMisconfigured, ProviderUnavailable, TooManyAttempts

P = ParamSpec("P")
T = TypeVar("T")

# Calls that may wait for a slot, per slot: a waiting call gives up after ``max_wait``.
QUEUE_FACTOR = 4
# Addresses remembered by the rate limit; the least recently seen are forgotten first,
# so a flood of spoofed or rotating addresses cannot grow memory without bound.
MAX_TRACKED_ADDRESSES = 10_000
# How long a failed discovery or JWKS fetch is remembered. Anyone can make the app fetch
# (a forged back-channel logout token names any configured issuer), and a provider that
# failed a moment ago almost surely fails again: within this window every caller gets the
# same failure without a request, so a flood costs a down provider one request per window
# and a stalled one holds one thread per window, not one per caller. Short, because sign-in
# respects it too: a sign-in a few seconds after the provider recovers must work.
FAILED_FETCH_MEMORY = 5.0

# What a provider fetch raises (``ProviderTimeout`` is a ``ProviderUnavailable``).
FetchFailure = ProviderUnavailable | ProviderMisconfigured


class ProviderCapacity:
    """At most ``concurrency`` provider calls at once; at most ``queue`` more waiting, each
    for at most ``max_wait`` seconds (then "busy": a sign-in queued behind stalled calls
    should hear so, not hang for several provider timeouts)."""

    def __init__(self, concurrency: int, queue: int | None = None, *, max_wait: float = 10.0) -> None:
        self.concurrency = concurrency
        # Room for a burst of sign-ins (50 at once with the default 16) without "busy".
        self.queue = concurrency * QUEUE_FACTOR if queue is None else queue
        self.max_wait = max_wait
        self._pending = 0
        # anyio limiters belong to one event loop; tests may run several in turn. Each
        # loop has two: the slots (acquired with a deadline) and the threads that hold them.
        self._limiters: dict[asyncio.AbstractEventLoop, tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]] = {}

    @property
    def pending(self) -> int:
        """Calls running or waiting now."""
        return self._pending

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``func(*args, **kwargs)`` in a worker thread under this capacity; raises
        ``ProviderBusy`` without waiting when running and queued calls are all taken."""
        if self._pending >= self.concurrency + self.queue:
            raise ProviderBusy(f"{self._pending} provider calls running or waiting")
        slots, threads = self._limiters_for_loop()
        self._pending += 1
        try:
            acquired = False
            with anyio.move_on_after(self.max_wait):
                await slots.acquire()
                acquired = True  # no checkpoint in between: cannot be cancelled after acquiring
            if not acquired:
                raise ProviderBusy(f"no provider-call slot within {self.max_wait:g} s")
            try:
                # ``threads`` has as many tokens as ``slots``: it never makes a holder wait,
                # and keeps these calls off the thread pool Streamlit's own work shares.
                return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs), limiter=threads)
            finally:
                slots.release()
        finally:
            self._pending -= 1

    def _limiters_for_loop(self) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        loop = asyncio.get_running_loop()
        limiters = self._limiters.get(loop)
        if limiters is None:
            self._limiters = {known: pair for known, pair in self._limiters.items() if not known.is_closed()}
            limiters = (anyio.CapacityLimiter(self.concurrency), anyio.CapacityLimiter(self.concurrency))
            self._limiters[loop] = limiters
        return limiters


class AddressRateLimit:
    """A token bucket per client address: ``per_minute`` requests, refilled evenly.

    A whole burst of ``per_minute`` is allowed at once (a user retrying a few
    times never notices); sustained traffic above the rate is refused.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Spend one request for ``address``; raises ``TooManyAttempts`` when none is left."""
        self._use(address, admit=True, spend=True)

    def admit(self, address: str) -> None:
        """Raise ``TooManyAttempts`` when ``address`` has no request left, spending none.

        With ``charge`` this limits failures rather than requests: admit every request,
        charge only those that fail. Requests in flight at once are admitted before any is
        charged, so an address can overshoot by as many as it has in flight; the capacity
        the requests run under bounds that.
        """
        self._use(address, admit=True, spend=False)

    def charge(self, address: str) -> None:
        """Spend one request of ``address`` (none left: nothing to spend, nothing raised)."""
        self._use(address, admit=False, spend=True)

    def _use(self, address: str, *, admit: bool, spend: bool) -> None:
        if self.per_minute <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.pop(address, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - updated) * self._rate)
            allowed = tokens >= 1.0
            if allowed and spend:
                tokens -= 1.0
            self._buckets[address] = (tokens, now)
            while len(self._buckets) > MAX_TRACKED_ADDRESSES:
                self._buckets.popitem(last=False)
        if admit and not allowed:
            wait = math.ceil((1.0 - tokens) / self._rate)
            raise TooManyAttempts(f"address over {self.per_minute}/min", retry_after=max(1, wait))


class RecentFailure:
    """The last failure of one provider fetch (a discovery document, a JWKS), remembered for
    ``memory`` seconds; ``recent()`` gives callers in that window a copy of it to raise."""

    def __init__(self, memory: float = FAILED_FETCH_MEMORY, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.memory = memory
        self._clock = clock
        self._failure: tuple[FetchFailure, float] | None = None
        self._lock = threading.Lock()

    def recent(self) -> FetchFailure | None:
        """A new exception of the remembered failure's type and message (one instance raised
        from many threads would collect their tracebacks), or None when there is none younger
        than ``memory``."""
        with self._lock:
            failure = self._failure
        if failure is None:
            return None
        error, failed_at = failure
        if not 0 <= self._clock() - failed_at < self.memory:
            return None
        return type(error)(
            f"{error.detail} (failed within the last {self.memory:g} s; not asked again yet)",
            user_message=error.user_message,
        )

    def remember(self, error: FetchFailure) -> None:
        with self._lock:
            self._failure = (error, self._clock())

    def forget(self) -> None:
        """The fetch succeeded: whatever failed before no longer stands."""
        with self._lock:
            self._failure = None
