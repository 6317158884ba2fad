"""The whole code flow over HTTP: real app process, real providers on 127.0.0.1."""

from __future__ import annotations

import base64

import requests

from tests.integration.conftest import COOKIE_NAME, LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, Stack
from tests.support.http_flow import callback_from_local, callback_from_mock, query, sign_out, start_login


def set_cookie_headers(response: requests.Response) -> list[str]:
    return response.raw.headers.getlist("set-cookie")


def session_set_cookie(response: requests.Response) -> str:
    return next(h for h in set_cookie_headers(response) if h.startswith(f"{COOKIE_NAME}="))


def test_login_redirects_to_provider_with_pkce_state_and_nonce(stack: Stack, browser: requests.Session) -> None:
    response = start_login(browser, stack.app.url, "local", "/profile")

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(stack.local.authorization_endpoint + "?")
    params = query(location)
    assert params["response_type"] == "code"
    assert params["client_id"] == LOCAL_CLIENT_ID
    assert params["redirect_uri"] == f"{stack.app.url}/auth/callback/local"
    assert params["scope"].split() == ["openid", "email", "profile"]
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43 and len(params["nonce"]) >= 43  # 256 bits, base64url
    tx_cookie = next(h for h in set_cookie_headers(response) if h.startswith(f"{COOKIE_NAME}_tx_"))
    assert "HttpOnly" in tx_cookie and "Max-Age=600" in tx_cookie
    assert "Path=/auth;" in tx_cookie and "SameSite=lax" in tx_cookie


def test_sign_in_with_independent_provider_sets_signed_session_cookie(stack: Stack, browser: requests.Session) -> None:
    callback = callback_from_mock(browser, stack.app.url, "alice", next_path="/profile?tab=2")
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 302
    assert response.headers["location"] == "/profile?tab=2"
    header = session_set_cookie(response)
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header
    # The cookie lasts the session's maximum age (8 h); the idle timeout is the store's job.
    assert "Max-Age=28800" in header and "Secure" not in header
    user = stack.sessions().verify(browser.cookies.get(COOKIE_NAME))
    assert user is not None
    assert (user.sub, user.provider, user.issuer) == ("alice", "mock", stack.mock.issuer)
    assert user.name == "Alice Admin" and user.email == "alice@example.com" and user.email_verified
    assert user.roles == ("admin", "user") and user.groups == ("admins",)
    # The transaction cookie is spent: deleted in the same response.
    assert any(h.startswith(f"{COOKIE_NAME}_tx_") and "Max-Age=0" in h for h in set_cookie_headers(response))


def test_sign_in_with_local_provider_uses_basic_auth_encoded_per_rfc6749(
    stack: Stack, browser: requests.Session
) -> None:
    callback = callback_from_local(browser, stack.app.url, "alice")
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 302, response.text
    token_request = stack.local.token_requests[-1]
    assert token_request["auth_method"] == "client_secret_basic"
    assert token_request["form"]["grant_type"] == "authorization_code"
    assert len(token_request["form"]["code_verifier"]) >= 43
    user = stack.sessions().verify(browser.cookies.get(COOKIE_NAME))
    assert user is not None and user.email == "alice@example.com"  # normalised to lower case
    # Only allow-listed claims are kept: the provider's phone number never reaches the cookie.
    raw = browser.cookies.get(COOKIE_NAME)
    assert "phone" not in _decode_itsdangerous_payload(raw)
    assert LOCAL_CLIENT_SECRET not in stack.app.output()


def test_replayed_callback_is_refused(stack: Stack, browser: requests.Session) -> None:
    callback = callback_from_local(browser, stack.app.url)
    tx_cookies = {name: value for name, value in browser.cookies.items() if name.startswith(f"{COOKIE_NAME}_tx_")}
    assert browser.get(callback, allow_redirects=False).status_code == 302

    # Same browser, cookie already deleted:
    again = browser.get(callback, allow_redirects=False)
    assert again.status_code == 400
    assert "expired or was already used" in again.text
    # An attacker who kept the transaction cookie too:
    with requests.Session() as attacker:
        replay = attacker.get(callback, cookies=tx_cookies, allow_redirects=False)
    assert replay.status_code == 400
    assert COOKIE_NAME not in replay.cookies


def test_forged_state_is_refused(stack: Stack, browser: requests.Session) -> None:
    callback = callback_from_local(browser, stack.app.url)
    forged = callback.replace("state=", "state=forged")
    response = browser.get(forged, allow_redirects=False)

    assert response.status_code == 400
    assert "did not match the sign-in this browser started" in response.text
    assert COOKIE_NAME not in response.cookies


def test_shared_callback_is_not_served_with_several_providers(stack: Stack, browser: requests.Session) -> None:
    """With two providers a shared redirect URI would allow the mix-up attack: each has its own."""
    response = browser.get(f"{stack.app.url}/auth/callback?code=abc&state=xyz", allow_redirects=False)

    assert response.status_code == 404
    assert "each has its own callback address" in response.text
    assert f"Local: {stack.app.url}/auth/callback/local" in response.text
    assert f"Mock provider: {stack.app.url}/auth/callback/mock" in response.text


def test_callback_of_an_unknown_provider_is_refused(stack: Stack, browser: requests.Session) -> None:
    response = browser.get(f"{stack.app.url}/auth/callback/nobody?code=abc&state=xyz", allow_redirects=False)
    assert response.status_code == 404
    assert "no sign-in provider of this app uses" in response.text


def test_callback_without_login_is_refused(stack: Stack, browser: requests.Session) -> None:
    response = browser.get(f"{stack.app.url}/auth/callback/local?code=abc&state=xyz", allow_redirects=False)

    assert response.status_code == 400
    assert "Sign-in did not complete" in response.text
    assert 'href="/"' in response.text  # a way back
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_callback_in_another_browser_is_refused(stack: Stack, browser: requests.Session) -> None:
    callback = callback_from_local(browser, stack.app.url)
    with requests.Session() as other:
        response = other.get(callback, allow_redirects=False)
    assert response.status_code == 400
    assert "another browser" in response.text


def test_user_denies_at_provider(stack: Stack, browser: requests.Session) -> None:
    callback = callback_from_mock(browser, stack.app.url, action="deny")
    # oidc-provider-mock leaves out state here (RFC 6749 §4.1.2.1 says it must not):
    # the user still reads the provider's answer, not a state error.
    assert query(callback)["error"] == "access_denied" and "state" not in query(callback)
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 400
    assert "cancelled or access was denied" in response.text
    assert '<a class="button primary" href="/">Try again</a>' in response.text
    assert COOKIE_NAME not in response.cookies


def test_access_denied_with_state_offers_retry_at_the_same_provider(stack: Stack, browser: requests.Session) -> None:
    stack.local.authorize_error = "access_denied"
    response = browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False)

    assert response.status_code == 400
    assert "cancelled or access was denied" in response.text
    assert "/auth/login?provider=local&amp;next=%2F" in response.text


def test_provider_reported_error_is_shown_with_retry(stack: Stack, browser: requests.Session) -> None:
    stack.local.authorize_error = "temporarily_unavailable"
    callback = callback_from_local(browser, stack.app.url, next_path="/profile")
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 400
    assert "cannot sign you in right now" in response.text
    assert "(Provider error code: temporarily_unavailable.)" in response.text
    assert "/auth/login?provider=local&amp;next=%2Fprofile" in response.text


def test_provider_free_text_goes_to_the_log_not_the_page(stack: Stack, browser: requests.Session) -> None:
    """error_description is the provider's text: it could be phishing ("call support at …")."""
    stack.local.authorize_error = "access_denied"
    stack.local.authorize_error_description = "Call support at +1 555 0199 and read them your password"
    response = browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False)

    assert response.status_code == 400
    assert "Sign-in was cancelled or access was denied at the provider." in response.text
    assert "555 0199" not in response.text
    assert 'detail="access_denied: Call support at +1 555 0199 and read them your password"' in stack.app.output()


def test_non_standard_provider_error_code_is_not_shown(stack: Stack, browser: requests.Session) -> None:
    stack.local.authorize_error = "visit_evil.example_now"
    response = browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False)

    assert response.status_code == 400
    assert "The sign-in provider reported an error, so you were not signed in." in response.text
    assert "evil" not in response.text


def test_registration_error_names_the_redirect_uri_to_register(stack: Stack, browser: requests.Session) -> None:
    stack.local.authorize_error = "unauthorized_client"
    response = browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False)

    assert "(Provider error code: unauthorized_client.)" in response.text
    assert f"the redirect URI registered at Local must be exactly {stack.app.url}/auth/callback/local" in response.text


def test_token_endpoint_500_gives_502_page(stack: Stack, browser: requests.Session) -> None:
    stack.local.token_fault = "500"
    callback = callback_from_local(browser, stack.app.url)
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 502
    assert "not responding correctly" in response.text
    assert "Try again" in response.text
    assert "reason=provider_unavailable" in stack.app.output()


def test_token_endpoint_timeout_gives_504_page(stack: Stack, browser: requests.Session) -> None:
    stack.local.token_fault = "slow"
    stack.local.slow_seconds = 6  # the app's AUTH_HTTP_TIMEOUT is 2 s
    callback = callback_from_local(browser, stack.app.url)
    response = browser.get(callback, allow_redirects=False, timeout=30)

    assert response.status_code == 504
    assert "took too long" in response.text


def test_invalid_grant_gives_readable_page(stack: Stack, browser: requests.Session) -> None:
    stack.local.token_fault = "invalid_grant"
    callback = callback_from_local(browser, stack.app.url)
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 400
    assert "did not accept this sign-in" in response.text


def test_id_token_for_another_client_is_refused(stack: Stack, browser: requests.Session) -> None:
    stack.local.id_token_claims_override = {"aud": "someone-else", "azp": "someone-else"}
    callback = callback_from_local(browser, stack.app.url)
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 400
    assert "could not be verified" in response.text
    assert COOKIE_NAME not in response.cookies
    assert "reason=invalid_id_token" in stack.app.output()


def test_id_token_signed_by_unknown_key_is_refused(stack: Stack, browser: requests.Session) -> None:
    from devprovider import generate_signing_key

    stack.local.sign_with = generate_signing_key()  # its own kid: not in the JWKS even after a refetch
    callback = callback_from_local(browser, stack.app.url)
    response = browser.get(callback, allow_redirects=False)

    assert response.status_code == 400
    assert COOKIE_NAME not in response.cookies


def test_key_rotation_is_followed(stack: Stack, browser: requests.Session) -> None:
    assert browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False).status_code == 302
    hits_before = stack.local.jwks_hits
    stack.local.rotate_keys()

    response = browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False)

    assert response.status_code == 302, response.text
    assert stack.local.jwks_hits == hits_before + 1  # fetched again once, for the new kid


def test_unknown_provider_lists_valid_ones(stack: Stack, browser: requests.Session) -> None:
    response = start_login(browser, stack.app.url, "nope")

    assert response.status_code == 400
    assert "Valid providers: mock, local" in response.text
    assert "/auth/login?provider=mock" in response.text


def test_open_redirects_fall_back_to_the_app(stack: Stack, browser: requests.Session) -> None:
    for hostile in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"):
        callback = callback_from_local(browser, stack.app.url, next_path=hostile)
        response = browser.get(callback, allow_redirects=False)
        assert response.headers["location"] == "/", hostile


def test_logout_clears_the_session_cookie(stack: Stack, browser: requests.Session) -> None:
    browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False)
    assert COOKIE_NAME in browser.cookies

    response = sign_out(browser, stack.app.url)

    # The local provider has an end-session endpoint: the browser goes there next.
    assert response.status_code == 303
    assert response.headers["location"].startswith(stack.local.end_session_endpoint + "?")
    header = session_set_cookie(response)
    assert "Max-Age=0" in header and "Path=/" in header
    assert COOKIE_NAME not in browser.cookies
    assert "event=session_ended reason=logout provider=local sub=alice sessions=1" in stack.app.output()


def test_log_lines_are_structured_and_secret_free(stack: Stack, browser: requests.Session) -> None:
    callback = callback_from_local(browser, stack.app.url)
    code = query(callback)["code"]
    browser.get(callback, allow_redirects=False)
    session_value = browser.cookies.get(COOKIE_NAME)

    output = stack.app.output()
    assert "event=login provider=local sub=alice email=alice@example.com" in output
    for secret in (code, session_value, stack.cookie_secret, LOCAL_CLIENT_SECRET, "mock-secret"):
        assert secret not in output
    assert "Traceback" not in output


def _decode_itsdangerous_payload(value: str) -> str:
    import zlib

    payload = value.split(".")[1] if value.startswith(".") else value.split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(data) if value.startswith(".") else data).decode()
