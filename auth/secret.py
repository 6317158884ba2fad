"""A value that must never be printed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    """Wraps a secret string so that logging or printing settings cannot leak it.

    The value is reachable only through ``.value``, which makes every use of
    the raw secret greppable.
    """

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "**********"

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __len__(self) -> int:
        return len(self.value)
