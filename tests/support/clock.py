"""A clock tests set by hand, for the modules that take ``clock=``."""

from __future__ import annotations

T0 = 1_700_000_000


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
