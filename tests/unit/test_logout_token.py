"""``auth.logout_token``: every rule of Back-Channel Logout 1.0 §2.4/§2.6, one test each.

The clients are real ``ProviderClient``s fetching discovery and JWKS over HTTP from a
``LocalProvider`` on 127.0.0.1, so key rotation and unreachable keys take the same code
path as in production; tokens are signed here with the provider's own key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from auth.errors import AuthError, LoginError
from auth.logout_token import (
    BACKCHANNEL_LOGOUT_EVENT,
    MAX_TOKEN_LENGTH,
    InvalidLogoutToken,
    LogoutRequest,
    LogoutTokenValidator,
)
from auth.oidc import ProviderClient
from auth.presets import ProviderSettings
from auth.secret import Secret
from devprovider import LocalProvider, generate_signing_key, keycloak_users
from tests.support.clock import T0, Clock

NOW = T0
CLIENT_ID = "app"
CLIENT_SECRET = "client-secret-shared-with-the-provider"
SUB = keycloak_users(CLIENT_ID)[0].sub
SID = "08a5019c-17e1-4977-8f42-65a12843ea02"
ABSENT = object()  # a claim or header parameter left out


@pytest.fixture(scope="module")
def started() -> Iterator[LocalProvider]:
    with LocalProvider(
        users=keycloak_users(CLIENT_ID), client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer_path="/realms/demo"
    ) as provider:
        yield provider


@pytest.fixture
def idp(started: LocalProvider) -> Iterator[LocalProvider]:
    started.reset()
    yield started
    started.reset()


def make_client(
    idp: LocalProvider,
    name: str = "corp",
    client_id: str = CLIENT_ID,
    discovery_url: str | None = None,
    issuers: tuple[str, ...] | None = None,
) -> ProviderClient:
    settings = ProviderSettings(
        name=name,
        kind="oidc",
        issuer=idp.issuer,
        client_id=client_id,
        client_secret=Secret(CLIENT_SECRET),
        discovery_url=discovery_url or idp.discovery_url,
        accepted_issuers=issuers or (idp.issuer,),
    )
    return ProviderClient(settings, redirect_uri="http://127.0.0.1:8501/oauth2callback", timeout=5)


@pytest.fixture
def client(idp: LocalProvider) -> ProviderClient:
    return make_client(idp)


@pytest.fixture
def validator(client: ProviderClient, clock: Clock) -> LogoutTokenValidator:
    return LogoutTokenValidator({"corp": client}, clock=clock)


def claims(idp: LocalProvider, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": idp.issuer,
        "aud": CLIENT_ID,
        "sub": SUB,
        "sid": SID,
        "iat": NOW - 5,
        "exp": NOW + 120,
        "jti": "bWJq-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not ABSENT}


def sign(key: RSAKey | OctKey, payload: dict[str, Any] | bytes, **header: Any) -> str:
    """A compact JWS of ``payload`` (JSON-encoded, NaN and Infinity allowed) with exactly ``header``."""
    protected = {"alg": "RS256", "kid": key.kid, "typ": "logout+jwt", **header}
    protected = {name: value for name, value in protected.items() if value is not ABSENT}
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return jws.serialize_compact(protected, body, key, algorithms=[protected["alg"]])


def sign_raw(key: RSAKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An RS256 signature over any header at all, even one joserfc would refuse to write."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    private = key.private_key
    assert private is not None
    signature = private.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def token(idp: LocalProvider, **overrides: Any) -> str:
    return sign(idp.signing_key, claims(idp, **overrides))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rejected(validator: LogoutTokenValidator, value: str) -> str:
    with pytest.raises(InvalidLogoutToken) as caught:
        validator.validate(value)
    return str(caught.value)


# --- a valid token ------------------------------------------------------------------------


def test_valid_token(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert validator.validate(token(idp)) == LogoutRequest(
        provider="corp", sub=SUB, sid=SID, jti="bWJq-1", replay_until=NOW + 120 + 60
    )
    assert (idp.discovery_hits, idp.jwks_hits) == (1, 1)


def test_replay_until_without_exp_is_iat_plus_max_age(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert validator.validate(token(idp, exp=ABSENT)).replay_until == NOW - 5 + 600 + 60


def test_replay_until_is_the_earlier_of_exp_and_the_age_limit(
    idp: LocalProvider, validator: LogoutTokenValidator
) -> None:
    assert validator.validate(token(idp, exp=NOW + 3600)).replay_until == NOW - 5 + 600 + 60


def test_sub_only_and_sid_only(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    only_sub = validator.validate(token(idp, sid=ABSENT))
    assert (only_sub.sub, only_sub.sid) == (SUB, None)
    only_sid = validator.validate(token(idp, sub=ABSENT))
    assert (only_sid.sub, only_sid.sid) == (None, SID)


def test_other_claims_are_ignored(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    payload = claims(idp, events={BACKCHANNEL_LOGOUT_EVENT: {"x": 1}, "urn:other": {}}, extra=[1, {"a": None}])
    assert validator.validate(sign(idp.signing_key, payload)).jti == "bWJq-1"


def test_error_type() -> None:
    assert issubclass(InvalidLogoutToken, AuthError)
    assert not issubclass(InvalidLogoutToken, LoginError)


# --- size and shape -------------------------------------------------------------------------


def test_oversized_token(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    huge = token(idp, padding="x" * MAX_TOKEN_LENGTH)
    assert rejected(validator, huge) == "logout token is too large"
    assert rejected(validator, "a" * (MAX_TOKEN_LENGTH + 1)) == "logout token is too large"
    assert idp.discovery_hits == 0


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "..",
        "a.b.c.d.e",
        "é.é.é",
        "ÿÿÿ",
        b64url(b"[1]") + "." + b64url(b"{}") + ".",
        b64url(b"not json") + ".e30.AAAA",
        b64url(b'{"alg":"RS256"}') + "." + b64url(b"[1]") + ".AAAA",
        b64url(b'{"alg":"RS256"}') + "." + b64url(b"not json") + ".AAAA",
        b64url(b'{"alg":"RS256"}') + "." + b64url(b"[" * 5000 + b"]" * 5000) + ".AAAA",
        b64url(b'{"alg":"RS256","x":' + b"[" * 5000 + b"]" * 5000 + b"}") + ".e30.AAAA",
    ],
)
def test_garbage(idp: LocalProvider, validator: LogoutTokenValidator, garbage: str) -> None:
    assert rejected(validator, garbage) == "logout token is not a well-formed JWT"
    assert idp.discovery_hits == 0


def test_signed_non_object_payload(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert rejected(validator, sign(idp.signing_key, b'["not", "claims"]')) == "logout token is not a well-formed JWT"


# --- picking the provider by iss ------------------------------------------------------------


@pytest.mark.parametrize("iss", ["https://evil.example", "IDP/", ABSENT, None, 5, ["x"]])
def test_wrong_issuer(idp: LocalProvider, validator: LogoutTokenValidator, iss: Any) -> None:
    value = idp.issuer + "/" if iss == "IDP/" else iss
    assert rejected(validator, token(idp, iss=value)) == "logout token issuer is not a configured provider"
    assert idp.discovery_hits == 0


def test_issuer_of_another_configured_provider_picks_it(idp: LocalProvider, clock: Clock) -> None:
    other = make_client(idp, name="other", issuers=("https://other.example",))
    check = LogoutTokenValidator({"other": other, "corp": make_client(idp)}, clock=clock)
    assert check.validate(token(idp)).provider == "corp"


def test_shared_issuer_picks_the_provider_in_aud(idp: LocalProvider, clock: Clock) -> None:
    check = LogoutTokenValidator(
        {"corp": make_client(idp), "corp-b": make_client(idp, name="corp-b", client_id="app-b")}, clock=clock
    )
    assert check.validate(token(idp, aud="app-b")).provider == "corp-b"
    assert check.validate(token(idp, aud=["app-b", "third"])).provider == "corp-b"
    assert check.validate(token(idp, aud=CLIENT_ID)).provider == "corp"
    assert rejected(check, token(idp, aud="third")) == "logout token audience does not include this client"


def test_shared_issuer_tries_the_next_provider_then_reports_the_first_failure(idp: LocalProvider, clock: Clock) -> None:
    broken = make_client(idp, name="broken", discovery_url=idp.issuer + "/missing")
    check = LogoutTokenValidator(
        {"broken": broken, "corp-b": make_client(idp, name="corp-b", client_id="app-b")}, clock=clock
    )
    assert check.validate(token(idp, aud=[CLIENT_ID, "app-b"])).provider == "corp-b"
    failing = token(idp, aud=[CLIENT_ID, "app-b"], nonce="n")
    assert rejected(check, failing) == "the provider's keys could not be fetched"


def test_issuer_rechecked_on_verified_claims(client: ProviderClient) -> None:
    with pytest.raises(InvalidLogoutToken, match="^logout token issuer is not the provider's issuer$"):
        LogoutTokenValidator.validate_iss(client, {"iss": "https://evil.example"})


# --- header: alg, typ, signature, kid ---------------------------------------------------


def test_wrong_key_same_kid(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    impostor = generate_signing_key(idp.current_kid)
    assert rejected(validator, sign(impostor, claims(idp))) == "logout token signature is invalid"


def test_modified_payload_breaks_signature(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    header, _, signature = token(idp).split(".")
    forged = b64url(json.dumps(claims(idp, sub="admin")).encode())
    assert rejected(validator, f"{header}.{forged}.{signature}") == "logout token signature is invalid"


def test_alg_none(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "logout+jwt"}).encode())
    unsigned = f"{header}.{b64url(json.dumps(claims(idp)).encode())}."
    assert rejected(validator, unsigned) == "unsigned logout token (alg none)"
    assert idp.jwks_hits == 0


@pytest.mark.parametrize("with_kid", [False, True])
def test_hs256_with_the_client_secret(idp: LocalProvider, validator: LogoutTokenValidator, with_kid: bool) -> None:
    kid = idp.current_kid if with_kid else ABSENT
    forged = sign(OctKey.import_key(CLIENT_SECRET), claims(idp), alg="HS256", kid=kid)
    assert rejected(validator, forged) == "logout token algorithm is not allowed (allowed: RS256)"
    assert idp.jwks_hits == 0


def test_algorithm_not_advertised(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    idp.advertise = {"id_token_signing_alg_values_supported": ["PS256"]}
    assert rejected(validator, token(idp)) == "logout token algorithm is not allowed (allowed: PS256)"


def test_unknown_kid_refetches_keys_after_rotation(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    validator.validate(token(idp))
    idp.rotate_keys()
    assert validator.validate(token(idp, jti="after-rotation")).jti == "after-rotation"
    assert idp.jwks_hits == 2


def test_unknown_kid_even_after_refetch(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    stranger = generate_signing_key("not-published")
    assert rejected(validator, sign(stranger, claims(idp))) == (
        "no key in the provider's JWKS matches the logout token's kid"
    )
    assert idp.jwks_hits == 2


@pytest.mark.parametrize("typ", ["at+jwt", "id_token+jwt", "application/at+jwt", "secevent+jwt", "", 5, None])
def test_other_typ_refused(idp: LocalProvider, validator: LogoutTokenValidator, typ: Any) -> None:
    header = {"alg": "RS256", "kid": idp.current_kid, "typ": typ}
    assert rejected(validator, sign_raw(idp.signing_key, header, claims(idp))) == (
        "logout token typ is neither JWT nor logout+jwt"
    )
    assert idp.jwks_hits == 0


@pytest.mark.parametrize(
    "typ", ["logout+jwt", "LOGOUT+JWT", "application/logout+jwt", "JWT", "jwt", "application/jwt", ABSENT]
)
def test_logout_typ_jwt_or_none_accepted(idp: LocalProvider, validator: LogoutTokenValidator, typ: Any) -> None:
    assert validator.validate(sign(idp.signing_key, claims(idp), typ=typ)).sub == SUB


@pytest.mark.parametrize("crit", [["b64"], ["exp"], [], None, "b64", [["b64"]]])
def test_critical_header_extensions_refused(idp: LocalProvider, validator: LogoutTokenValidator, crit: Any) -> None:
    header = {"alg": "RS256", "kid": idp.current_kid, "typ": "logout+jwt", "crit": crit, "b64": True}
    assert rejected(validator, sign_raw(idp.signing_key, header, claims(idp))) == (
        "logout token header has crit, which this client does not support"
    )


def test_unencoded_payload_without_crit_is_malformed(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    header = {"alg": "RS256", "kid": idp.current_kid, "b64": False}
    assert (
        rejected(validator, sign_raw(idp.signing_key, header, claims(idp))) == "logout token is not a well-formed JWT"
    )


# --- keys that cannot be fetched --------------------------------------------------------


def test_discovery_unavailable(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    idp.discovery_fault = "500"
    assert rejected(validator, token(idp)) == "the provider's keys could not be fetched"


def test_discovery_timeout(idp: LocalProvider, clock: Clock) -> None:
    slow = ProviderClient(make_client(idp).settings, redirect_uri="http://127.0.0.1:8501/cb", timeout=0.2)
    idp.discovery_fault, idp.slow_seconds = "slow", 2.0
    check = LogoutTokenValidator({"corp": slow}, clock=clock)
    assert rejected(check, token(idp)) == "the provider's keys could not be fetched"


def test_jwks_unreachable(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    idp.jwks_redirect_to = "http://169.254.169.254/latest/meta-data/"
    assert rejected(validator, token(idp)) == "the provider's keys could not be fetched"


def test_jwks_refetch_after_rotation_unreachable(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    validator.validate(token(idp))
    idp.rotate_keys()
    idp.jwks_redirect_to = "http://169.254.169.254/latest/meta-data/"
    assert rejected(validator, token(idp)) == "the provider's keys could not be fetched"


def test_provider_not_listening(idp: LocalProvider, clock: Clock) -> None:
    gone = make_client(idp, discovery_url="http://127.0.0.1:9/.well-known/openid-configuration")
    assert rejected(LogoutTokenValidator({"corp": gone}, clock=clock), token(idp)) == (
        "the provider's keys could not be fetched"
    )


# --- aud ----------------------------------------------------------------------------------


@pytest.mark.parametrize("aud", ["other-app", ["other-app", "third"], [], ABSENT, None, 5, {"app": 1}])
def test_wrong_audience(idp: LocalProvider, validator: LogoutTokenValidator, aud: Any) -> None:
    assert rejected(validator, token(idp, aud=aud)) == "logout token audience does not include this client"


def test_audience_list_containing_the_client(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert validator.validate(token(idp, aud=["other-app", CLIENT_ID, 7])).provider == "corp"


# --- iat and exp ------------------------------------------------------------------------


@pytest.mark.parametrize("iat", [ABSENT, None, "1700000000", True, float("nan"), float("inf"), 10**400, [NOW]])
def test_missing_or_invalid_iat(idp: LocalProvider, validator: LogoutTokenValidator, iat: Any) -> None:
    assert rejected(validator, token(idp, iat=iat)) == "logout token has no valid iat"


def test_iat_in_the_future(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert rejected(validator, token(idp, iat=NOW + 61)) == "logout token was issued in the future (check the clocks)"
    assert validator.validate(token(idp, iat=NOW + 60)).jti == "bWJq-1"


def test_iat_too_old(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert rejected(validator, token(idp, iat=NOW - 661, exp=NOW + 60)) == "logout token was issued too long ago"
    assert validator.validate(token(idp, iat=NOW - 660, exp=NOW + 60)).jti == "bWJq-1"


def test_max_age_and_leeway_are_settings(idp: LocalProvider, client: ProviderClient, clock: Clock) -> None:
    strict = LogoutTokenValidator({"corp": client}, clock=clock, leeway=0, max_age=30)
    assert rejected(strict, token(idp, iat=NOW - 31)) == "logout token was issued too long ago"
    assert rejected(strict, token(idp, iat=NOW + 1)) == "logout token was issued in the future (check the clocks)"
    assert strict.validate(token(idp, iat=NOW - 30, exp=ABSENT)).replay_until == NOW


def test_expired(idp: LocalProvider, validator: LogoutTokenValidator, clock: Clock) -> None:
    assert rejected(validator, token(idp, exp=NOW - 61)) == "logout token has expired"
    assert validator.validate(token(idp, exp=NOW - 60)).replay_until == NOW
    clock.now += 1
    assert rejected(validator, token(idp, exp=NOW - 60)) == "logout token has expired"


@pytest.mark.parametrize("exp", [None, "1700000120", False, float("nan"), float("-inf"), -(10**400)])
def test_exp_not_a_number(idp: LocalProvider, validator: LogoutTokenValidator, exp: Any) -> None:
    assert rejected(validator, token(idp, exp=exp)) == "logout token exp is not a number"


# --- jti -----------------------------------------------------------------------------------


@pytest.mark.parametrize("jti", [ABSENT, None, "", 42, ["a"]])
def test_missing_or_invalid_jti(idp: LocalProvider, validator: LogoutTokenValidator, jti: Any) -> None:
    assert rejected(validator, token(idp, jti=jti)) == "logout token has no valid jti"


def test_jti_length_limit(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert rejected(validator, token(idp, jti="j" * 257)) == "logout token jti is too long"
    assert validator.validate(token(idp, jti="j" * 256)).jti == "j" * 256


# --- events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("events", [ABSENT, None, [BACKCHANNEL_LOGOUT_EVENT], BACKCHANNEL_LOGOUT_EVENT, 1])
def test_missing_or_invalid_events(idp: LocalProvider, validator: LogoutTokenValidator, events: Any) -> None:
    assert rejected(validator, token(idp, events=events)) == "logout token has no valid events claim"


@pytest.mark.parametrize(
    "events", [{}, {"http://schemas.openid.net/event/backchannel-logout/": {}}, {"urn:ietf:params:x": {}}]
)
def test_events_without_the_logout_event(idp: LocalProvider, validator: LogoutTokenValidator, events: Any) -> None:
    assert rejected(validator, token(idp, events=events)) == (
        "logout token events claim lacks the back-channel logout event"
    )


@pytest.mark.parametrize("value", [None, [], "", True, 0])
def test_logout_event_value_not_an_object(idp: LocalProvider, validator: LogoutTokenValidator, value: Any) -> None:
    assert rejected(validator, token(idp, events={BACKCHANNEL_LOGOUT_EVENT: value})) == (
        "logout token back-channel logout event is not a JSON object"
    )


# --- sub, sid, nonce ---------------------------------------------------------------------


def test_neither_sub_nor_sid(idp: LocalProvider, validator: LogoutTokenValidator) -> None:
    assert rejected(validator, token(idp, sub=ABSENT, sid=ABSENT)) == "logout token has neither sub nor sid"


@pytest.mark.parametrize("name", ["sub", "sid"])
@pytest.mark.parametrize("value", [None, "", 5, ["x"]])
def test_sub_or_sid_not_a_string(idp: LocalProvider, validator: LogoutTokenValidator, name: str, value: Any) -> None:
    assert rejected(validator, token(idp, **{name: value})) == f"logout token {name} is not a non-empty string"


@pytest.mark.parametrize("nonce", ["n-1", "", None])
def test_nonce_present(idp: LocalProvider, validator: LogoutTokenValidator, nonce: Any) -> None:
    assert rejected(validator, token(idp, nonce=nonce)) == "logout token contains a nonce"


# --- messages ------------------------------------------------------------------------------

MARKER = "<marker-7f3a>"


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": MARKER},
        {"aud": MARKER},
        {"iat": MARKER},
        {"exp": MARKER},
        {"jti": [MARKER]},
        {"events": {MARKER: {}}},
        {"sub": [MARKER]},
        {"nonce": MARKER},
    ],
)
def test_messages_never_echo_claim_values(
    idp: LocalProvider, validator: LogoutTokenValidator, overrides: dict[str, Any]
) -> None:
    assert MARKER not in rejected(validator, token(idp, **overrides))


@pytest.mark.parametrize("header", [{"alg": MARKER}, {"typ": MARKER}, {"kid": MARKER}])
def test_messages_never_echo_header_values(
    idp: LocalProvider, validator: LogoutTokenValidator, header: dict[str, Any]
) -> None:
    protected = {"alg": "RS256", "kid": idp.current_kid, **header}
    forged = ".".join(
        [b64url(json.dumps(protected).encode()), b64url(json.dumps(claims(idp)).encode()), b64url(b"sig")]
    )
    assert MARKER not in rejected(validator, forged)
