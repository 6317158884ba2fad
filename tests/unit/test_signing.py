"""``auth.signing``: one accepted spelling per signed value (CI once found a second one)."""

from __future__ import annotations

import secrets
import string

import pytest

from auth.secret import Secret
from auth.signing import LOGOUT_SALT, SESSION_SALT, TimedSigner

# In base64 order: a character's index is the six bits it carries.
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture(params=[SESSION_SALT, LOGOUT_SALT])
def signer(request: pytest.FixtureRequest) -> TimedSigner:
    return TimedSigner([Secret(secrets.token_urlsafe(32))], request.param, lambda: 1_700_000_000.0)


@pytest.mark.parametrize("attempt", range(20))
def test_only_the_written_last_character_verifies(signer: TimedSigner, attempt: int) -> None:
    """Base64 decoding ignores the last character's two unused bits, so before the
    canonical check four of these 64 spellings verified."""
    signed = signer.sign({"n": attempt})
    accepted = [c for c in ALPHABET if signer.unsign(signed[:-1] + c, max_age=None) is not None]
    assert accepted == [signed[-1]]


def test_a_non_canonical_signature_is_reported_as_bad(signer: TimedSigner) -> None:
    signed = signer.sign("x")
    last = ALPHABET.index(signed[-1])
    sibling = signed[:-1] + ALPHABET[last ^ 1]  # same decoded bytes, other spelling
    assert signer.unsign(sibling, max_age=None) is None
    assert signer.failure(sibling, max_age=None) == "BadTimeSignature"
    assert signer.failure(signed, max_age=None) == "none"


@pytest.mark.parametrize("value", ["", "nodots", "a.b.é", "a.b.c=", "a.b.!!", "a.b." + "A" * 43])
def test_garbage_is_refused_without_an_exception(signer: TimedSigner, value: str) -> None:
    assert signer.unsign(value, max_age=None) is None
    assert signer.failure(value, max_age=None) != "none"
