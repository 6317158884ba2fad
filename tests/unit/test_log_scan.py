"""The run-wide log scan (tests/conftest.py) finds what it must and nothing else."""

from __future__ import annotations

from tests.conftest import leaked, searchable

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
CODE = "Zm9vYmFyLWNvZGUtMTIzNDU2Nzg5MA"


def test_a_token_or_code_anywhere_in_a_line_is_found() -> None:
    secrets = {JWT, CODE}
    assert leaked(f"event=login detail=token={JWT} x", secrets) == {JWT}
    assert leaked(f'event=x detail="code {CODE}"', secrets) == {CODE}
    assert leaked(f"Authorization: Bearer {JWT}", secrets) == {JWT}


def test_identifiers_that_are_not_issued_secrets_are_not_leaks() -> None:
    assert leaked("event=session_ended reason=logout provider=local sub=alice sessions=1", {JWT, CODE}) == set()
    assert leaked(f"event=x value={JWT[:-3]}", {JWT}) == set()


def test_a_token_cut_short_in_a_log_line_is_still_found() -> None:
    secrets = searchable({JWT})
    cut = JWT[: JWT.rindex(".") + 4] + "…"
    assert leaked(f"event=x value={cut}", secrets) == {JWT.split(".")[1]}
