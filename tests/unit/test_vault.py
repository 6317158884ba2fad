"""``auth.vault``: tokens sealed for the store (round trip, rotation, tamper, never shown)."""

from __future__ import annotations

import secrets

import pytest

from auth.secret import Secret
from auth.vault import StoredTokens, TokensUnreadable, TokenVault

OLD, NEW = Secret(secrets.token_urlsafe(32)), Secret(secrets.token_urlsafe(32))
TOKENS = StoredTokens(
    id_token="eyJ.id.token", access_token="at-123", refresh_token="rt-456", access_token_expires_at=5.0
)
SESSION = secrets.token_urlsafe(32)


def test_round_trip_and_nothing_readable_at_rest() -> None:
    sealed = TokenVault([NEW]).seal(TOKENS, SESSION)
    assert b"at-123" not in sealed and b"rt-456" not in sealed and b"eyJ" not in sealed
    assert TokenVault([NEW]).open(sealed, SESSION) == TOKENS


def test_rotation_first_secret_seals_every_secret_opens() -> None:
    sealed_before = TokenVault([OLD]).seal(TOKENS, SESSION)
    rotated = TokenVault([NEW, OLD])
    assert rotated.open(sealed_before, SESSION) == TOKENS
    assert TokenVault([NEW]).open(rotated.seal(TOKENS, SESSION), SESSION) == TOKENS
    with pytest.raises(TokensUnreadable):
        TokenVault([OLD]).open(rotated.seal(TOKENS, SESSION), SESSION)


def test_tampered_or_foreign_blobs_are_refused() -> None:
    sealed = bytearray(TokenVault([NEW]).seal(TOKENS, SESSION))
    sealed[40] = ord("A") if sealed[40] != ord("A") else ord("B")
    with pytest.raises(TokensUnreadable):
        TokenVault([NEW]).open(bytes(sealed), SESSION)
    with pytest.raises(TokensUnreadable):
        TokenVault([NEW]).open(b"not a fernet token", SESSION)


def test_tokens_open_only_for_the_session_they_were_sealed_for() -> None:
    """Whoever can write to the store must not move a user's sealed tokens into a session of
    their own: the session id is sealed with them and checked on opening."""
    vault = TokenVault([NEW])
    sealed = vault.seal(TOKENS, SESSION)
    with pytest.raises(TokensUnreadable, match="another session"):
        vault.open(sealed, secrets.token_urlsafe(32))
    assert vault.open(sealed, SESSION) == TOKENS


def test_the_key_is_derived_not_the_secret_itself() -> None:
    """The cookie secret signs cookies; encrypting with the same bytes would mix two uses."""
    from auth.vault import derive_key

    assert NEW.value.encode() not in derive_key(NEW)
    assert derive_key(NEW) != derive_key(OLD)


def test_repr_names_which_tokens_exist_never_their_values() -> None:
    text = repr(TOKENS)
    assert "at-123" not in text and "rt-456" not in text
    assert "access_token" in text and "refresh_token" in text


def test_empty_vault_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        TokenVault([])
