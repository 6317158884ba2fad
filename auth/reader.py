"""Reads settings from an environment mapping and collects problems instead of raising.

Kept apart from the rules in ``auth.config`` and ``auth.presets`` so both
share one notion of "unset", one ``<VAR>_FILE`` convention and one list of
problems.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from .secret import Secret

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback_host(host: str | None) -> bool:
    """True for hosts that only this machine can reach (plain http is tolerable there)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_allowed(url: str, insecure_hosts: Collection[str] = ()) -> bool:
    """May the app fetch (or send a browser to) this provider URL?

    https always; plain http only to this machine or to a host the operator
    listed for a private development network, because anyone on the path of
    a plain-http fetch could swap the keys that ID tokens are checked against.
    """
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http":
        return False
    host = (parts.hostname or "").lower()
    return is_loopback_host(host) or host in insecure_hosts


class EnvReader:
    """A view of the environment that remembers what was read and what was wrong."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._read: set[str] = set()
        self.problems: list[str] = []

    def get(self, name: str) -> str | None:
        """The trimmed value, or None when unset or blank."""
        self._read.add(name)
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def secret(self, name: str) -> Secret | None:
        """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/Kubernetes secrets).

        Setting both is a problem: which one wins would be a guess.
        """
        direct = self.get(name)
        file_name = self.get(f"{name}_FILE")
        if direct is not None and file_name is not None:
            self.problem(f"{name} and {name}_FILE are both set; set only one of them")
            return None
        if file_name is None:
            return Secret(direct) if direct is not None else None
        path = Path(file_name)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else "unreadable"
            self.problem(f"{name}_FILE: cannot read {file_name!r} ({reason})")
            return None
        if not value:
            self.problem(f"{name}_FILE: {file_name!r} is empty")
            return None
        return Secret(value)

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def has_problem_for(self, name: str) -> bool:
        return any(problem.startswith(name) for problem in self.problems)

    def unread(self, prefix: str) -> Iterator[str]:
        """Set variables with this prefix that no rule has looked at."""
        for name, value in self._environ.items():
            if name.startswith(prefix) and name not in self._read and value.strip():
                yield name
