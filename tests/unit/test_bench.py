"""``auth.bench`` keeps working as the code under it changes (numbers are its own business)."""

from __future__ import annotations

from auth.bench import bench_callback, bench_session_check


def test_session_check_benchmark_runs() -> None:
    assert len(bench_session_check(50)) == 50


def test_callback_benchmark_completes_real_sign_ins() -> None:
    assert len(bench_callback(3)) == 3


def test_access_token_benchmark_reads_and_decrypts_without_refreshing() -> None:
    from auth.bench import bench_access_token
    from auth.stores.memory import MemoryStore

    assert len(bench_access_token(20, MemoryStore())) == 20
