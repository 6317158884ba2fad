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
            "Set these in the environment or in .env (see .env.example)."
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
    user_message = (
        "The sign-in response did not match the sign-in this browser started. "
        "Please start again."
    )


class ProviderRejected(LoginError):
    """The provider answered the authorization request with an ``error``."""

    reason = "provider_error"
    user_message = "The sign-in provider did not sign you in."

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        if error == "access_denied":
            message = "Sign-in was cancelled or access was denied at the provider."
        else:
            message = f"The sign-in provider reported an error ({error})."
        super().__init__(f"{error}: {description}".rstrip(": "), user_message=message)


class ProviderUnavailable(LoginError):
    """The provider could not be reached or answered with a server error."""

    status = 502
    reason = "provider_unavailable"
    user_message = (
        "The sign-in provider is not responding correctly right now. "
        "Please try again in a moment."
    )


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


class InvalidIdToken(LoginError):
    """The ID token failed one of the checks of OIDC Core §3.1.3.7."""

    status = 400
    reason = "invalid_id_token"
    user_message = (
        "The sign-in provider's answer could not be verified, so you were not signed in."
    )


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
