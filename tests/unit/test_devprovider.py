"""``python -m devprovider`` as the development launcher configures it, and its pages' markup.

The provider's protocol is tested in test_local_provider.py (the same code); these check what
the development server adds: the knobs its command line turns on, and pages that escape
whatever a user's claims hold.
"""

from __future__ import annotations

import json
import secrets

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from auth.dev_providers import DEMO_USERS
from devprovider import LocalProvider, ProviderUser, keycloak_users
from devprovider.__main__ import SECRET_VARIABLE, UsageError, _arguments, build_provider, main, parse_user
from devprovider.pages import Account

APP = "http://localhost:8501"


def launcher_arguments() -> list[str]:
    """The command line ``auth.dev_providers.start_checkout_provider`` passes."""
    arguments = ["--port", "0", "--redirect-uri", f"{APP}/auth/callback/dev"]
    arguments += ["--post-logout-redirect-uri", f"{APP}/", "--backchannel-logout-uri", f"{APP}/auth/backchannel-logout"]
    for user in DEMO_USERS:
        arguments += ["--user", json.dumps(user)]
    return arguments


def test_the_command_line_turns_on_what_the_demo_shows() -> None:
    provider = build_provider(_arguments().parse_args(launcher_arguments()), "s3cret-" + secrets.token_urlsafe(8))

    assert provider.sso and provider.send_iss and provider.rotate_refresh_tokens
    assert provider.backchannel_logout_uri == f"{APP}/auth/backchannel-logout"
    assert provider.redirect_uris == [f"{APP}/auth/callback/dev"]
    assert provider.post_logout_redirect_uris == [f"{APP}/"]
    assert provider.access_token_lifetime == 120
    assert provider.users["alice"].claims["roles"] == ["admin", "user"]
    assert provider.users["bob"].claims["groups"] == ["analysts"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{not json", "--user is not JSON"), ('["alice"]', '"sub"'), ('{"sub": ""}', '"sub"'), ("{}", '"sub"')],
)
def test_a_user_that_is_not_an_object_with_a_sub_is_refused(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_user(text)


def test_without_a_client_secret_it_does_not_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)

    assert main(launcher_arguments()) == 2
    assert (
        f"devprovider: set the client secret in the environment variable {SECRET_VARIABLE}" in capsys.readouterr().err
    )


def test_a_port_in_use_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "s3cret")
    with LocalProvider(users=[ProviderUser(sub="x")]) as taken:
        arguments = launcher_arguments()
        arguments[1] = str(taken.port)

        assert main(arguments) == 1
    assert f"devprovider: cannot listen on 127.0.0.1:{taken.port}" in capsys.readouterr().err


def test_cards_show_keycloak_shaped_roles_and_groups() -> None:
    alice = Account.of(keycloak_users("app")[0])

    assert alice.label == "alice" and alice.name == "Alice Admin" and alice.email == "alice@example.com"
    assert alice.roles == ("admin", "user", "app: editor")
    assert alice.groups == ("admins",)
    assert alice.initials == "AA"


def test_the_sign_in_page_escapes_claims_and_marks_the_browsers_account() -> None:
    hostile = ProviderUser(
        sub='x"><script>alert(1)</script>',
        claims={"name": "<img src=x onerror=alert(1)>", "email": "m@example.com", "roles": ["<b>root</b>"]},
    )
    with LocalProvider(users=[hostile], client_id="app", client_secret="s3cret") as provider:
        provider.sso = True
        params = {
            "client_id": "app",
            "redirect_uri": f"{APP}/auth/callback/dev",
            "response_type": "code",
            "code_challenge": create_s256_code_challenge(secrets.token_urlsafe(48)),
            "code_challenge_method": "S256",
            "state": '"><i>',
        }
        with requests.Session() as browser:
            first = browser.get(provider.authorization_endpoint, params=params, timeout=5)
            approved = browser.post(
                provider.authorization_endpoint, data={**params, "user": hostile.sub}, allow_redirects=False, timeout=5
            )
            again = browser.get(provider.authorization_endpoint, params={**params, "prompt": "login"}, timeout=5)

    assert first.status_code == 200 and approved.status_code == 302
    for page in (first.text, again.text):
        assert "<script>" not in page and "<img" not in page and "<b>root" not in page and "<i>" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;b&gt;root&lt;/b&gt;" in page
        assert "to continue to <strong>localhost:8501</strong>" in page
    assert first.headers["content-security-policy"].startswith("default-src 'none'")
    assert "Signed in here" not in first.text
    assert '<span class="here" id="account-0-here">Signed in here</span>' in again.text


def test_a_claim_utf8_cannot_encode_shows_as_a_replacement_not_a_500() -> None:
    """Provider JSON can carry a lone surrogate (the suite's unencodable-claims tests give a
    user one); the cards show it too, so the page must still be sent."""
    odd = ProviderUser(sub="odd", claims={"name": "Od\udc80d", "preferred_username": "odd"})
    with LocalProvider(users=[odd], client_id="app", client_secret="s3cret") as provider:
        page = requests.get(
            provider.authorization_endpoint,
            params={
                "client_id": "app",
                "redirect_uri": f"{APP}/auth/callback/dev",
                "response_type": "code",
                "code_challenge": create_s256_code_challenge(secrets.token_urlsafe(48)),
                "code_challenge_method": "S256",
            },
            timeout=5,
        )

    assert page.status_code == 200
    assert "Od?d" in page.text
