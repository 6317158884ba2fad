"""The store lock a token refresh holds: renewed while the refresh runs, released only by its holder.

A lock that merely expires cannot protect a refresh: a provider may take longer
than any fixed time (``requests`` timeouts bound each wait for data, not a
call, and a refresh makes up to four calls in a row: discovery, token request,
JWKS, userinfo), and a second caller that takes an expired lock re-reads the old
refresh token and presents it again. Cutting the refresh short at a deadline
would not help either: once the token request has reached the provider, giving
up does not un-spend the token, and the retry is the very reuse to avoid. So:

1. The lock carries a random owner (``Sessions.try_lock``); renewing and
   releasing compare it in the store, so a holder can only ever free its own.
2. A ``RefreshLease`` renews it every quarter of ``lock_seconds`` while the
   refresh runs, from its own thread, and releases it at the end. It lapses only
   when this process stops, or cannot reach the store for about three quarters
   of ``lock_seconds``; ``lock_seconds`` is thus how long a holder that died
   blocks the others, not a limit on the refresh. A renewal also takes back a
   lapsed lock that nobody took meanwhile (step 4 covers what may have happened
   during the lapse).
3. The refresh token is sent only after the lock has been confirmed, and
   renewed, right after discovery: a holder whose lock lapsed and was taken
   sends nothing (``RefreshUnavailable``, the session stays).
4. The answer is stored only after the lock is confirmed once more, and only
   over the very tokens the refresh started from. The provider has rotated by
   then, so dropping its answer leaves a spent refresh token that the next
   refresh would present (reuse): it is kept whenever that is sound, even when
   the refreshed ID token cannot be checked (its keys cannot be fetched: then
   the new refresh token alone is kept, and the unchecked access token and
   identity are not used). It is dropped when another owner holds the lock
   (that caller read the old token and is refreshing with it; a write now could
   land over what it stores), and when the stored tokens changed while the lock
   had lapsed (those are newer).

What no lock can do: a request that reached the provider and timed out here
may still have spent the token (the retry is then refused, as with any client),
and, like every lease, this one assumes a holder is not frozen (a suspended VM)
for longer than ``lock_seconds`` between a renewal and its next request.
Waiters give up after ``wait_seconds`` (``RefreshUnavailable``); the holder's
provider calls are bounded by ``AUTH_HTTP_TIMEOUT`` each, per wait for data, so a
refresh that never ends (a provider trickling its answer) keeps the lock, and the
session's waiters keep getting ``RefreshUnavailable``: the safe side.
"""

from __future__ import annotations

import threading

from .sessions import Sessions, StoreLock
from .stores.base import StoreUnavailable

#: a held refresh lock is renewed this many times per ``lock_seconds``: a renewal may fail
#: (the store is briefly unreachable) and the next still comes well before the lock ends
RENEWALS_PER_LOCK = 4


class RefreshLease:
    """A store lock kept for exactly as long as one refresh runs.

    A daemon thread renews it every ``seconds / RENEWALS_PER_LOCK`` until ``end()``,
    which stops the renewals (waiting for one in flight, so none lands after the
    release) and releases it. ``confirm()`` renews at once and says whether the lock
    is still, or again, this holder's: the refresh asks before it spends the refresh
    token and before it stores the answer.
    """

    def __init__(self, sessions: Sessions, lock: StoreLock, seconds: float) -> None:
        self._sessions = sessions
        self._lock = lock
        self._seconds = seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="auth-refresh-lock", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stopped.wait(self._seconds / RENEWALS_PER_LOCK):
            try:
                if not self._sessions.renew_lock(self._lock, self._seconds):
                    return  # another owner has it: confirm() will say so
            except StoreUnavailable as error:
                self._sessions.report_fault(error, "refresh")  # the next turn tries again

    def confirm(self) -> bool:
        """Renew now; False when another owner holds the lock. Raises ``StoreUnavailable``."""
        return self._sessions.renew_lock(self._lock, self._seconds)

    def end(self) -> None:
        """Stop renewing and release the lock (a store fault is logged: the lock then runs out)."""
        self._stopped.set()
        self._thread.join()
        try:
            self._sessions.unlock(self._lock)
        except StoreUnavailable as error:
            self._sessions.report_fault(error, "refresh")
