"""Names the provider shares with the apps it serves: endpoint paths, its SSO cookie, the logout event.

Several modules need them (routes, endpoint URLs, the login form, end-session, logout
tokens), so they sit in one place that imports nothing of the package.
"""

from __future__ import annotations

AUTHORIZE_PATH = "/protocol/openid-connect/auth"
TOKEN_PATH = "/protocol/openid-connect/token"
USERINFO_PATH = "/protocol/openid-connect/userinfo"
JWKS_PATH = "/protocol/openid-connect/certs"
END_SESSION_PATH = "/protocol/openid-connect/logout"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# Google-style short path (https://oauth2.googleapis.com/revoke), under the issuer path.
REVOCATION_PATH = "/revoke"
# The provider's own pages, for people rather than apps: who is signed in, and a way to end it.
CONSOLE_PATH = "/"
END_CONSOLE_SESSION_PATH = "/sessions/end"

#: The browser cookie naming a provider session (the provider's SSO cookie).
PROVIDER_SESSION_COOKIE = "lp_session"
#: The ``events`` member that makes a JWT a logout token (Back-Channel Logout 1.0 §2.4).
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
