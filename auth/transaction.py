"""The login transaction: what the callback must check, carried by the browser itself.

Between ``/auth/login`` and ``/auth/callback`` we must remember ``state``,
``nonce``, the PKCE ``code_verifier``, the provider and where to return. A
signed, HttpOnly, short-lived cookie holds them, so no server memory is
shared between processes and only the browser that started a sign-in can
finish it (a stolen callback URL is useless elsewhere). Each transaction has
its own cookie, named after its state, so two tabs signing in at once do not
overwrite each other.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from .errors import LoginTransactionMissing, StateMismatch
from .secret import Secret
from .signing import TRANSACTION_SALT, Clock, TimedSigner

TRANSACTION_MAX_AGE = 600  # seconds a user may spend at the provider's login page
# Sign-ins a browser may have open at once (tabs, abandoned attempts). Older ones are
# deleted so that their cookies never add up past a browser's or server's header limits.
MAX_OPEN_TRANSACTIONS = 3
_NAME_STATE_CHARS = 16
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class LoginTransaction:
    provider: str
    state: str
    nonce: str
    code_verifier: str
    next_path: str

    @property
    def code_challenge(self) -> str:
        """RFC 7636 §4.2: BASE64URL(SHA256(code_verifier))."""
        return str(create_s256_code_challenge(self.code_verifier))

    @classmethod
    def from_payload(cls, payload: Any) -> LoginTransaction | None:
        """The transaction a verified cookie holds, or None if its shape is not this
        release's (an older cookie or a bug must mean "start again", not a crash)."""
        if not isinstance(payload, dict) or set(payload) != _FIELDS:
            return None
        if not all(isinstance(value, str) and value for value in payload.values()):
            return None
        return cls(**payload)

    @classmethod
    def start(cls, provider: str, next_path: str) -> LoginTransaction:
        """Fresh random values: 256-bit state and nonce, a 43+ character verifier (RFC 7636 §4.1)."""
        return cls(
            provider=provider,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            next_path=next_path,
        )


_FIELDS = frozenset(field.name for field in fields(LoginTransaction))


class TransactionCookies:
    """Seals transactions into cookies and opens them, exactly once each."""

    def __init__(
        self,
        secrets: Sequence[Secret],
        *,
        cookie_prefix: str,
        path: str = "/auth",
        clock: Clock = time.time,
    ) -> None:
        """Cookies are named ``<cookie_prefix>_tx_<state>`` and sent only to ``path`` (the
        ``/auth`` routes: the callback reads them, ``/auth/login`` prunes old ones), except
        under a ``__Host-`` prefix, which requires Path=/ (RFC 6265bis §4.1.3.2): there the
        prefix's guarantee (no sibling subdomain can plant one) is worth more."""
        self._signer = TimedSigner(secrets, TRANSACTION_SALT, clock)
        self._prefix = f"{cookie_prefix}_tx_"
        self.path = "/" if cookie_prefix.startswith("__Host-") else path
        self._spent = _SpentStates(TRANSACTION_MAX_AGE, clock)

    def cookie_name(self, state: str) -> str:
        """``<prefix>_tx_<first characters of state>``: only ASCII letters, digits, ``-``
        and ``_`` (a state from the query may hold anything; a cookie name may not)."""
        return self._prefix + "".join(c for c in state[:_NAME_STATE_CHARS] if c in _NAME_CHARS)

    def seal(self, transaction: LoginTransaction) -> str:
        return self._signer.sign(asdict(transaction))

    def open(self, cookies: Mapping[str, str], state: str | None) -> LoginTransaction:
        """The transaction this ``state`` belongs to; raises if absent, forged or reused.

        The state comparison is constant-time, and a state is accepted once per
        process even if the browser (or an attacker holding the cookie) replays
        the callback; the provider's single-use code is the second line.
        """
        if not state:
            raise StateMismatch("callback without state")
        sealed = cookies.get(self.cookie_name(state))
        if sealed is None:
            if self.names_in(cookies):
                raise StateMismatch("state matches no login transaction of this browser")
            raise LoginTransactionMissing("no login transaction cookie")
        verified = self._signer.unsign(sealed, max_age=TRANSACTION_MAX_AGE)
        if verified is None:
            reason = self._signer.failure(sealed, max_age=TRANSACTION_MAX_AGE)
            raise LoginTransactionMissing(f"unusable transaction cookie: {reason}")
        transaction = LoginTransaction.from_payload(verified[0])
        if transaction is None:
            raise LoginTransactionMissing("unusable transaction cookie: unknown shape")
        if not hmac.compare_digest(transaction.state.encode(), state.encode()):
            raise StateMismatch("state differs from the transaction's")
        if not self._spent.claim(transaction.state):
            raise LoginTransactionMissing("state already used")
        return transaction

    def names_in(self, cookies: Mapping[str, str]) -> list[str]:
        """Names among ``cookies`` that this app could have set as transaction cookies
        (others, whatever the browser sends, are neither read nor deleted)."""
        return [name for name in cookies if self.is_own_name(name)]

    def is_own_name(self, name: str) -> bool:
        suffix = name[len(self._prefix) :]
        return (
            name.startswith(self._prefix)
            and 0 < len(suffix) <= _NAME_STATE_CHARS
            and all(c in _NAME_CHARS for c in suffix)
        )

    def surplus(self, cookies: Mapping[str, str], keep: int = MAX_OPEN_TRANSACTIONS - 1) -> list[str]:
        """Transaction cookies to delete so that at most ``keep`` remain: unreadable ones
        first, then the oldest. Called before a new sign-in adds one more."""
        dated: list[tuple[float, str]] = []
        for name in self.names_in(cookies):
            dated.append((self._signed_at(cookies[name]), name))
        dated.sort(reverse=True)
        return [name for _, name in dated[keep:]]

    def _signed_at(self, value: str) -> float:
        verified = self._signer.unsign(value, max_age=None)
        return verified[1] if verified is not None else float("-inf")


class _SpentStates:
    """States already consumed in this process, forgotten once their cookie has expired anyway."""

    def __init__(self, ttl: float, clock: Clock) -> None:
        self._ttl = ttl
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, state: str) -> bool:
        now = self._clock()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self._ttl:
                self._seen.popitem(last=False)
            if state in self._seen:
                return False
            self._seen[state] = now
            return True
