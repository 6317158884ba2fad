"""What the provider hands out and remembers: codes, grants, tokens and sessions as plain records.

The records carry no behaviour, so every endpoint module can share them without importing
another endpoint; ``ISSUED_SECRETS`` lives here too, as the run-wide list of what was handed out.
"""

from __future__ import annotations

from dataclasses import dataclass

#: every code, token and client secret any LocalProvider of this test run has handed out, for
#: the log scan of tests/conftest.py (none of them may ever appear in a log line)
ISSUED_SECRETS: set[str] = set()


@dataclass
class _Login:
    """What a completed sign-in grants; shared by authorization codes and refresh tokens.

    ``grant`` names the grant (one per approval) that every token issued from this sign-in
    belongs to, through any number of refreshes; revoking it kills them all.
    """

    sub: str
    client_id: str
    scope: str
    nonce: str | None
    sid: str
    auth_time: float
    grant: str


@dataclass
class _Grant:
    """An authorization grant: one approval and every code and token descending from it."""

    id: str
    sub: str
    revoked: bool = False


@dataclass
class _RefreshToken:
    login: _Login  # without nonce: a refreshed ID token carries none (OIDC Core §12.2)
    issued: float  # provider clock (skewed), so date_offset_seconds ages refresh tokens
    spent: bool = False


@dataclass
class _ProviderSession:
    """A signed-in user at the provider (Keycloak's "user session").

    ``id`` is the opaque value of the browser's ``lp_session`` cookie; ``sid`` is the public
    session id that ID tokens and logout tokens carry (OIDC Front/Back-Channel Logout).
    """

    id: str
    sub: str
    sid: str
    auth_time: float  # provider clock (skewed), when the user last authenticated


@dataclass
class _Code:
    login: _Login
    redirect_uri: str
    code_challenge: str
    issued: float  # time.monotonic(); code lifetime is provider-internal, so not skewed
    used: bool = False


@dataclass
class _AccessGrant:
    sub: str
    grant: str
    expires: float  # time.monotonic()


@dataclass
class _AuthorizeRequest:
    client_id: str
    redirect_uri: str
    state: str | None
    scope: str
    nonce: str | None
    code_challenge: str


class _OAuthError(Exception):
    """An RFC 6749 error for the token endpoint; turned into a JSON response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
