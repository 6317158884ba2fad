"""The provider's answers that are not tokens: HTML pages, redirects with parameters, OAuth error JSON,
and the one way the provider writes JSON about a user (tokens and userinfo).

Every endpoint answers problems in one of these few ways, so they are built in one place
and look the same whichever endpoint sends them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

from .layout import message_page
from .records import _OAuthError


class AsciiJSON(json.JSONEncoder):
    """JSON written in ASCII, every other character as a ``\\u`` escape (as Python's ``json``
    and many providers write it). A user's claims can then hold what provider JSON can hold
    but UTF-8 cannot: a lone surrogate such as ``"\\udc80"``, which the app must survive."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**{**options, "ensure_ascii": True})


class AsciiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, cls=AsciiJSON, separators=(",", ":")).encode("ascii")


def html_page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A page that says one thing (errors, "Signed out"), in the provider's look (``pages``)."""
    return message_page(title, body, status=status)


def redirect(uri: str, **params: str | None) -> RedirectResponse:
    """302 to ``uri`` with ``params`` added to any query it already has (None values dropped)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return RedirectResponse(parts._replace(query=urlencode(query)).geturl(), status_code=302)


def oauth_error_response(err: _OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": err.error, "error_description": err.description},
        status_code=err.status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def client_error_response(err: _OAuthError, basic: bool) -> JSONResponse:
    """An error from an endpoint with client authentication (token, revocation): a 401
    answer to Basic credentials carries the challenge (RFC 6749 §5.2)."""
    response = oauth_error_response(err)
    if err.status == 401 and basic:
        response.headers["WWW-Authenticate"] = 'Basic realm="LocalProvider"'
    return response
