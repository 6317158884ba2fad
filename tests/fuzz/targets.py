"""The fuzz targets, by name: the registry ``tests/fuzz/test_fuzz_routes.py`` and
``scripts/fuzz.py`` both read.

Targets (a) to (g) live in ``tests/fuzz/harness.py`` with the stack and the shared
checks; newer ones in modules of their own that import the harness: (h)
``/auth/logout`` in ``tests/fuzz/logout_target.py``. This module imports them all,
so none of them needs to import another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fuzz import harness, logout_target
from tests.fuzz.harness import FuzzStack, Verdict


@dataclass(frozen=True)
class Target:
    """A fuzz target: its strategy, its runner, and its share of a long run."""

    name: str
    strategy: st.SearchStrategy[Any]
    runner: Callable[[FuzzStack, Any, Verdict], None]
    weight: int

    def execute(self, stack: FuzzStack, case: Any) -> Verdict:
        verdict = Verdict(self.name)
        self.runner(stack, case, verdict)
        return verdict


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("login_query", harness.login_queries(), harness.run_query, 2),
        Target("callback_query", harness.callback_queries(), harness.run_query, 2),
        Target("session_cookie", harness.session_cookie_cases(), harness.run_session_cookie, 2),
        Target("transaction_cookie", harness.transaction_cookie_cases(), harness.run_transaction_cookie, 2),
        Target("real_callback", harness.real_callback_cases(), harness.run_real_callback, 1),
        Target("host_header", harness.host_cases(), harness.run_host, 1),
        Target("next_redirect", harness.next_redirect_cases(), harness.run_next_redirect, 1),
        Target("backchannel", harness.backchannel_cases(), harness.run_backchannel, 2),
        Target("logout", logout_target.logout_cases(), logout_target.run_logout, 2),
    )
}


def split_budget(total: int, names: Iterable[str] | None = None) -> dict[str, int]:
    """``total`` cases shared by weight among ``names`` (default: every target), the rounding
    remainder going to the first ones, so that the shares add up to ``total``."""
    chosen = {name: TARGETS[name] for name in (names or TARGETS)}
    weights = sum(target.weight for target in chosen.values())
    shares = {name: total * target.weight // weights for name, target in chosen.items()}
    for name in list(shares)[: total - sum(shares.values())]:
        shares[name] += 1
    return {name: max(1, share) for name, share in shares.items()}
