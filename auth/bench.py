"""``python -m auth.bench``: what sign-in costs the app, in microseconds.

Two numbers matter. The per-rerun session check runs on every Streamlit
rerun of every user: cookie signature, age and decode, then (with a session
store) the store lookup and the throttled activity write; it is timed with
no store and with each backend (Redis when a ``redis-server`` can be started
here or ``--redis-url`` names one). The callback's own
work runs once per sign-in: transaction cookie, ID-token signature and
claim checks, claims mapping, access rules, signing the session cookie.
Provider round trips are excluded (they are the provider's latency, not
ours): the benchmark hands the flow tokens it signed in advance.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from .access import AccessPolicy
from .config import AccessRules
from .identity import Identity
from .login import LoginFlow
from .oidc import ProviderClient, TokenResponse
from .presets import ProviderSettings
from .secret import Secret
from .session_cookie import SessionCookie
from .sessions import Sessions
from .stores.base import SessionStore, StoreUnavailable
from .stores.memory import MemoryStore
from .stores.sqlite import SqliteStore
from .tokens import AccessTokens
from .transaction import LoginTransaction, TransactionCookies
from .vault import StoredTokens

ISSUER = "https://login.example.com"
CLIENT_ID = "bench-app"
IDENTITY = Identity(
    sub="248289761001",
    issuer=ISSUER,
    provider="bench",
    name="Alice Example",
    email="alice@example.com",
    email_verified=True,
    preferred_username="alice",
    roles=("admin", "user"),
    groups=("admins", "analysts"),
    sid="b3f1a1c2-5d7e-4e0f-9a3b-1c2d3e4f5a6b",
    auth_time=1_700_000_000,
)


class _OfflineProvider(ProviderClient):
    """A provider client whose network answers were fetched beforehand."""

    def __init__(self, settings: ProviderSettings, keys: KeySet, tokens: dict[str, str]) -> None:
        super().__init__(settings, redirect_uri="https://app.example.com/auth/callback", timeout=5)
        self._keys = keys
        self._tokens = tokens

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def key_set(self, force_refresh: bool = False, *, throttled: bool = False) -> KeySet:
        return self._keys

    def exchange_code(self, code: str, transaction: LoginTransaction) -> TokenResponse:
        return TokenResponse(id_token=self._tokens[code], access_token=None, raw={})


def bench_provider() -> ProviderSettings:
    return ProviderSettings(
        name="bench",
        kind="oidc",
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=Secret("s"),
        discovery_url=f"{ISSUER}/.well-known/openid-configuration",
        accepted_issuers=(ISSUER,),
    )


def median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def p95_us(samples: list[int]) -> float:
    return statistics.quantiles(samples, n=20)[-1] / 1000


def time_calls(call: Callable[[], object], runs: int) -> list[int]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return samples


def bench_session_check(runs: int, store: SessionStore | None = None) -> list[int]:
    """Per-rerun checks of one live session; with a store, as a busy page makes them
    (every one counts as activity, so the throttled touch is included)."""
    secrets = [Secret("n" * 43), Secret("o" * 43)]
    lifetime = 8 * 3600.0 if store is not None else 600.0
    cookie = SessionCookie(secrets, name="streamlit_auth", timeout=lifetime, accepted_issuers={"bench": [ISSUER]})
    sessions = Sessions(cookie, store, secrets=secrets, idle_timeout=600, max_age=lifetime)
    value = sessions.start(IDENTITY).value
    if sessions.check(value).user is None:
        raise RuntimeError("benchmark session does not verify")
    time_calls(lambda: sessions.check(value), 1000)  # warm-up
    samples = time_calls(lambda: sessions.check(value), runs)
    sessions.flush()
    return samples


def bench_access_token(runs: int, store: SessionStore) -> list[int]:
    """``access_token()`` when no refresh is needed: the session check and the store read (the
    tokens are decrypted once, then again only when the stored ones change)."""
    secrets = [Secret("n" * 43)]
    cookie = SessionCookie(secrets, name="streamlit_auth", timeout=8 * 3600, accepted_issuers={"bench": [ISSUER]})
    sessions = Sessions(cookie, store, secrets=secrets, idle_timeout=600, max_age=8 * 3600)
    tokens = StoredTokens(
        id_token="h." + "i" * 900 + ".s",
        access_token="a." + "b" * 1200 + ".c",
        refresh_token="r" * 40,
        access_token_expires_at=time.time() + 3600,
    )
    value = sessions.start(IDENTITY, tokens).value
    settings = bench_provider()
    flow = LoginFlow(
        clients={"bench": _OfflineProvider(settings, KeySet([]), {})},
        sessions=sessions,
        transactions=TransactionCookies(secrets, cookie_prefix="streamlit_auth"),
        access=AccessPolicy(AccessRules()),
    )
    access_tokens = AccessTokens(sessions, flow, http_timeout=10)
    if access_tokens.get(value).value != tokens.access_token:
        raise RuntimeError("benchmark token does not come back")
    time_calls(lambda: access_tokens.get(value), 1000)
    return time_calls(lambda: access_tokens.get(value), runs)


def _redis_store(url: str | None) -> tuple[SessionStore | None, Callable[[], None], str]:
    """A Redis store from ``url``, else from a throw-away ``redis-server`` on loopback."""
    from .stores.redis import RedisStore

    if url:
        return RedisStore(url), lambda: None, url.rsplit("@", 1)[-1]
    server = shutil.which("redis-server")
    if server is None:
        return None, lambda: None, "no redis-server here; pass --redis-url"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory = tempfile.TemporaryDirectory(prefix="bench-redis-")
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", directory.name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = RedisStore(f"redis://127.0.0.1:{port}/0")
    deadline = time.monotonic() + 10
    while True:
        try:
            store.ping()
            break
        except StoreUnavailable:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                return None, directory.cleanup, "redis-server did not start"
            time.sleep(0.05)

    def stop() -> None:
        store.close()
        process.terminate()
        process.wait(10)
        directory.cleanup()

    return store, stop, f"127.0.0.1:{port}"


def bench_callback(runs: int) -> list[int]:
    secrets = [Secret("n" * 43)]
    key = RSAKey.generate_key(2048, parameters={"kid": "bench"})
    settings = bench_provider()
    transactions = TransactionCookies(secrets, cookie_prefix="streamlit_auth")
    tokens: dict[str, str] = {}
    prepared = []
    now = int(time.time())
    for index in range(runs):
        transaction = LoginTransaction.start("bench", "/")
        claims = {
            "sub": IDENTITY.sub,
            "iss": ISSUER,
            "email": IDENTITY.email,
            "email_verified": True,
            "name": IDENTITY.name,
            "preferred_username": IDENTITY.preferred_username,
            "roles": list(IDENTITY.roles),
            "groups": list(IDENTITY.groups),
            "sid": IDENTITY.sid,
            "auth_time": IDENTITY.auth_time,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": transaction.nonce,
        }
        code = f"code-{index}"
        tokens[code] = jwt.encode({"alg": "RS256", "kid": "bench"}, claims, key)
        cookies = {transactions.cookie_name(transaction.state): transactions.seal(transaction)}
        prepared.append(({"state": transaction.state, "code": code}, cookies))
    flow = LoginFlow(
        clients={"bench": _OfflineProvider(settings, KeySet([key]), tokens)},
        sessions=Sessions(
            SessionCookie(secrets, name="streamlit_auth", timeout=8 * 3600),
            MemoryStore(),
            secrets=secrets,
            idle_timeout=600,
            max_age=8 * 3600,
        ),
        transactions=transactions,
        access=AccessPolicy(AccessRules(allowed_domains=("example.com",))),
    )
    samples = []
    for params, cookies in prepared:
        started = time.perf_counter_ns()
        flow.complete(flow.open_transaction(params, cookies, callback_provider="bench"), params)
        samples.append(time.perf_counter_ns() - started)
    return samples


def machine_speed_us() -> float:
    """A fixed pure-Python workload, printed so runs on a noisy machine can be compared."""
    import timeit

    return min(timeit.repeat("sum(range(100))", number=100_000, repeat=5)) / 100_000 * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print the numbers. Uses nothing but the installed package and its dependencies
    (keys and tokens are generated here), so it runs from a wheel in any app's environment."""
    parser = argparse.ArgumentParser(prog="python -m auth.bench", description=(__doc__ or "").split("\n\n")[0] or None)
    parser.add_argument("--runs", type=int, default=20_000, help="session checks to time (default 20000)")
    parser.add_argument("--callbacks", type=int, default=500, help="callbacks to time (default 500)")
    parser.add_argument("--redis-url", help="time the Redis store at this URL (default: start a redis-server here)")
    args = parser.parse_args(argv)
    print(f"machine speed: sum(range(100)) takes {machine_speed_us():.2f} us (lower is faster)")
    print(f"per-rerun session check ({args.runs} runs each):")

    def report(label: str, samples: list[int]) -> None:
        print(f"  {label:<24} median {median_us(samples):7.1f} us, p95 {p95_us(samples):7.1f} us")

    directory = tempfile.TemporaryDirectory(prefix="bench-sqlite-")
    stores: list[tuple[str, SessionStore]] = [
        ("memory://", MemoryStore()),
        ("sqlite (WAL)", SqliteStore(Path(directory.name) / "sessions.db")),
    ]
    redis_store, stop, where = _redis_store(args.redis_url)
    if redis_store is not None:
        stores.append((f"redis ({where})", redis_store))
    try:
        report("cookie only (none)", bench_session_check(args.runs))
        for label, store in stores:
            report(label, bench_session_check(args.runs, store))
        if redis_store is None:
            print(f"  {'redis':<24} skipped: {where}")
        print(
            f"access_token() without a refresh: check + store read, decrypted once per change ({args.runs} runs each):"
        )
        for label, store in stores:
            report(label, bench_access_token(args.runs, store))
    finally:
        for label, store in stores:
            if not label.startswith("redis"):
                store.close()
        stop()
        directory.cleanup()
    callback = bench_callback(args.callbacks)
    print(
        f"callback's own work:     median {median_us(callback):.1f} us, p95 {p95_us(callback):.1f} us "
        f"({len(callback)} runs, provider calls excluded)"
    )


if __name__ == "__main__":
    main()
