"""Every failure the package raises, as one hierarchy.

Routes map these to HTTP responses in one place (``auth.routes``); nothing
else needs to know which status a failure deserves. Messages are written for
the person who will read them on an error page or in a log line, and never
contain a secret, a code or a token.
"""

from __future__ import annotations

from collections.abc import Sequence


class AuthError(Exception):
    """Base class: something in the sign-in layer went wrong."""


class ConfigurationError(AuthError):
    """The settings are invalid; carries every problem found, not just the first.

    Start-up stops with this error so an operator fixes everything in one go
    instead of discovering problems one restart at a time.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"Invalid sign-in configuration ({len(self.problems)} problem"
            f"{'' if len(self.problems) == 1 else 's'}):\n{lines}\n"
            "Set these in the environment or in .env; every setting is described in .env.example, "
            "which `python -m auth init --example` writes."
        )


class LoginError(AuthError):
    """A sign-in attempt failed; ``user_message`` is safe to show in the browser.

    ``reason`` is a short machine-readable tag for logs and tests, and
    ``status`` the HTTP status the callback answers with.
    """

    status: int = 400
    reason: str = "login_failed"
    user_message: str = "Sign-in failed."

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        self.detail = detail
        if user_message is not None:
            self.user_message = user_message
        super().__init__(detail or self.user_message)


class UnknownProvider(LoginError):
    reason = "unknown_provider"
    user_message = "That sign-in provider is not configured for this app."


class LoginTransactionMissing(LoginError):
    """No usable login transaction cookie: expired, never started here, or already used."""

    reason = "transaction_missing"
    user_message = (
        "This sign-in link has expired or was already used, or sign-in was started "
        "in another browser. Please start again."
    )


class StateMismatch(LoginError):
    reason = "state_mismatch"
    user_message = "The sign-in response did not match the sign-in this browser started. Please start again."


# RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6 error codes, each with our own
# words. A provider's ``error_description`` is free text it controls (it could say
# "call support at …"), so it goes to the log, never to the page.
_CANCELLED = "Sign-in was cancelled or access was denied at the provider."
_INTERACTIVE = "The sign-in provider needs you to sign in or approve access. Please try again."
_PROVIDER_BUSY = "The sign-in provider cannot sign you in right now. Please try again in a moment."
_REGISTRATION = (
    "The sign-in provider refused this app's sign-in request. "
    "An administrator needs to check the app's registration at the provider."
)
STANDARD_PROVIDER_ERRORS: dict[str, str] = {
    "access_denied": _CANCELLED,
    "login_required": _INTERACTIVE,
    "interaction_required": _INTERACTIVE,
    "consent_required": _INTERACTIVE,
    "account_selection_required": _INTERACTIVE,
    "server_error": _PROVIDER_BUSY,
    "temporarily_unavailable": _PROVIDER_BUSY,
    "invalid_request": _REGISTRATION,
    "unauthorized_client": _REGISTRATION,
    "unsupported_response_type": _REGISTRATION,
    "invalid_scope": _REGISTRATION,
    "invalid_request_uri": _REGISTRATION,
    "invalid_request_object": _REGISTRATION,
    "request_not_supported": _REGISTRATION,
    "request_uri_not_supported": _REGISTRATION,
    "registration_not_supported": _REGISTRATION,
}
#: codes that usually mean the app's registration (redirect URI, client id, scopes) is wrong
REGISTRATION_ERRORS = frozenset(code for code, text in STANDARD_PROVIDER_ERRORS.items() if text == _REGISTRATION)


class ProviderRejected(LoginError):
    """The provider answered the authorization request with an ``error``.

    Only a standard code is named on the page, in our words; anything else the
    provider says is logged.
    """

    reason = "provider_error"
    user_message = "The sign-in provider did not sign you in."

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        standard = STANDARD_PROVIDER_ERRORS.get(error)
        if standard is None:
            message = "The sign-in provider reported an error, so you were not signed in."
        elif error == "access_denied":
            message = standard
        else:
            message = f"{standard} (Provider error code: {error}.)"
        super().__init__(f"{error}: {description}".rstrip(": "), user_message=message)

    @property
    def is_standard(self) -> bool:
        return self.error in STANDARD_PROVIDER_ERRORS


class MixUpSuspected(LoginError):
    """The response came back for another provider than the one the sign-in started with
    (RFC 9700 §4.4: mix-up attack), or without the ``iss`` its provider promises (RFC 9207)."""

    reason = "mix_up"
    user_message = (
        "The sign-in response did not come from the provider you chose, so you were not signed in. Please start again."
    )


class ProviderBusy(LoginError):
    """Every slot for provider calls is taken: answer at once instead of queueing without bound."""

    status = 503
    reason = "busy"
    user_message = "Sign-in is busy right now. Please try again in a moment."
    retry_after = 5


class SessionStoreDown(LoginError):
    """The session store did not answer (Redis down, SQLite locked): nobody can be signed
    in or out until it does, so the routes say so instead of pretending."""

    status = 503
    reason = "store_unavailable"
    user_message = "Sign-in is temporarily unavailable. Please try again in a minute."
    retry_after = 30


class TooManyAttempts(LoginError):
    """This client address went over its sign-in rate limit."""

    status = 429
    reason = "rate_limited"
    user_message = "There were too many sign-in attempts from your network. Please wait a moment and try again."

    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class ProviderUnavailable(LoginError):
    """The provider could not be reached or answered with a server error."""

    status = 502
    reason = "provider_unavailable"
    user_message = "The sign-in provider is not responding correctly right now. Please try again in a moment."


class ProviderTimeout(ProviderUnavailable):
    status = 504
    reason = "provider_timeout"
    user_message = "The sign-in provider took too long to answer. Please try again."


class ProviderMisconfigured(LoginError):
    """The provider's metadata contradicts our configuration (e.g. issuer mismatch)."""

    status = 502
    reason = "provider_misconfigured"
    user_message = (
        "The sign-in provider is not set up the way this app expects. "
        "An administrator needs to check the configuration."
    )


class TokenExchangeFailed(LoginError):
    """The token endpoint refused the authorization code."""

    status = 400
    reason = "token_exchange_failed"
    user_message = "The sign-in provider did not accept this sign-in. Please try again."


class GrantRejected(TokenExchangeFailed):
    """The token endpoint refused a refresh token: ``error`` is its OAuth error code
    (``invalid_grant`` means revoked, expired or the user disabled: the session is over)."""

    reason = "refresh_rejected"

    def __init__(self, detail: str, *, error: str) -> None:
        self.error = error
        super().__init__(detail)


class InvalidIdToken(LoginError):
    """The ID token failed one of the checks of OIDC Core §3.1.3.7."""

    status = 400
    reason = "invalid_id_token"
    user_message = "The sign-in provider's answer could not be verified, so you were not signed in."


class SessionTooLarge(LoginError):
    """Even the essential claims do not fit in one cookie."""

    status = 400
    reason = "session_too_large"
    user_message = "Your account's details are too large to keep in a session cookie."


class AccessDenied(LoginError):
    """The user signed in but the access rules do not admit them."""

    status = 403
    reason = "access_denied"
    user_message = "Your account is not allowed here."
    #: how the refused account is shown to its owner (email or username), set by the flow
    account: str | None = None


class LogoutTokenReplayed(AuthError):
    """A back-channel logout token whose ``jti`` was already used (Back-Channel Logout 1.0 §2.6)."""


class TokenError(AuthError):
    """``access_token()`` has no usable access token to give; ``user_message`` is safe to show.

    Page scripts catch this one type; the subclasses say why and what to do.
    """

    user_message = "The app cannot call other services on your behalf right now."


class NotSignedIn(TokenError):
    user_message = "You are not signed in."


class NoTokens(TokenError):
    """The session keeps no usable token: ``AUTH_STORE=none`` (tokens are never kept in a
    cookie), the provider issued none, or the access token expired and there is no refresh token."""

    user_message = "This sign-in does not allow the app to call other services on your behalf."


class RefreshRefused(TokenError):
    """The provider refused the refresh token (revoked, expired, user disabled): the session
    has been ended, and the next rerun shows the login page."""

    user_message = "Your sign-in is no longer valid at the provider. Please sign in again."


class RefreshUnavailable(TokenError):
    """The provider (or the session store) could not refresh the token now: down, slow, or
    another refresh did not finish in time. The session stays; try again later."""

    user_message = "The sign-in provider cannot be reached right now. Please try again in a moment."
