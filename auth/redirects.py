"""Where a user may be sent after signing in: only back into this app.

An open redirect on a login endpoint turns our domain into a phishing
trampoline (``/auth/login?next=https://evil.example``), so ``next`` must be
a path on this origin under the app's base path, and anything doubtful
falls back to the app's root.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

# In bytes of the percent-encoded form. It travels in the login-transaction cookie,
# which must stay well under a browser's 4096-byte cookie limit: 2,041 CJK
# characters are 18 KB once encoded, and a dropped cookie is a sign-in that always fails.
MAX_NEXT_LENGTH = 2048
# Printable ASCII stays as it is (including existing %XX escapes); everything else is encoded.
_KEEP = "".join(chr(code) for code in range(0x21, 0x7F))


def app_root(base_path: str) -> str:
    return f"{base_path}/"


def safe_next_path(value: str | None, base_path: str = "") -> str:
    """``value`` if it is a same-origin path inside the app, else the app's root.

    Rejected: absolute URLs (``https://…``), scheme-relative (``//host``) and
    backslash tricks browsers treat as such (``/\\host``), any scheme
    (``javascript:``), control characters, dot segments, paths outside the
    base path, and our own ``/auth/`` routes (a redirect loop).
    """
    root = app_root(base_path)
    if not value or len(value) > MAX_NEXT_LENGTH:
        return root
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return root
    if any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in value):
        return root
    value = quote(value, safe=_KEEP)  # the URL the browser would send, in ASCII
    if len(value) > MAX_NEXT_LENGTH:
        return root
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return root
    # Browsers resolve %2e%2e like "..", so judge the decoded path.
    path = unquote(parts.path)
    if any(segment in {".", ".."} for segment in path.split("/")):
        return root
    if base_path and not (path == base_path or path.startswith(base_path + "/")):
        return root
    if path.startswith(f"{base_path}/auth/") or path == f"{base_path}/auth":
        return root
    return value
