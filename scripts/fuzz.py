#!/usr/bin/env python
"""Fuzz the /auth routes in process, at volume, and print what happened.

    .venv/bin/python scripts/fuzz.py                    # 10,000 cases over every target
    .venv/bin/python scripts/fuzz.py --examples 2000 --seed 7

Runs the fuzz targets of ``tests/fuzz/harness.py`` (the same strategies and
invariants as ``tests/fuzz``, with a larger budget) against two local OpenID
providers on 127.0.0.1; all app traffic stays in this process. The targets
cover ``/auth/login``, the callbacks, ``/auth/logout`` and
``/auth/backchannel-logout`` (``--target`` lists them; ``tests/fuzz/targets.py``
registers them). Instead of stopping at the first failure like the tests, it
counts every case: per target, per status code, per outcome a target notes (for
``backchannel``: each refusal's ``error_description``, how the harness judged
each provider-built token, the watched sessions genuine tokens ended; for
``logout``: the cookie sent, what the judge said and the app answered, the
watched sessions a sign-out ended), per broken invariant, and shows the
first few reproducers of each. Exit status: 0 clean, 1 an invariant failed, 2
the time budget ran out first.

A target runs in chunks, each a fresh hypothesis run with its own seed
(printed), so progress shows as it goes and the time budget is checked often.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import given, seed

from tests.fuzz import harness, logout_target, targets

REPRODUCERS_PER_KIND = 3


@dataclass
class FuzzStats:
    """Counts over every verdict, and the first reproducers of each broken invariant."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    target_statuses: dict[str, Counter[str]] = field(default_factory=dict)
    target_notes: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    verify_calls: int = 0
    reproducers: dict[str, dict[str, str]] = field(default_factory=dict)

    def record(self, verdict: harness.Verdict, case: Any) -> None:
        self.cases[verdict.target] += 1
        self.verify_calls += verdict.verify_calls
        self.statuses.update(status for _, status in verdict.responses)
        self.target_statuses.setdefault(verdict.target, Counter()).update(
            f"{route} {status}" for route, status in verdict.responses
        )
        if verdict.notes:
            self.target_notes.setdefault(verdict.target, Counter()).update(verdict.notes)
        for violation in verdict.violations:
            self.violations[violation.kind] += 1
            found = self.reproducers.setdefault(violation.kind, {})
            # One reproducer per distinct ending (an exception's two deepest project frames,
            # else the whole one-line detail): roughly one per distinct bug.
            headline = "\n".join(line[:200] for line in violation.detail.split("\n")[-2:])
            if len(found) < REPRODUCERS_PER_KIND and headline not in found:
                found[headline] = f"[{verdict.target}] case={harness.clip(case, 700)}\n    {violation.detail[:2000]}"

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if 500 <= status <= 599)


def run_chunk(
    stack: harness.FuzzStack, target: targets.Target, examples: int, chunk_seed: int, stats: FuzzStats
) -> None:
    """One hypothesis run of ``examples`` cases. Verdicts are counted, never raised, so
    one broken invariant does not hide the others (the tests shrink a failing case)."""

    @harness.fuzz_settings(examples)
    @seed(chunk_seed)
    @given(case=target.strategy)
    def fuzz(case: Any) -> None:
        stats.record(target.execute(stack, case), case)

    fuzz()


def run_target(
    stack: harness.FuzzStack,
    target: targets.Target,
    budget: int,
    chunk: int,
    base_seed: int,
    stats: FuzzStats,
    deadline: float,
) -> bool:
    """Every chunk of one target; False when the time budget ran out first."""
    done, index = 0, 0
    while done < budget:
        if time.monotonic() > deadline:
            print(f"  {target.name}: time budget reached after {done} of {budget} cases", flush=True)
            return False
        size = min(chunk, budget - done)
        before, chunk_started = stats.cases[target.name], time.monotonic()
        run_chunk(stack, target, size, base_seed + index, stats)
        stats.seconds[target.name] += time.monotonic() - chunk_started
        done += size
        index += 1
        ran = stats.cases[target.name] - before
        broken = sum(stats.violations.values())
        print(
            f"  {target.name}: chunk {index} (seed {base_seed + index - 1}) ran {ran} cases; "
            f"{stats.cases[target.name]} so far; violations overall: {broken}",
            flush=True,
        )
    return True


def report(stats: FuzzStats, elapsed: float) -> None:
    print("\n== cases per target")
    for name in targets.TARGETS:
        if name in stats.cases:
            print(f"  {name:20} {stats.cases[name]:7d}   {stats.seconds[name]:6.1f} s")
    print(f"  {'total':20} {stats.total:7d}   (+ {stats.verify_calls} direct sessions.verify calls)")
    print("\n== status codes")
    for status, count in sorted(stats.statuses.items()):
        print(f"  {status}: {count}")
    for name, counts in stats.target_statuses.items():
        print(f"  {name:20} " + ", ".join(f"{key}: {n}" for key, n in sorted(counts.items())))
    for name, notes in stats.target_notes.items():
        print(f"\n== outcomes: {name}")
        for note, count in notes.most_common():
            print(f"  {count:7d}  {note}")
    print("\n== invariants")
    print(
        f"  5xx responses:                      {stats.server_errors} "
        f"(busy 503s allowed; flagged server errors: {stats.violations[harness.SERVER_ERROR]})"
    )
    print(f"  sessions created from fuzzed input: {stats.violations[harness.SESSION_SET]}")
    print(f"  fuzzed values verified as sessions: {stats.violations[harness.VERIFY_ACCEPTED]}")
    print(f"  reflected-input findings:           {stats.violations[harness.REFLECTED]}")
    print(f"  exceptions raised (500s in prod.):  {stats.violations[harness.RAISED]}")
    print(f"  open redirects:                     {stats.violations[harness.OPEN_REDIRECT]}")
    print(f"  statuses outside the contract:      {stats.violations[harness.UNEXPECTED_STATUS]}")
    print(f"  logout tokens wrongly accepted:     {stats.violations[harness.LOGOUT_ACCEPTED]}")
    print(f"  sessions ended, no genuine token:   {stats.violations[harness.SESSION_ENDED]}")
    print(f"  accepted logout tokens not obeyed:  {stats.violations[harness.LOGOUT_IGNORED]}")
    print(f"  error_description not fixed:        {stats.violations[harness.NOT_FIXED]}")
    print(f"  logout against the judge's rule:    {stats.violations[logout_target.LOGOUT_DECISION]}")
    print(f"  logout: not the confirmation page:  {stats.violations[logout_target.NOT_CONFIRMATION]}")
    print(f"  logout: wrong 303 (cookie, target): {stats.violations[logout_target.SIGN_OUT_RESPONSE]}")
    print(
        f"  logout: sessions ended wrongly / left live: {stats.violations[logout_target.SESSION_ENDED_WRONGLY]} / "
        f"{stats.violations[logout_target.SESSION_LEFT_LIVE]}"
    )
    print(
        f"  forged log lines / tracebacks:      {stats.violations[harness.LOG_FORGING]} / "
        f"{stats.violations[harness.TRACEBACK_LOGGED]}"
    )
    for kind, found in stats.reproducers.items():
        print(f"\n== first reproducers: {kind} ({stats.violations[kind]} in all)")
        for text in found.values():
            print(f"  {text}")
    print(f"\nelapsed: {elapsed:.1f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--examples",
        type=int,
        default=10_000,
        help="total generated cases, shared by the targets' weights (default 10000)",
    )
    parser.add_argument("--seed", type=int, default=None, help="base seed (default: random, printed)")
    parser.add_argument("--chunk", type=int, default=250, help="cases per hypothesis run (default 250)")
    parser.add_argument(
        "--max-seconds", type=float, default=900.0, help="stop starting new chunks after this long (default 900)"
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=sorted(targets.TARGETS),
        help="fuzz only this target (repeatable); --examples is then shared among these",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base_seed = args.seed if args.seed is not None else random.randrange(2**32)
    budgets = targets.split_budget(args.examples, args.target)
    print(
        f"fuzzing {sum(budgets.values())} cases, base seed {base_seed}: "
        + ", ".join(f"{name}={n}" for name, n in budgets.items()),
        flush=True,
    )
    stats = FuzzStats()
    started = time.monotonic()
    complete = True
    with harness.running_stack() as stack:
        print(f"stack ready: callbacks {stack.callback_paths}", flush=True)
        for offset, (name, budget) in enumerate(budgets.items()):
            target_seed = base_seed + offset * 1_000_003
            complete &= run_target(
                stack, targets.TARGETS[name], budget, args.chunk, target_seed, stats, started + args.max_seconds
            )
    report(stats, time.monotonic() - started)
    if sum(stats.violations.values()):
        print("FAILED: invariants broken (see the reproducers above; tests/fuzz shrinks them)")
        return 1
    if not complete:
        print("INCOMPLETE: the time budget ran out before every case ran")
        return 2
    print("OK: every invariant held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
