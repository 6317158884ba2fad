"""SessionRecord, session ids and StoreUnavailable: what every store shares."""

from __future__ import annotations

import pytest

from auth.errors import AuthError
from auth.stores.base import SessionRecord, StoreUnavailable, claims_from_json, claims_to_json, new_session_id
from tests.stores.records import HOUR, make_record
from tests.support.clock import T0


def test_live_means_not_ended_and_before_the_absolute_end() -> None:
    record = make_record(T0)
    assert record.live_at(T0) and record.live_at(T0 + HOUR - 0.001)
    assert not record.live_at(T0 + HOUR)
    ended = make_record(T0, ended_at=T0 + 5, end_reason="logout")
    assert not ended.live_at(T0 + 1)


def test_tokens_never_appear_in_repr() -> None:
    record = make_record(T0, tokens=b"refresh-token-ciphertext")
    assert "refresh-token-ciphertext" not in repr(record)
    assert "tokens" not in repr(record)


def test_session_ids_are_long_and_url_safe() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(session_id) == 43 for session_id in ids)


@pytest.mark.parametrize("session_id", ["", "alice", "x" * 21, "x" * 129, "a" * 30 + ":" + "b" * 10, "é" * 30])
def test_short_or_odd_session_ids_are_refused(session_id: str) -> None:
    with pytest.raises(ValueError, match="^session_id must be 22 to 128 URL-safe base64 characters"):
        SessionRecord(session_id, "corp", "alice", None, T0, T0, T0 + HOUR, {})


def test_store_unavailable_is_an_auth_error_naming_backend_and_failure() -> None:
    error = StoreUnavailable("redis 127.0.0.1:6379/0", "timed out (Timeout reading from socket)")
    assert isinstance(error, AuthError)
    assert str(error) == "Session store unavailable (redis 127.0.0.1:6379/0): timed out (Timeout reading from socket)"


def test_stored_claims_must_be_a_json_object() -> None:
    assert claims_from_json(claims_to_json({"groups": ("a", "b")})) == {"groups": ["a", "b"]}
    with pytest.raises(ValueError, match="^stored claims are not a JSON object$"):
        claims_from_json("[1, 2]")


def test_claims_that_are_not_json_are_a_caller_bug_not_an_outage() -> None:
    with pytest.raises(TypeError):
        claims_to_json({"when": object()})
    with pytest.raises(ValueError):
        claims_to_json({"score": float("nan")})
