"""Client authentication (RFC 6749 §2.3.1) for the endpoints that require it: token and revocation.

Both endpoints must refuse exactly the same malformed or wrong credentials, so the check
is written once, as a function of the registered client's id and secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import unquote_plus

from .records import _OAuthError


def authenticate_client(basic_header: str | None, form: dict[str, str], client_id: str, client_secret: str) -> str:
    """Client authentication per RFC 6749 §2.3.1 (Basic with form-urlencoded parts, or post)
    against the registered ``client_id``/``client_secret``; returns the client id presented."""
    secret: str | None
    if basic_header is not None:
        if "client_secret" in form:
            raise _OAuthError("invalid_request", "Use only one client authentication method")
        try:
            decoded = base64.b64decode(basic_header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _OAuthError("invalid_client", "Malformed Basic credentials", 401) from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise _OAuthError("invalid_client", "Malformed Basic credentials", 401)
        presented_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if "client_id" in form and form["client_id"] != presented_id:
            raise _OAuthError("invalid_client", "client_id in body differs from Basic credentials", 401)
    else:
        presented_id, secret = form.get("client_id", ""), form.get("client_secret")
    if secret is None:
        raise _OAuthError("invalid_client", "Client authentication is required", 401)
    id_ok = hmac.compare_digest(presented_id.encode(), client_id.encode())
    secret_ok = hmac.compare_digest(secret.encode(), client_secret.encode())
    if not (id_ok and secret_ok):
        raise _OAuthError("invalid_client", "Invalid client credentials", 401)
    return presented_id
