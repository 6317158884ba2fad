"""Fuzzing ``auth.logout_token.LogoutTokenValidator.validate``: whatever arrives, it returns a
well-typed ``LogoutRequest`` or raises ``InvalidLogoutToken`` with one of its fixed messages,
never another exception (the back-channel logout route would answer 500) and never a
message quoting the token.

Three targets: arbitrary strings (including JWS-shaped ones); a genuine logout token
mutated (cut, re-encoded, reordered); and structurally valid tokens whose header and
claims are fuzzed, signed with the provider's real key so that they get past the
signature to the claim checks. The provider is a real ``LocalProvider`` that also
advertises ES256, PS256 and EdDSA, so headers naming them reach joserfc with an RSA key.
``FUZZ_EXAMPLES`` sets each test's budget (``tests/fuzz/harness.py``).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import event, example, given
from hypothesis import strategies as st

from auth.logout_token import BACKCHANNEL_LOGOUT_EVENT, InvalidLogoutToken, LogoutRequest, LogoutTokenValidator
from auth.oidc import ProviderClient
from auth.presets import ProviderSettings
from auth.secret import Secret
from devprovider import LocalProvider, ProviderUser
from tests.fuzz import harness
from tests.support.clock import T0

pytestmark = [
    pytest.mark.timeout(max(120, harness.examples_per_test())),
    # joserfc warns each time a header names EdDSA (RFC 9864 deprecates the name); expected here.
    pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning"),
]

NOW = T0
CLIENTS = {"alpha": "app", "beta": "app-b"}  # two providers sharing one issuer: picked by aud
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
ISSUER = "@issuer"  # stands for the provider's real issuer, known once it runs
ABSENT = "@absent"  # a claim or header parameter left out
MESSAGES = harness.logout_token_messages(ALGORITHMS)


@dataclass(repr=False)
class Setup:
    provider: LocalProvider
    validator: LogoutTokenValidator

    def __repr__(self) -> str:
        return f"Setup(issuer={self.provider.issuer})"


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    with LocalProvider(users=[ProviderUser("user-1")], client_id="app", issuer_path="/realms/fuzz") as provider:
        provider.advertise = {"id_token_signing_alg_values_supported": ALGORITHMS}
        clients = {
            name: ProviderClient(
                ProviderSettings(
                    name=name,
                    kind="oidc",
                    issuer=provider.issuer,
                    client_id=client_id,
                    client_secret=Secret("s3cret"),
                    discovery_url=provider.discovery_url,
                    accepted_issuers=(provider.issuer,),
                ),
                redirect_uri="http://127.0.0.1:8501/oauth2callback",
                timeout=5,
            )
            for name, client_id in CLIENTS.items()
        }
        yield Setup(provider, LogoutTokenValidator(clients, clock=lambda: NOW))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_raw(setup: Setup, header: Any, payload: Any) -> str:
    """``header`` and ``payload`` as JSON (NaN and Infinity included), RS256-signed with the real key."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    key = setup.provider.signing_key.private_key
    assert key is not None
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def resolve(value: Any, setup: Setup) -> Any:
    if value == ISSUER:
        return setup.provider.issuer
    if value == "@kid":
        return setup.provider.current_kid
    if isinstance(value, list):
        return [resolve(item, setup) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, setup) for key, item in value.items()}
    return value


def genuine_claims(**overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": "app",
        "sub": "user-1",
        "sid": "sid-1",
        "iat": NOW - 5,
        "exp": NOW + 120,
        "jti": "jti-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    return {**claims, **overrides}


GENUINE_HEADER = {"alg": "RS256", "kid": "@kid", "typ": "logout+jwt"}


def check(setup: Setup, token: str) -> LogoutRequest | InvalidLogoutToken:
    """The invariant: a well-typed request, or ``InvalidLogoutToken`` (returned) with a
    fixed message; any other exception fails the test."""
    try:
        request = setup.validator.validate(token)
    except InvalidLogoutToken as error:
        assert str(error) in MESSAGES, str(error)
        return error
    assert isinstance(request, LogoutRequest)
    assert request.provider in CLIENTS
    assert request.sub is None or (isinstance(request.sub, str) and request.sub)
    assert request.sid is None or (isinstance(request.sid, str) and request.sid)
    assert request.sub is not None or request.sid is not None
    assert isinstance(request.jti, str) and 0 < len(request.jti) <= 256
    assert isinstance(request.replay_until, float) and math.isfinite(request.replay_until)
    assert NOW <= request.replay_until <= NOW + 60 + 600 + 60
    return request


def record(outcome: LogoutRequest | InvalidLogoutToken) -> None:
    """How deep a case got, for ``--hypothesis-show-statistics``."""
    event("accepted" if isinstance(outcome, LogoutRequest) else str(outcome))


GENUINE_REQUEST = LogoutRequest("alpha", "user-1", "sid-1", "jti-1", NOW + 120 + 60)


# -- the harness is what the targets assume ---------------------------------------------


def test_a_genuine_token_is_accepted(setup: Setup) -> None:
    token = sign_raw(setup, resolve(GENUINE_HEADER, setup), resolve(genuine_claims(), setup))
    assert check(setup, token) == GENUINE_REQUEST


def test_an_unknown_message_fails_the_check(setup: Setup) -> None:
    assert isinstance(check(setup, "not a token"), InvalidLogoutToken)
    with pytest.raises(AssertionError):
        check(setup, "x" * 20_000 + "é")  # a known message: "too large" ...
        raise AssertionError("... so only this fails")


# -- target 1: arbitrary strings ---------------------------------------------------------

URLSAFE_SEGMENT = st.text(harness.URLSAFE, max_size=40)
JSON_SEGMENT = harness.json_values().map(lambda value: b64url(json.dumps(value).encode()))


def jws_shaped() -> st.SearchStrategy[str]:
    segment = harness.evenly(URLSAFE_SEGMENT, JSON_SEGMENT, harness.fuzz_text())
    return st.lists(segment, min_size=1, max_size=5).map(".".join)


@harness.fuzz_settings()
@given(
    value=harness.evenly(
        harness.fuzz_text(), jws_shaped(), st.text(), st.binary().map(lambda data: data.decode("latin-1"))
    )
)
@example(value="..")
@example(value="e30.e30.e30")
@example(value="x" * 20_000)
def test_arbitrary_strings(setup: Setup, value: str) -> None:
    record(check(setup, value))


# -- target 2: a genuine token, mutated ------------------------------------------------


@harness.fuzz_settings()
@given(mutation=harness.mutations())
def test_mutated_genuine_token(setup: Setup, mutation: harness.Mutation) -> None:
    genuine = sign_raw(setup, resolve(GENUINE_HEADER, setup), resolve(genuine_claims(), setup))
    outcome = check(setup, harness.apply_mutation(genuine, mutation))
    record(outcome)
    # The signature covers the claims: a mutation the validator accepts changed nothing they say.
    assert isinstance(outcome, InvalidLogoutToken) or outcome == GENUINE_REQUEST


# -- target 3: a genuine token with a few fields edited, validly signed ------------------

NUMBERS = st.one_of(
    st.integers(NOW - 700, NOW + 700),
    st.floats(NOW - 700, NOW + 700),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, True, False, 0, -0.0, 1e308, "1700000000"]),
)
SHORT = st.one_of(st.text(max_size=12), st.sampled_from(harness.NASTY))
EVENTS = st.one_of(
    st.sampled_from(
        [
            {BACKCHANNEL_LOGOUT_EVENT: []},
            {BACKCHANNEL_LOGOUT_EVENT: None},
            {BACKCHANNEL_LOGOUT_EVENT: {"extra": 1}},
            {BACKCHANNEL_LOGOUT_EVENT + "/": {}},
            {BACKCHANNEL_LOGOUT_EVENT: {}, "urn:other": {}},
        ]
    ),
    st.dictionaries(st.sampled_from([BACKCHANNEL_LOGOUT_EVENT, "x"]), harness.json_values(), max_size=2),
)
# What each field may become besides ABSENT and anything at all. Header values stay short:
# joserfc refuses a header segment over 512 bytes before any other check.
HEADER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "alg": st.sampled_from([*ALGORITHMS, "none", "None", "HS256", "RS512", "", None]),
    "kid": st.one_of(st.sampled_from(["unknown-kid", 5, None, ["@kid"], ""]), SHORT),
    "typ": st.one_of(st.sampled_from(["JWT", "jwt", "at+jwt", "application/logout+jwt", "LOGOUT+JWT", None]), SHORT),
    "crit": st.sampled_from([["b64"], [], None, "b64", [["b64"]], ["exp"]]),
    "b64": st.sampled_from([False, True, None, "false"]),
}
CLAIM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "iss": st.sampled_from(["https://evil.example", [ISSUER], ISSUER + "/", None]),
    "aud": st.sampled_from(["app-b", ["app-b", "app"], ["other", "app-b"], ["other"], [], None, "App"]),
    "sub": st.one_of(st.sampled_from(["", None, 5, ["user-1"]]), SHORT),
    "sid": st.one_of(st.sampled_from(["", None, 5, ["sid-1"]]), SHORT),
    "iat": NUMBERS,
    "exp": NUMBERS,
    "jti": st.one_of(st.sampled_from(["", None, "j" * 256, "j" * 257, 7]), st.text(min_size=1, max_size=300)),
    "events": EVENTS,
    "nonce": st.sampled_from(["n-1", "", None]),
}


@dataclass(frozen=True)
class Edit:
    """Set ``name`` to ``value`` (or delete it, when ``value`` is ``ABSENT``)."""

    name: str
    value: Any


def edits(
    values: dict[str, st.SearchStrategy[Any]], anything: st.SearchStrategy[Any], max_size: int
) -> st.SearchStrategy[list[Edit]]:
    """Up to ``max_size`` edits, mostly of the fields ``values`` names, else of any name."""
    known = st.sampled_from(sorted(values)).flatmap(
        lambda name: st.builds(Edit, st.just(name), harness.evenly(values[name], st.just(ABSENT), anything))
    )
    other = st.builds(Edit, SHORT, harness.json_values())
    return st.lists(harness.evenly(known, known, known, other), max_size=max_size)


def edited(base: dict[str, Any], changes: list[Edit]) -> dict[str, Any]:
    result = dict(base)
    for change in changes:
        if change.value == ABSENT:
            result.pop(change.name, None)
        else:
            result[change.name] = change.value
    return result


@dataclass(frozen=True)
class SignedCase:
    header_edits: list[Edit]
    claim_edits: list[Edit]
    replacement: Any = ABSENT  # a whole payload instead of the edited claims (rarely)


def signed_cases() -> st.SearchStrategy[SignedCase]:
    return st.builds(
        SignedCase,
        edits(HEADER_VALUES, st.one_of(harness.json_values(), SHORT), 2),
        edits(CLAIM_VALUES, st.one_of(harness.json_values(), harness.fuzz_text()), 3),
        harness.evenly(*[st.just(ABSENT)] * 9, harness.json_values()),
    )


@harness.fuzz_settings()
@given(case=signed_cases())
@example(case=SignedCase([], []))
@example(case=SignedCase([Edit("alg", "ES256")], []))
@example(case=SignedCase([Edit("alg", "EdDSA")], []))
@example(case=SignedCase([Edit("crit", ["b64"]), Edit("b64", False)], []))
@example(case=SignedCase([Edit("crit", None)], []))
@example(case=SignedCase([Edit("crit", [["b64"]])], []))
@example(case=SignedCase([Edit("b64", False)], []))
@example(case=SignedCase([Edit("kid", ["@kid"])], []))
@example(case=SignedCase([Edit("kid", ABSENT)], []))
@example(case=SignedCase([], [Edit("iat", float("nan")), Edit("exp", float("inf"))]))
@example(case=SignedCase([], [Edit("iat", 10**400)]))
@example(case=SignedCase([], [Edit("nonce", "n-1")]))
def test_fuzzed_fields_validly_signed(setup: Setup, case: SignedCase) -> None:
    header = resolve(edited(GENUINE_HEADER, case.header_edits), setup)
    claims = case.replacement if case.replacement != ABSENT else edited(genuine_claims(), case.claim_edits)
    claims = resolve(claims, setup)
    outcome = check(setup, sign_raw(setup, header, claims))
    record(outcome)
    if isinstance(outcome, LogoutRequest):
        # Accepted: then it really was a logout token for one of the providers.
        assert header["alg"] == "RS256" and header.get("kid", setup.provider.current_kid) == setup.provider.current_kid
        assert isinstance(claims, dict) and "nonce" not in claims
        assert claims["iss"] == setup.provider.issuer
        assert CLIENTS[outcome.provider] in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
        assert (outcome.jti, outcome.sub, outcome.sid) == (claims["jti"], claims.get("sub"), claims.get("sid"))
