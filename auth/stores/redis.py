"""Sessions in Redis, through redis-py: shared by every server process, forgotten on their own.

Key layout (``streamlit-oidc-auth:`` is the default prefix)::

    <prefix>session:<session_id>                  hash, one field per record field; TTL = expires_at - now
    <prefix>user:<len(provider)>:<provider>:<sub>  set of session ids; TTL = the longest of its sessions
    <prefix>sid:<len(provider)>:<provider>:<sid>   set of session ids; TTL likewise
    <prefix>claim:<key>                            "1" with TTL = until - now (``claim_once``), or
                                                   the lock's owner, likewise (``acquire_lock``)

Redis deletes a session when its ``expires_at`` passes, ended or not, and an
index set once its last session could have lived; a set may name sessions that
are already gone, and those are dropped when met. The provider name is written
with its length so that no (provider, sub) pair can spell another's key.
A lock shares the claims' keys, so of a ``claim_once`` and an ``acquire_lock``
on one key only the first holds it; renewing and releasing a lock compare its
owner and change it in one script, so nobody but the owner can do either.
Every change to one session is one Lua script (atomic on the server, and
``last_active_at`` is compared there, so touches never move it backwards);
"end all" runs that script once per indexed session. Times are written as
Python's ``repr`` of the float and compared with ``tonumber`` in Lua: the
script writes the caller's text back, never a number Lua formatted, so no
precision is lost.

Sockets time out after ``CONNECT_TIMEOUT``/``READ_TIMEOUT`` and nothing is
retried, so a dead Redis answers ``StoreUnavailable`` within about a second
(and a write is never sent twice). redis-py replaces a broken pooled
connection by itself on the next call, so the store recovers when Redis comes
back. Standalone Redis only: the scripts and "end all" assume one node.

``rediss://`` verifies the server's certificate chain against the system's
trusted CAs (OpenSSL's default paths, or the file ``SSL_CERT_FILE`` names) and
its host name, whatever redis-py version is installed; a server that fails
either is ``StoreUnavailable``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import (
    SessionRecord,
    SessionStore,
    StoreUnavailable,
    check_lock_owner,
    claims_from_json,
    claims_to_json,
)

Clock = Callable[[], float]

KEY_PREFIX = "streamlit-oidc-auth:"
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0

# KEYS: session, user index[, sid index]; ARGV: ttl ms, session id, field, value, ...
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
local ttl = tonumber(ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[2])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
"""
# KEYS: session; ARGV: at
_TOUCH = """
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'ended_at', 'last_active_at')
if not f[1] or f[2] then return 0 end
local at = tonumber(ARGV[1])
if at < tonumber(f[1]) and at > tonumber(f[3]) then
  redis.call('HSET', KEYS[1], 'last_active_at', ARGV[1])
  return 1
end
return 0
"""
# KEYS: session; ARGV: at, reason, then field, value pairs the record must have.
# Returns -1 when the session is gone (so an index can drop it), 0 when not live or not matching.
_END = """
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'ended_at')
if not f[1] then return -1 end
if f[2] or tonumber(ARGV[1]) >= tonumber(f[1]) then return 0 end
for i = 3, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
redis.call('HSET', KEYS[1], 'ended_at', ARGV[1], 'end_reason', ARGV[2])
redis.call('HDEL', KEYS[1], 'tokens')
return 1
"""
# KEYS: session; ARGV: tokens
_SET_TOKENS = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'ended_at') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'tokens', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'claims', ARGV[2]) end
return 1
"""

# KEYS: claim; ARGV: owner, ttl ms. Free, or held by this owner: hold it (again) for ttl.
_ACQUIRE_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: claim; ARGV: the value that must be there (an owner, or "1" for a claim_once claim)
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_CLAIMED = b"1"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _float(value: float) -> str:
    return repr(float(value))


class RedisStore(SessionStore):
    def __init__(self, url: str, *, clock: Clock = time.time, key_prefix: str = KEY_PREFIX) -> None:
        """``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` (TLS). No I/O here."""
        parts = urlsplit(url)
        self._backend = f"{parts.scheme} {parts.hostname}:{parts.port or 6379}/{parts.path.strip('/') or '0'}"
        # Scrubbed from every message, in case a failure ever quotes the URL.
        self._hidden = {text for text in (parts.password, unquote(parts.password or "")) if text}
        self._clock = clock
        self._prefix = key_prefix
        # TLS verifies the chain (redis-py's default, ssl_cert_reqs="required") and the host name
        # (RFC 6125 §6), said here because redis-py before 6.0 checks no host name by default. Only
        # for rediss://: plain connections take no ssl_* arguments.
        tls = {"ssl_check_hostname": True} if parts.scheme.lower() == "rediss" else {}
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=READ_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
            **tls,
        )
        self._create = self._client.register_script(_CREATE)
        self._touch = self._client.register_script(_TOUCH)
        self._end = self._client.register_script(_END)
        self._set_tokens = self._client.register_script(_SET_TOKENS)
        self._acquire_lock = self._client.register_script(_ACQUIRE_LOCK)
        self._delete_if = self._client.register_script(_DELETE_IF)

    # -- keys and failures ------------------------------------------------------------

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def _user_key(self, provider: str, sub: str) -> str:
        return f"{self._prefix}user:{len(provider)}:{provider}:{sub}"

    def _sid_key(self, provider: str, provider_sid: str) -> str:
        return f"{self._prefix}sid:{len(provider)}:{provider}:{provider_sid}"

    def _claim_key(self, key: str) -> str:
        return f"{self._prefix}claim:{key}"

    def _failure(self, error: redis.RedisError) -> str:
        text = str(error) or type(error).__name__
        for hidden in self._hidden:
            text = text.replace(hidden, "***")
        if isinstance(error, redis.TimeoutError):
            return f"timed out ({text})"
        if isinstance(error, redis.AuthenticationError):
            return f"authentication failed ({text})"
        if isinstance(error, redis.BusyLoadingError):
            return f"still loading its data ({text})"
        if isinstance(error, redis.ConnectionError):
            return f"cannot connect ({text})"
        if isinstance(error, redis.exceptions.OutOfMemoryError):
            return f"out of memory, refusing writes ({text})"
        if isinstance(error, redis.exceptions.ReadOnlyError):
            return f"a read-only replica, refusing writes ({text})"
        if isinstance(error, redis.ResponseError):
            return f"refused the command ({text})"
        return f"{type(error).__name__} ({text})"

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Every Redis failure becomes ``StoreUnavailable``; bad arguments (``DataError``) stay bugs."""
        try:
            yield
        except redis.DataError:
            raise
        except redis.RedisError as error:
            raise StoreUnavailable(self._backend, self._failure(error)) from error

    def _ttl_ms(self, until: float) -> int:
        return math.ceil((until - self._clock()) * 1000)

    # -- the store --------------------------------------------------------------------

    def create(self, record: SessionRecord) -> None:
        fields: list[str | bytes] = [
            "provider",
            record.provider,
            "sub",
            record.sub,
            "created_at",
            _float(record.created_at),
            "last_active_at",
            _float(record.last_active_at),
            "expires_at",
            _float(record.expires_at),
            "claims",
            claims_to_json(record.claims),
        ]
        optional: tuple[tuple[str, str | bytes | None], ...] = (
            ("provider_sid", record.provider_sid),
            ("ended_at", None if record.ended_at is None else _float(record.ended_at)),
            ("end_reason", record.end_reason),
            ("tokens", record.tokens),
        )
        fields += [item for name, value in optional if value is not None for item in (name, value)]
        keys = [self._session_key(record.session_id), self._user_key(record.provider, record.sub)]
        if record.provider_sid is not None:
            keys.append(self._sid_key(record.provider, record.provider_sid))
        ttl = self._ttl_ms(record.expires_at)
        with self._answering():
            if ttl <= 0:
                created = not self._client.exists(keys[0])
            else:
                created = self._create(keys=keys, args=[ttl, record.session_id, *fields]) == 1
        if not created:
            raise ValueError("session id already in the store")

    def get(self, session_id: str) -> SessionRecord | None:
        with self._answering():
            raw = self._client.hgetall(self._session_key(session_id))
        if not raw:
            return None
        found = {_text(name): value for name, value in raw.items()}

        def optional_float(name: str) -> float | None:
            return float(found[name]) if name in found else None

        def optional_text(name: str) -> str | None:
            return _text(found[name]) if name in found else None

        tokens = found.get("tokens")
        return SessionRecord(
            session_id=session_id,
            provider=_text(found["provider"]),
            sub=_text(found["sub"]),
            provider_sid=optional_text("provider_sid"),
            created_at=float(found["created_at"]),
            last_active_at=float(found["last_active_at"]),
            expires_at=float(found["expires_at"]),
            claims=claims_from_json(_text(found["claims"])),
            ended_at=optional_float("ended_at"),
            end_reason=optional_text("end_reason"),
            tokens=tokens.encode("utf-8") if isinstance(tokens, str) else tokens,
        )

    def touch(self, session_id: str, at: float) -> None:
        with self._answering():
            self._touch(keys=[self._session_key(session_id)], args=[_float(at)])

    def end(self, session_id: str, reason: str, at: float) -> bool:
        with self._answering():
            return bool(self._end(keys=[self._session_key(session_id)], args=[_float(at), reason]) == 1)

    def _end_indexed(self, index_key: str, must_have: list[str], reason: str, at: float) -> list[str]:
        ended: list[str] = []
        gone: list[str] = []
        with self._answering():
            for member in sorted(_text(member) for member in self._client.smembers(index_key)):
                outcome: Any = self._end(keys=[self._session_key(member)], args=[_float(at), reason, *must_have])
                if outcome == 1:
                    ended.append(member)
                elif outcome == -1:
                    gone.append(member)
            if gone:
                self._client.srem(index_key, *gone)
        return ended

    def end_all_for_user(self, provider: str, sub: str, reason: str, at: float) -> list[str]:
        return self._end_indexed(self._user_key(provider, sub), ["provider", provider, "sub", sub], reason, at)

    def end_by_provider_sid(self, provider: str, provider_sid: str, reason: str, at: float) -> list[str]:
        return self._end_indexed(
            self._sid_key(provider, provider_sid), ["provider", provider, "provider_sid", provider_sid], reason, at
        )

    def claim_once(self, key: str, until: float) -> bool:
        ttl = self._ttl_ms(until)
        if ttl <= 0:
            return False
        with self._answering():
            return bool(self._client.set(self._claim_key(key), _CLAIMED, nx=True, px=ttl))

    def release(self, key: str) -> None:
        with self._answering():
            self._delete_if(keys=[self._claim_key(key)], args=[_CLAIMED])

    def acquire_lock(self, key: str, owner: str, until: float) -> bool:
        check_lock_owner(owner)
        ttl = self._ttl_ms(until)
        if ttl <= 0:
            return False
        with self._answering():
            return bool(self._acquire_lock(keys=[self._claim_key(key)], args=[owner, ttl]) == 1)

    def release_lock(self, key: str, owner: str) -> bool:
        with self._answering():
            return bool(self._delete_if(keys=[self._claim_key(key)], args=[owner]) == 1)

    def set_tokens(self, session_id: str, tokens: bytes, claims: Mapping[str, Any] | None = None) -> None:
        new_claims = claims_to_json(claims) if claims is not None else ""
        with self._answering():
            self._set_tokens(keys=[self._session_key(session_id)], args=[bytes(tokens), new_claims])

    def ping(self) -> None:
        with self._answering():
            self._client.ping()

    def close(self) -> None:
        with self._answering():
            self._client.close()
