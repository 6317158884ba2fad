"""OpenID Connect sign-in for Streamlit, with identity in a signed, timestamped cookie.

    from auth import Auth

    auth = Auth.from_environment()
    app = st.App("demo/main.py", routes=auth.routes)

and in a page script::

    user = auth.require_login()
"""

from .config import AccessRules, Settings, load_settings
from .errors import (
    AuthError,
    ConfigurationError,
    LoginError,
    NoTokens,
    NotSignedIn,
    RefreshRefused,
    RefreshUnavailable,
    TokenError,
)
from .identity import User
from .presets import ProviderSettings
from .tokens import AccessToken
from .ui import escape_markdown
from .wiring import Auth

__all__ = [
    "AccessRules",
    "AccessToken",
    "Auth",
    "AuthError",
    "ConfigurationError",
    "LoginError",
    "NoTokens",
    "NotSignedIn",
    "ProviderSettings",
    "RefreshRefused",
    "RefreshUnavailable",
    "Settings",
    "TokenError",
    "User",
    "escape_markdown",
    "load_settings",
]
