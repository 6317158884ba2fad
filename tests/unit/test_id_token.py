"""``auth.id_token``: every rule of OIDC Core §3.1.3.7 with keys generated per run."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from auth.errors import InvalidIdToken
from auth.id_token import IdTokenValidator, allowed_algorithms

NOW = 1_700_000_000
ISSUER = "https://idp.example"
CLIENT_ID = "my-app"
CLIENT_SECRET = "client-secret-shared-with-the-provider"
NONCE = "nonce-0123456789"


@pytest.fixture(scope="module")
def keys() -> dict[str, RSAKey]:
    return {
        "k1": RSAKey.generate_key(2048, parameters={"kid": "k1"}),
        "impostor": RSAKey.generate_key(2048, parameters={"kid": "k1"}),
        "k2": RSAKey.generate_key(2048, parameters={"kid": "k2"}),
    }


class KeySource:
    """A ``keys(force_refresh)`` callable that records its calls; refreshes return ``refreshed``."""

    def __init__(self, current: KeySet, refreshed: KeySet | None = None) -> None:
        self.current = current
        self.refreshed = refreshed if refreshed is not None else current
        self.calls: list[bool] = []

    def __call__(self, force_refresh: bool) -> KeySet:
        self.calls.append(force_refresh)
        return self.refreshed if force_refresh else self.current


def validator(issuers: tuple[str, ...] = (ISSUER,), leeway: float = 60.0) -> IdTokenValidator:
    return IdTokenValidator(
        issuers=issuers, client_id=CLIENT_ID, algorithms=("RS256",), leeway=leeway, clock=lambda: NOW
    )


def claims(**overrides: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "user-1", "iat": NOW - 5, "exp": NOW + 300, "nonce": NONCE}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(key: RSAKey, payload: dict[str, Any], kid: str | None = None) -> str:
    header = {"alg": "RS256", "kid": kid if kid is not None else key.kid}
    return jwt.encode(header, payload, key)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.fixture
def source(keys: dict[str, RSAKey]) -> KeySource:
    return KeySource(KeySet([keys["k1"]]))


def rejected(
    token: str, source: Callable[[bool], KeySet], *, nonce: str = NONCE, check: IdTokenValidator | None = None
) -> str:
    with pytest.raises(InvalidIdToken) as caught:
        (check or validator()).validate(token, source, nonce)
    assert caught.value.status == 400
    assert caught.value.reason == "invalid_id_token"
    return str(caught.value)


# --- allowed_algorithms ---------------------------------------------------------------


def test_allowed_algorithms_keeps_only_asymmetric() -> None:
    assert allowed_algorithms(["RS256", "HS256", "none"]) == ("RS256",)
    assert allowed_algorithms(["ES256", "HS512", "PS256"]) == ("ES256", "PS256")


@pytest.mark.parametrize("advertised", [None, []])
def test_allowed_algorithms_default(advertised: list[str] | None) -> None:
    assert allowed_algorithms(advertised) == ("RS256",)


# --- signature ----------------------------------------------------------------------


def test_valid_token_returns_claims(keys: dict[str, RSAKey], source: KeySource) -> None:
    payload = claims(email="alice@example.com", auth_time=NOW - 30)
    assert validator().validate(sign(keys["k1"], payload), source, NONCE) == payload
    assert source.calls == [False]


def test_bad_signature_same_kid(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["impostor"], claims())
    assert rejected(token, source) == "ID token signature is invalid"


def test_modified_payload_breaks_signature(keys: dict[str, RSAKey], source: KeySource) -> None:
    header, _, signature = sign(keys["k1"], claims()).split(".")
    forged = b64url(json.dumps(claims(sub="admin")).encode())
    assert rejected(f"{header}.{forged}.{signature}", source) == "ID token signature is invalid"


def test_alg_none_rejected(source: KeySource) -> None:
    token = f"{b64url(json.dumps({'alg': 'none'}).encode())}.{b64url(json.dumps(claims()).encode())}."
    assert rejected(token, source) == "unsigned ID token (alg none)"
    assert source.calls == []


def test_hs256_with_client_secret_rejected(source: KeySource) -> None:
    token = jwt.encode({"alg": "HS256"}, claims(), OctKey.import_key(CLIENT_SECRET))
    assert rejected(token, source) == "ID token algorithm 'HS256' is not allowed (allowed: RS256)"
    assert source.calls == []


def test_hs256_rejected_even_with_a_matching_kid(source: KeySource) -> None:
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims(), OctKey.import_key(CLIENT_SECRET))
    assert rejected(token, source) == "ID token algorithm 'HS256' is not allowed (allowed: RS256)"


# --- iss / aud / azp ---------------------------------------------------------------------


def test_wrong_issuer(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["k1"], claims(iss="https://evil.example"))
    assert rejected(token, source) == "ID token issuer 'https://evil.example' is not the configured issuer"


def test_issuer_must_match_exactly(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["k1"], claims(iss=ISSUER + "/"))
    assert rejected(token, source) == f"ID token issuer {ISSUER + '/'!r} is not the configured issuer"


@pytest.mark.parametrize("iss", ["https://accounts.google.com", "accounts.google.com"])
def test_google_issuer_forms_accepted(keys: dict[str, RSAKey], source: KeySource, iss: str) -> None:
    check = validator(issuers=("https://accounts.google.com", "accounts.google.com"))
    assert check.validate(sign(keys["k1"], claims(iss=iss)), source, NONCE)["iss"] == iss


def test_missing_issuer(keys: dict[str, RSAKey], source: KeySource) -> None:
    assert rejected(sign(keys["k1"], claims(iss=None)), source) == "ID token issuer None is not the configured issuer"


@pytest.mark.parametrize("aud", ["other-app", ["other-app", "third-app"], None, [], 5])
def test_wrong_audience(keys: dict[str, RSAKey], source: KeySource, aud: Any) -> None:
    assert rejected(sign(keys["k1"], claims(aud=aud)), source) == "ID token audience does not include this client"


def test_audience_list_with_us_and_azp(keys: dict[str, RSAKey], source: KeySource) -> None:
    payload = claims(aud=[CLIENT_ID, "other-app"], azp=CLIENT_ID)
    assert validator().validate(sign(keys["k1"], payload), source, NONCE)["azp"] == CLIENT_ID


def test_audience_list_without_azp(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["k1"], claims(aud=[CLIENT_ID, "other-app"]))
    assert rejected(token, source) == "ID token has several audiences but no azp"


@pytest.mark.parametrize("aud", [CLIENT_ID, [CLIENT_ID, "other-app"]])
def test_azp_of_another_client(keys: dict[str, RSAKey], source: KeySource, aud: Any) -> None:
    token = sign(keys["k1"], claims(aud=aud, azp="other-app"))
    assert rejected(token, source) == "ID token azp is not this client"


# --- sub, exp, iat, nonce ------------------------------------------------------------


@pytest.mark.parametrize("sub", [None, "", 42])
def test_missing_or_invalid_sub(keys: dict[str, RSAKey], source: KeySource, sub: Any) -> None:
    assert rejected(sign(keys["k1"], claims(sub=sub)), source) == "ID token has no sub"


# Python's JSON parser reads NaN and Infinity; a NaN exp compares as never expired.
NOT_FINITE = [float("nan"), float("inf"), float("-inf"), pytest.param(10**400, id="10**400")]


@pytest.mark.parametrize("iat", [None, "1700000000", True, *NOT_FINITE])
def test_missing_or_invalid_iat(keys: dict[str, RSAKey], source: KeySource, iat: Any) -> None:
    assert rejected(sign(keys["k1"], claims(iat=iat)), source) == "ID token has no valid iat"


@pytest.mark.parametrize("exp", [None, "1700000300", *NOT_FINITE])
def test_missing_or_invalid_exp(keys: dict[str, RSAKey], source: KeySource, exp: Any) -> None:
    assert rejected(sign(keys["k1"], claims(exp=exp)), source) == "ID token has no valid exp"


def test_expired_beyond_leeway(keys: dict[str, RSAKey], source: KeySource) -> None:
    assert rejected(sign(keys["k1"], claims(exp=NOW - 61)), source) == "ID token has expired"


@pytest.mark.parametrize("exp", [NOW - 60, NOW - 30, NOW])
def test_expired_within_leeway_accepted(keys: dict[str, RSAKey], source: KeySource, exp: int) -> None:
    assert validator().validate(sign(keys["k1"], claims(exp=exp)), source, NONCE)["exp"] == exp


def test_iat_in_the_future_beyond_leeway(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["k1"], claims(iat=NOW + 61))
    assert rejected(token, source) == "ID token was issued in the future (check the clocks)"


def test_iat_in_the_future_within_leeway_accepted(keys: dict[str, RSAKey], source: KeySource) -> None:
    assert validator().validate(sign(keys["k1"], claims(iat=NOW + 60)), source, NONCE)["iat"] == NOW + 60


def test_iat_too_old(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["k1"], claims(iat=NOW - 661, exp=NOW + 3600))
    assert rejected(token, source) == "ID token was issued too long ago"


def test_iat_at_the_age_limit_accepted(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["k1"], claims(iat=NOW - 660, exp=NOW + 3600))
    assert validator().validate(token, source, NONCE)["iat"] == NOW - 660


@pytest.mark.parametrize("nonce", ["another-nonce", NONCE + "x", "", 7])
def test_wrong_nonce(keys: dict[str, RSAKey], source: KeySource, nonce: Any) -> None:
    assert rejected(sign(keys["k1"], claims(nonce=nonce)), source) == "ID token nonce does not match this sign-in"


def test_missing_nonce(keys: dict[str, RSAKey], source: KeySource) -> None:
    assert rejected(sign(keys["k1"], claims(nonce=None)), source) == "ID token nonce does not match this sign-in"


def test_empty_expected_nonce_never_matches(keys: dict[str, RSAKey], source: KeySource) -> None:
    token = sign(keys["k1"], claims(nonce=""))
    assert rejected(token, source, nonce="") == "ID token nonce does not match this sign-in"


@pytest.mark.parametrize("auth_time", ["yesterday", float("nan"), float("inf")])
def test_auth_time_not_a_number(keys: dict[str, RSAKey], source: KeySource, auth_time: Any) -> None:
    token = sign(keys["k1"], claims(auth_time=auth_time))
    assert rejected(token, source) == "ID token auth_time is not a number"


# --- key rotation ------------------------------------------------------------------------


def test_unknown_kid_refreshes_once_then_succeeds(keys: dict[str, RSAKey]) -> None:
    source = KeySource(KeySet([keys["k1"]]), refreshed=KeySet([keys["k1"], keys["k2"]]))
    payload = claims()
    assert validator().validate(sign(keys["k2"], payload), source, NONCE) == payload
    assert source.calls == [False, True]


def test_unknown_kid_even_after_refresh(keys: dict[str, RSAKey]) -> None:
    source = KeySource(KeySet([keys["k1"]]))
    assert rejected(sign(keys["k2"], claims()), source) == "no key in the provider's JWKS for kid 'k2'"
    assert source.calls == [False, True]


def test_known_kid_does_not_refresh(keys: dict[str, RSAKey]) -> None:
    source = KeySource(KeySet([keys["k1"], keys["k2"]]))
    validator().validate(sign(keys["k2"], claims()), source, NONCE)
    assert source.calls == [False]


# --- malformed -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b",
        "a.b.c",
        "..",
        "",
        "a.b.c.d.e",
        "é.é.é",
        "ÿÿÿ",
        b64url(b"[1]") + "." + b64url(b"{}") + ".",
        b64url(b"not json") + ".e30.AAAA",
    ],
)
def test_malformed_token_is_invalid_id_token(source: KeySource, token: str) -> None:
    assert rejected(token, source) == "ID token is not a well-formed JWS"
    assert source.calls == []


@pytest.mark.parametrize("payload", [b"[1]", b"not json", b'"a string"', b"1"])
def test_signed_non_object_payload_is_invalid_id_token(
    keys: dict[str, RSAKey], source: KeySource, payload: bytes
) -> None:
    token = jws.serialize_compact({"alg": "RS256", "kid": "k1"}, payload, keys["k1"])
    assert rejected(token, source).startswith("ID token could not be verified (")


def test_user_message_has_no_internal_details(keys: dict[str, RSAKey], source: KeySource) -> None:
    with pytest.raises(InvalidIdToken) as caught:
        validator().validate(sign(keys["k1"], claims(nonce="x")), source, NONCE)
    assert caught.value.user_message == (
        "The sign-in provider's answer could not be verified, so you were not signed in."
    )


# --- refreshed ID tokens (OpenID Connect Core §12.2) ---------------------------------------

SIGNED_IN = {"iss": ISSUER, "sub": "user-1", "auth_time": NOW - 60}


def refreshed(token: str, source: KeySource, nonce: str | None = NONCE) -> dict[str, Any]:
    return validator().validate_refreshed(token, source, signed_in=SIGNED_IN, nonce=nonce)


def test_a_refreshed_token_without_a_nonce_is_accepted(keys: dict[str, RSAKey], source: KeySource) -> None:
    assert refreshed(sign(keys["k1"], claims(nonce=None, auth_time=NOW - 60)), source)["sub"] == "user-1"
    assert refreshed(sign(keys["k1"], claims()), source)["nonce"] == NONCE


@pytest.mark.parametrize(
    ("overrides", "nonce", "message"),
    [
        ({"sub": "user-2"}, NONCE, "names another user or issuer"),
        ({"nonce": "other"}, NONCE, "carries a nonce that is not the sign-in's"),
        ({}, None, "carries a nonce that is not the sign-in's"),
        ({"auth_time": NOW - 30}, NONCE, "has another auth_time than the sign-in"),
        ({"auth_time": float("nan")}, NONCE, "auth_time is not a number"),
        ({"exp": NOW - 3600}, NONCE, "has expired"),
        ({"aud": "someone-else"}, NONCE, "audience"),
    ],
)
def test_a_refreshed_token_is_validated_like_the_first_and_by_12_2(
    keys: dict[str, RSAKey], source: KeySource, overrides: dict[str, Any], nonce: str | None, message: str
) -> None:
    with pytest.raises(InvalidIdToken, match=message):
        refreshed(sign(keys["k1"], claims(**overrides)), source, nonce)


def test_a_refreshed_token_from_another_issuer_is_refused(keys: dict[str, RSAKey], source: KeySource) -> None:
    other = IdTokenValidator(
        issuers=(ISSUER, "https://other.example"), client_id=CLIENT_ID, algorithms=("RS256",), clock=lambda: NOW
    )
    token = sign(keys["k1"], claims(iss="https://other.example"))
    with pytest.raises(InvalidIdToken, match="names another user or issuer"):
        other.validate_refreshed(token, source, signed_in=SIGNED_IN, nonce=NONCE)
