"""Which app a session belongs to: ``AUTH_APP_ID``, or one derived from what separates apps.

Two apps that share a Redis database (or a SQLite file) and a cookie secret
must not accept each other's sessions: app A's access rules may refuse a
user that app B admits, and "sign out everywhere" in one must not end
sessions in the other. So every session is bound to its app: the cookie's
signature is salted with the app id (a cookie of another app does not
verify) and the store keeps each app's sessions apart (Redis key prefix,
SQLite column).

Without an explicit ``AUTH_APP_ID`` the id is derived from what already
separates apps in a browser: the session cookie's name, and the public
URL's host and base path. Not its port: browsers share cookies across the
ports of one host (RFC 6265 §8.5), and replicas behind one load balancer
must keep sharing sessions, so the port cannot tell apps apart anyway.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

#: what an explicit ``AUTH_APP_ID`` may look like: safe in Redis keys, SQL and log lines
APP_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def derive_app_id(cookie_name: str, public_url: str, base_path: str) -> str:
    """A short, stable id for the app at ``public_url`` (host and base path) with this cookie.

    ``app-`` and 16 hex digits of SHA-256: enough to keep any two real apps apart,
    short enough for every Redis key, and free of characters a key or log line minds.
    """
    host = (urlsplit(public_url).hostname or "").lower()
    material = "\n".join(("streamlit-oidc-auth.app.v1", cookie_name, host, base_path))
    return "app-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]
