"""``auth.claims.identity_from_claims`` and ``auth.access.AccessPolicy``."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest

from auth.access import AccessPolicy
from auth.claims import identity_from_claims
from auth.config import AccessRules
from auth.errors import AccessDenied
from auth.identity import Identity
from auth.presets import ProviderSettings
from auth.secret import Secret


def provider(
    kind: str = "oidc", *, name: str = "corp", client_id: str = "my-app", hosted_domains: tuple[str, ...] = ()
) -> ProviderSettings:
    issuer = "https://accounts.google.com" if kind == "google" else "https://idp.example"
    return ProviderSettings(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        issuer=issuer,
        client_id=client_id,
        client_secret=Secret("x"),
        discovery_url=f"{issuer}/.well-known/openid-configuration",
        accepted_issuers=(issuer,),
        hosted_domains=hosted_domains,
    )


KEYCLOAK = provider("keycloak", name="keycloak")
OIDC = provider("oidc")
ID_CLAIMS = {"sub": "user-1", "iss": "https://idp.example"}


# --- identity_from_claims ---------------------------------------------------------------


def test_keycloak_roles_from_realm_and_own_client_only() -> None:
    claims = {
        **ID_CLAIMS,
        "realm_access": {"roles": ["offline_access", "staff"]},
        "resource_access": {
            "my-app": {"roles": ["app-admin", "staff"]},
            "other-app": {"roles": ["other-admin"]},
            "account": {"roles": ["manage-account"]},
        },
        "groups": ["/admins", "/staff/berlin"],
    }
    identity = identity_from_claims(KEYCLOAK, claims)
    assert identity.roles == ("offline_access", "staff", "app-admin")
    assert identity.groups == ("/admins", "/staff/berlin")
    assert identity.provider == "keycloak"


def test_keycloak_roles_from_the_access_token_claims() -> None:
    extra = {"realm_access": {"roles": ["staff"]}, "resource_access": {"my-app": {"roles": ["editor"]}}}
    identity = identity_from_claims(KEYCLOAK, {**ID_CLAIMS, "realm_access": {"roles": ["viewer"]}}, extra)
    assert sorted(identity.roles) == ["editor", "staff", "viewer"]  # each once; order is not a contract


def test_keycloak_malformed_role_claims_are_ignored() -> None:
    claims = {**ID_CLAIMS, "realm_access": ["staff"], "resource_access": {"my-app": "admin"}, "roles": 5}
    assert identity_from_claims(KEYCLOAK, claims).roles == ()


def test_generic_roles_and_groups() -> None:
    claims = {**ID_CLAIMS, "roles": ["admin", 3, "admin", "viewer"], "groups": "engineering"}
    identity = identity_from_claims(OIDC, claims)
    assert identity.roles == ("admin", "viewer")
    assert identity.groups == ("engineering",)


def test_generic_provider_ignores_keycloak_nesting() -> None:
    claims = {**ID_CLAIMS, "realm_access": {"roles": ["staff"]}, "resource_access": {"my-app": {"roles": ["x"]}}}
    assert identity_from_claims(OIDC, claims).roles == ()


def test_extra_claims_fill_but_never_override() -> None:
    id_claims = {**ID_CLAIMS, "email": "alice@example.com", "email_verified": True}
    extra = {
        "sub": "attacker",
        "iss": "https://evil.example",
        "email": "mallory@evil.example",
        "email_verified": False,
        "name": "Alice Liddell",
        "picture": "https://img/a.png",
        "groups": ["staff"],
    }
    identity = identity_from_claims(OIDC, id_claims, extra)
    assert identity.sub == "user-1"
    assert identity.issuer == "https://idp.example"
    assert identity.email == "alice@example.com"
    assert identity.email_verified is True
    assert identity.name == "Alice Liddell"
    assert identity.picture == "https://img/a.png"
    assert identity.groups == ("staff",)


def test_extra_claims_provide_email_when_id_token_has_none() -> None:
    identity = identity_from_claims(OIDC, ID_CLAIMS, {"email": "Bob@Example.com", "email_verified": True})
    assert (identity.email, identity.email_verified) == ("bob@example.com", True)


def test_identity_shape() -> None:
    claims = {
        **ID_CLAIMS,
        "sid": "s-1",
        "auth_time": 1_700_000_000,
        "hd": "example.com",
        "preferred_username": "alice",
        "access_token": "never",
    }
    assert identity_from_claims(OIDC, claims) == Identity(
        sub="user-1",
        issuer="https://idp.example",
        provider="corp",
        name="alice",
        preferred_username="alice",
        sid="s-1",
        auth_time=1_700_000_000,
        hosted_domain="example.com",
    )


@pytest.mark.parametrize("email", ["Alice@Example.COM", "  alice@example.com ", "ALICE@EXAMPLE.COM"])
def test_email_lower_cased(email: str) -> None:
    assert identity_from_claims(OIDC, {**ID_CLAIMS, "email": email}).email == "alice@example.com"


@pytest.mark.parametrize(
    ("value", "verified"),
    [
        (True, True),
        ("true", True),
        (False, False),
        ("false", False),
        (None, False),
        ("yes", False),
        (1, False),
        ("True ", False),
    ],
)
def test_email_verified(value: Any, verified: bool) -> None:
    claims = {**ID_CLAIMS, "email": "a@example.com"}
    if value is not None:
        claims["email_verified"] = value
    assert identity_from_claims(OIDC, claims).email_verified is verified


def test_email_verified_missing() -> None:
    assert identity_from_claims(OIDC, {**ID_CLAIMS, "email": "a@example.com"}).email_verified is False


# --- claims that are not text ---------------------------------------------------------------

BROKEN = "\udc80"  # a lone surrogate: JSON can escape it, UTF-8 cannot encode it


@pytest.fixture
def auth_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    # configure_logging() elsewhere may stop the "auth" logger from propagating to caplog.
    monkeypatch.setattr(logging.getLogger("auth"), "propagate", True)
    caplog.set_level(logging.INFO, logger="auth")
    return caplog


def encodable(identity: Identity) -> bool:
    """What the session cookie and the stores need: every field writes as UTF-8."""
    json.dumps(dataclasses.asdict(identity), ensure_ascii=False).encode("utf-8")
    return True


@pytest.mark.parametrize(
    ("settings", "claims", "name", "kept"),
    [
        (OIDC, {"roles": ["admin", f"x{BROKEN}"]}, "roles", ("roles", ("admin",))),
        (OIDC, {"roles": f"admin{BROKEN}"}, "roles", ("roles", ())),
        (OIDC, {"groups": [f"x{BROKEN}", "staff"]}, "groups", ("groups", ("staff",))),
        (KEYCLOAK, {"realm_access": {"roles": [BROKEN, "staff"]}}, "realm_access", ("roles", ("staff",))),
        (KEYCLOAK, {"resource_access": {"my-app": {"roles": [BROKEN]}}}, "resource_access", ("roles", ())),
        (OIDC, {"picture": f"https://img.example/{BROKEN}.png"}, "picture", ("picture", None)),
        (OIDC, {"name": f"Alice{BROKEN}"}, "name", ("name", "user-1")),
        (OIDC, {"email": f"alice{BROKEN}@example.com", "email_verified": True}, "email", ("email", None)),
        (OIDC, {"preferred_username": f"ali{BROKEN}ce"}, "preferred_username", ("preferred_username", None)),
        (OIDC, {"sid": f"s{BROKEN}"}, "sid", ("sid", None)),
        (OIDC, {"hd": f"example.com{BROKEN}"}, "hd", ("hosted_domain", None)),
    ],
    ids=[
        "roles",
        "roles-as-one-string",
        "groups",
        "keycloak-realm-roles",
        "keycloak-client-roles",
        "picture",
        "name",
        "email",
        "preferred_username",
        "sid",
        "hd",
    ],
)
def test_a_claim_that_is_not_text_is_dropped_and_named_once(
    settings: ProviderSettings,
    claims: dict[str, Any],
    name: str,
    kept: tuple[str, Any],
    auth_log: pytest.LogCaptureFixture,
) -> None:
    identity = identity_from_claims(settings, {**ID_CLAIMS, **claims})
    field, value = kept
    assert getattr(identity, field) == value
    assert encodable(identity)
    provider_name = settings.name
    assert [r.getMessage() for r in auth_log.records] == [
        f"event=claims_dropped provider={provider_name} sub=user-1 claims={name}"
    ]
    assert auth_log.records[0].levelno == logging.WARNING


def test_broken_claims_in_the_id_token_and_userinfo_are_one_line(auth_log: pytest.LogCaptureFixture) -> None:
    id_claims = {**ID_CLAIMS, "roles": [f"secret{BROKEN}role", "admin"], "name": f"A{BROKEN}"}
    extra = {"groups": [f"secret{BROKEN}group"], "picture": f"https://img.example/{BROKEN}", "roles": [BROKEN]}
    identity = identity_from_claims(OIDC, id_claims, extra)
    assert (identity.roles, identity.groups, identity.picture, identity.name) == (("admin",), (), None, "user-1")
    assert encodable(identity)
    lines = [r.getMessage() for r in auth_log.records]
    assert lines == ["event=claims_dropped provider=corp sub=user-1 claims=groups,name,picture,roles"]
    assert "secret" not in lines[0]


def test_claims_of_the_wrong_type_are_dropped_without_a_line(auth_log: pytest.LogCaptureFixture) -> None:
    """Only text that cannot be written is news: absent and mistyped claims are everyday."""
    claims = {**ID_CLAIMS, "roles": 5, "groups": [1, None], "name": 3, "picture": "http://img.example/a.png"}
    identity = identity_from_claims(OIDC, claims)
    assert (identity.roles, identity.groups, identity.name, identity.picture) == ((), (), "user-1", None)
    assert auth_log.records == []


# --- AccessPolicy ----------------------------------------------------------------------------


def person(
    email: str | None = "alice@example.com",
    verified: bool = True,
    roles: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
    hd: str | None = None,
) -> Identity:
    return Identity(
        sub="user-1",
        issuer="https://idp.example",
        provider="corp",
        name="Alice",
        email=email,
        email_verified=verified,
        roles=roles,
        groups=groups,
        hosted_domain=hd,
    )


def denied(rules: AccessRules, identity: Identity, settings: ProviderSettings = OIDC) -> AccessDenied:
    with pytest.raises(AccessDenied) as caught:
        AccessPolicy(rules).check(identity, settings)
    assert caught.value.status == 403
    assert caught.value.reason == "access_denied"
    return caught.value


@pytest.mark.parametrize(
    "identity",
    [
        person(),
        person(email=None, verified=False),
        person(verified=False),
        Identity(sub="x", issuer="https://i", provider="corp", name="x"),
    ],
)
def test_no_rules_admit_anyone(identity: Identity) -> None:
    assert AccessPolicy(AccessRules()).check(identity, OIDC) is None


def test_allowed_domain_admits_verified_email_of_that_domain() -> None:
    AccessPolicy(AccessRules(allowed_domains=("example.com",))).check(person(), OIDC)


def test_allowed_domain_refuses_unverified_email() -> None:
    error = denied(AccessRules(allowed_domains=("example.com",)), person(verified=False))
    assert str(error) == "no verified email"
    assert error.user_message == "Your account is not allowed here: it has no verified email address."


def test_allowed_domain_refuses_missing_email() -> None:
    assert str(denied(AccessRules(allowed_domains=("example.com",)), person(email=None))) == "no verified email"


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("bob@x.example.com", "x.example.com"),
        ("bob@example.com.evil.io", "example.com.evil.io"),
        ("bob@notexample.com", "notexample.com"),
        ("example.com@evil.io", "evil.io"),
    ],
)
def test_allowed_domain_refuses_other_domains(email: str, domain: str) -> None:
    error = denied(AccessRules(allowed_domains=("example.com",)), person(email=email))
    assert str(error) == f"email domain {domain} not allowed"
    assert error.user_message == "Your account is not allowed here."


def test_allowed_email() -> None:
    rules = AccessRules(allowed_emails=("bob@partner.example",))
    AccessPolicy(rules).check(person(email="bob@partner.example"), OIDC)
    assert str(denied(rules, person(email="eve@partner.example"))) == "email domain partner.example not allowed"
    assert str(denied(rules, person(email="bob@partner.example", verified=False))) == "no verified email"


@pytest.mark.parametrize("email", ["alice@example.com", "bob@partner.example"])
def test_domain_or_email_admits(email: str) -> None:
    rules = AccessRules(allowed_domains=("example.com",), allowed_emails=("bob@partner.example",))
    AccessPolicy(rules).check(person(email=email), OIDC)


def test_domain_or_email_refuses_others() -> None:
    rules = AccessRules(allowed_domains=("example.com",), allowed_emails=("bob@partner.example",))
    assert str(denied(rules, person(email="eve@partner.example"))) == "email domain partner.example not allowed"


@pytest.mark.parametrize("roles", [("admin",), ("viewer", "editor"), ("editor", "other")])
def test_required_roles_any_of(roles: tuple[str, ...]) -> None:
    AccessPolicy(AccessRules(required_roles=("admin", "editor"))).check(person(roles=roles), OIDC)


@pytest.mark.parametrize("roles", [(), ("viewer",), ("Admin",), ("admins",)])
def test_required_roles_refused(roles: tuple[str, ...]) -> None:
    error = denied(AccessRules(required_roles=("admin", "editor")), person(roles=roles))
    assert str(error) == "none of the required roles admin,editor"


@pytest.mark.parametrize(
    ("required", "groups"),
    [
        (("admins",), ("/admins",)),
        (("/admins",), ("admins",)),
        (("/admins",), ("/admins",)),
        (("admins", "ops"), ("/staff", "ops")),
    ],
)
def test_required_groups_any_of_with_keycloak_paths(required: tuple[str, ...], groups: tuple[str, ...]) -> None:
    AccessPolicy(AccessRules(required_groups=required)).check(person(groups=groups), OIDC)


@pytest.mark.parametrize("groups", [(), ("/staff",), ("/admins/berlin",), ("administrators",)])
def test_required_groups_refused(groups: tuple[str, ...]) -> None:
    error = denied(AccessRules(required_groups=("admins",)), person(groups=groups))
    assert str(error) == "none of the required groups admins"


def test_and_across_categories() -> None:
    rules = AccessRules(allowed_domains=("example.com",), required_roles=("admin",), required_groups=("ops",))
    AccessPolicy(rules).check(person(roles=("admin",), groups=("/ops",)), OIDC)
    assert str(denied(rules, person(roles=("viewer",), groups=("/ops",)))) == "none of the required roles admin"
    assert str(denied(rules, person(roles=("admin",), groups=("/dev",)))) == "none of the required groups ops"
    assert str(denied(rules, person(email="a@other.example", roles=("admin",), groups=("/ops",)))) == (
        "email domain other.example not allowed"
    )


GOOGLE_WORKSPACE = provider("google", name="google", hosted_domains=("example.com", "example.org"))


@pytest.mark.parametrize("hd", ["example.com", "example.org", "Example.COM"])
def test_hosted_domain_admits(hd: str) -> None:
    AccessPolicy(AccessRules()).check(person(hd=hd), GOOGLE_WORKSPACE)


@pytest.mark.parametrize(("hd", "shown"), [("other.example", "other.example"), (None, "(none)"), ("", "(none)")])
def test_hosted_domain_refused(hd: str | None, shown: str) -> None:
    error = denied(AccessRules(), person(hd=hd), GOOGLE_WORKSPACE)
    assert str(error) == f"hosted domain {shown} not allowed"
    assert error.user_message == (
        "Your account is not allowed here: sign in with an account of example.com, example.org."
    )


def test_hosted_domain_claim_counts_not_the_email() -> None:
    # A personal Gmail account with a matching-looking email but no hd claim is refused.
    error = denied(AccessRules(), person(email="alice@example.com", hd=None), GOOGLE_WORKSPACE)
    assert str(error) == "hosted domain (none) not allowed"


def test_no_hosted_domain_configured_ignores_hd() -> None:
    AccessPolicy(AccessRules()).check(person(hd=None), provider("google", name="google"))


@pytest.mark.parametrize(
    "picture",
    [
        "http://img.example/a.png",
        "/etc/passwd",
        "file:///etc/passwd",
        "data:image/png;base64,AAAA",
        "https://",
        "javascript:alert(1)",
        "https://img.example/a b.png",
        42,
        ["https://img.example/a.png"],
        "https://img.example/" + "a" * 3000,
    ],
)
def test_picture_is_kept_only_as_an_https_url(picture: object) -> None:
    """Anything else could read a local file (st.image with a path) or load over plain http."""
    identity = identity_from_claims(OIDC, {"sub": "u", "iss": "https://idp.example", "picture": picture})
    assert identity.picture is None


def test_https_picture_is_kept() -> None:
    identity = identity_from_claims(
        OIDC, {"sub": "u", "iss": "https://idp.example", "picture": "https://img.example/a.png?s=96"}
    )
    assert identity.picture == "https://img.example/a.png?s=96"
