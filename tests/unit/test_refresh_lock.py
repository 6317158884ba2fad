"""``auth.refresh_lock.RefreshLease``: the refresh's store lock, kept while the refresh runs.

A memory store on the real clock (the lease renews from its own thread, in real
time) with leases of a second; the waits are for store calls to have happened,
never timed assertions. The lease against a slow provider and a real Redis is in
tests/integration/test_access_tokens.py.
"""

from __future__ import annotations

import logging
import secrets

import pytest

from auth.refresh_lock import RENEWALS_PER_LOCK, RefreshLease
from auth.secret import Secret
from auth.session_cookie import SessionCookie
from auth.sessions import Sessions
from tests.support.app_process import wait_until
from tests.support.flaky_store import FlakyStore

SECRETS = [Secret(secrets.token_urlsafe(32))]
SECONDS = 1.0


@pytest.fixture
def store() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
def sessions(store: FlakyStore) -> Sessions:
    cookie = SessionCookie(SECRETS, name="s", timeout=3600)
    return Sessions(cookie, store, secrets=SECRETS, idle_timeout=600, max_age=3600)


def renewals(store: FlakyStore) -> int:
    return store.calls["acquire_lock"]


def test_a_lease_keeps_its_lock_past_the_lock_time_until_it_ends(sessions: Sessions, store: FlakyStore) -> None:
    lock = sessions.try_lock("refresh:a", SECONDS)
    assert lock is not None
    lease = RefreshLease(sessions, lock, SECONDS)
    try:
        # 1 + 2 * RENEWALS_PER_LOCK acquisitions: twice the lock time has passed since it was taken
        wait_until(lambda: renewals(store) > 2 * RENEWALS_PER_LOCK, 10, "the lease to renew its lock")
        assert sessions.try_lock("refresh:a", SECONDS) is None
        assert lease.confirm() is True
    finally:
        lease.end()
    assert sessions.try_lock("refresh:a", SECONDS) is not None  # released at the end


def test_a_lease_whose_lock_another_owner_took_confirms_nothing_and_leaves_it(
    sessions: Sessions, store: FlakyStore
) -> None:
    lock = sessions.try_lock("refresh:b", SECONDS)
    assert lock is not None
    lease = RefreshLease(sessions, lock, SECONDS)
    store.release_lock(lock.key, lock.owner)  # as if it had lapsed...
    other = sessions.try_lock("refresh:b", 60)  # ...and another caller took it
    assert other is not None
    assert lease.confirm() is False
    lease.end()
    assert sessions.try_lock("refresh:b", 60) is None
    assert sessions.unlock(other) is True


def test_a_store_fault_while_renewing_is_logged_and_the_next_turn_renews(
    sessions: Sessions, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    lock = sessions.try_lock("refresh:c", SECONDS)
    assert lock is not None
    store.failing = {"acquire_lock": "renewal refused", "release_lock": "release refused"}
    with caplog.at_level(logging.INFO, logger="auth"):
        lease = RefreshLease(sessions, lock, SECONDS)
        failed = renewals(store)
        wait_until(lambda: renewals(store) > failed, 10, "a renewal to fail")
        store.failing = {"release_lock": "release refused"}
        renewed = renewals(store)
        wait_until(lambda: renewals(store) > renewed, 10, "a renewal after the fault")
        lease.end()  # the release fails: logged, and the lock runs out by itself
    lines = [r.getMessage() for r in caplog.records]
    assert any("operation=refresh" in line and 'failure="renewal refused"' in line for line in lines)
    assert any('failure="release refused"' in line for line in lines)
    assert sessions.try_lock("refresh:c", SECONDS) is None
