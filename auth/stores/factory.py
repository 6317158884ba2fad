"""One place that turns a store URL into a store: parsing (pure) apart from opening.

``parse_store_url`` only reads text, so configuration can validate a URL and
report it with every other problem before anything connects; ``open_store``
builds the store, which still does no I/O until its first call. The forms
follow SQLAlchemy for SQLite (three slashes: relative, four: absolute) and
redis-py for Redis. A Redis URL may hold a password, so it is kept as a
``Secret`` and no message here ever repeats the text it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ..secret import Secret
from .base import SessionStore
from .memory import MemoryStore
from .sqlite import SqliteStore

StoreKind = Literal["none", "memory", "sqlite", "redis"]

FORMS = (
    "sqlite:///relative/path.db (relative to {base_dir}), sqlite:////absolute/path.db, "
    "redis://[:password@]host:port/db, rediss://[:password@]host:port/db (TLS), memory:// or none"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,19}")


@dataclass(frozen=True)
class StoreSpec:
    """Which store to open: ``path`` for sqlite, ``url`` (may hold a password) for redis."""

    kind: StoreKind
    path: Path | None = None
    url: Secret | None = None

    def describe(self) -> str:
        """For logs and ``doctor``: where the sessions are, without a password."""
        if self.kind == "sqlite":
            return f"sqlite {self.path}"
        if self.kind == "redis" and self.url is not None:
            parts = urlsplit(self.url.value)
            login = " (with password)" if parts.password else ""
            return f"{parts.scheme} {parts.hostname}:{parts.port or 6379}/{parts.path.strip('/') or '0'}{login}"
        return self.kind


def _problem(what: str, base_dir: Path) -> ValueError:
    return ValueError(f"{what}. A session store URL is one of: {FORMS.format(base_dir=base_dir)}")


def parse_store_url(text: str, *, base_dir: Path) -> StoreSpec:
    """The store ``text`` names; ``ValueError`` naming every accepted form if it names none.

    ``base_dir`` anchors relative SQLite paths (the app's directory, not the
    working directory of whoever started it).
    """
    text = text.strip()
    if text == "none":
        return StoreSpec("none")
    if text == "memory://":
        return StoreSpec("memory")
    if text.lower().startswith("memory:"):
        raise _problem("memory:// takes nothing after its two slashes", base_dir)
    scheme, separator, rest = text.partition("://")
    if not separator:
        raise _problem("Not a session store URL", base_dir)
    scheme = scheme.lower()
    if scheme == "sqlite":
        return StoreSpec("sqlite", path=_sqlite_path(rest, base_dir))
    if scheme in ("redis", "rediss"):
        _check_redis(text, base_dir)
        return StoreSpec("redis", url=Secret(text))
    named = f" '{scheme}'" if _SCHEME.fullmatch(scheme) else ""
    raise _problem(f"Unknown session store type{named}", base_dir)


def _sqlite_path(rest: str, base_dir: Path) -> Path:
    if not rest.startswith("/"):
        raise _problem("A sqlite URL has three slashes before a relative path, four before an absolute one", base_dir)
    path = rest[1:]
    if not path.strip("/"):
        raise _problem("The sqlite URL names no file", base_dir)
    if path == ":memory:":
        raise _problem("An in-memory SQLite database is private to one connection; use memory://", base_dir)
    if any(char in path for char in "?#"):
        raise _problem("The sqlite URL has options (after ? or #); none are supported", base_dir)
    if path.endswith("/"):
        raise _problem("The sqlite URL names a directory, not a file", base_dir)
    return Path(path) if path.startswith("/") else base_dir / path


def _check_redis(text: str, base_dir: Path) -> None:
    parts = urlsplit(text)
    if not parts.hostname:
        raise _problem("The redis URL names no host", base_dir)
    try:
        parts.port  # noqa: B018 (urllib checks the port only when it is read)
    except ValueError:
        raise _problem("The redis URL's port is not a number from 0 to 65535", base_dir) from None
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise _problem("The redis URL's database (after the last /) is not a number", base_dir)
    if parts.query or parts.fragment:
        raise _problem("The redis URL has options (after ? or #); none are supported", base_dir)


def open_store(spec: StoreSpec, *, app_id: str = "") -> SessionStore | None:
    """The store for ``spec`` (None for ``none``); no connection is made yet.

    ``app_id`` keeps this app's sessions apart from other apps' in a shared store
    (see ``auth.app_id``): the Redis key prefix names it, SQLite rows carry it.
    """
    if spec.kind == "none":
        return None
    if spec.kind == "memory":
        return MemoryStore()
    if spec.kind == "sqlite" and spec.path is not None:
        return SqliteStore(spec.path, app=app_id)
    if spec.kind == "redis" and spec.url is not None:
        # Imported here: redis-py takes about 0.2 s to import, which apps on SQLite need not pay.
        from .redis import KEY_PREFIX, RedisStore

        return RedisStore(spec.url.value, key_prefix=f"{KEY_PREFIX}{app_id}:" if app_id else KEY_PREFIX)
    raise ValueError(
        f"incomplete store spec: {spec.describe()} without its {'path' if spec.kind == 'sqlite' else 'URL'}"
    )
