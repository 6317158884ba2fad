"""``python -m devprovider``: the provider as a server of its own, for development.

DEVELOPMENT ONLY: anyone who reaches it can sign in as any of its users, without a password.
It binds to 127.0.0.1 only. ``python -m auth.dev`` (``scripts/run.sh``) starts it with the
demo users and the app's URLs; run it by hand to point another app at it::

    DEVPROVIDER_CLIENT_SECRET=s3cret python -m devprovider --port 9400 \\
        --user '{"sub": "alice", "name": "Alice Admin", "email": "alice@example.com", "roles": ["admin"]}' \\
        --redirect-uri http://localhost:8501/auth/callback/dev \\
        --post-logout-redirect-uri http://localhost:8501/ \\
        --backchannel-logout-uri http://localhost:8501/auth/backchannel-logout

It behaves like a real provider where the demo needs it: provider sessions (signing in again
within one is immediate), RP-Initiated Logout 1.0 that ends the session and returns at once
when ``id_token_hint`` is valid, Back-Channel Logout 1.0 to the app, refresh tokens with
rotation, and RFC 9207 ``iss`` in authorization responses. The client secret comes from the
environment (``DEVPROVIDER_CLIENT_SECRET``), never the command line, where ``ps`` shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .local_provider import LocalProvider
from .users import ProviderUser

SECRET_VARIABLE = "DEVPROVIDER_CLIENT_SECRET"
DEFAULT_PORT = 9400
DEFAULT_CLIENT_ID = "streamlit-dev"
#: Short enough that the demo's API page shows a refresh after a minute (the app refreshes
#: a token with less than a minute left), long enough to read the page in between.
DEFAULT_ACCESS_TOKEN_LIFETIME = 120


class UsageError(Exception):
    """A command line or environment this provider cannot start with; the message says why."""


def parse_user(text: str) -> ProviderUser:
    """``{"sub": ..., claims...}`` (the format of oidc-provider-mock's ``--user-claims``)."""
    try:
        claims = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--user is not JSON: {error.msg}") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise UsageError('--user must be a JSON object with a non-empty "sub"')
    sub = claims.pop("sub")
    return ProviderUser(sub=sub, claims=claims)


def build_provider(args: argparse.Namespace, client_secret: str) -> LocalProvider:
    """The provider the command line describes, with what the demo needs switched on."""
    provider = LocalProvider(
        users=[parse_user(text) for text in args.user],
        client_id=args.client_id,
        client_secret=client_secret,
        redirect_uris=args.redirect_uri or None,
        post_logout_redirect_uris=args.post_logout_redirect_uri or None,
    )
    provider.sso = True
    provider.send_iss = True
    provider.backchannel_logout_uri = args.backchannel_logout_uri
    provider.access_token_lifetime = args.access_token_lifetime
    return provider


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devprovider",
        description="A local OpenID provider for development, on 127.0.0.1. DEVELOPMENT ONLY.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--user", action="append", required=True, help="a user as JSON; repeat for each")
    parser.add_argument("--redirect-uri", action="append", help="a registered redirect URI (default: any)")
    parser.add_argument(
        "--post-logout-redirect-uri", action="append", help="a registered post-logout redirect URI (default: any)"
    )
    parser.add_argument("--backchannel-logout-uri", help="the app's back-channel logout endpoint")
    parser.add_argument("--access-token-lifetime", type=int, default=DEFAULT_ACCESS_TOKEN_LIFETIME, help="seconds")
    return parser


def main(argv: Sequence[str]) -> int:
    """Serve until SIGTERM or Ctrl+C; 2 for a usage problem, 1 when the port is taken."""
    args = _arguments().parse_args(argv)
    client_secret = os.environ.get(SECRET_VARIABLE, "")
    try:
        if not client_secret:
            raise UsageError(f"set the client secret in the environment variable {SECRET_VARIABLE}")
        provider = build_provider(args, client_secret)
    except UsageError as error:
        print(f"devprovider: {error}", file=sys.stderr)
        return 2
    try:
        provider.start(port=args.port)
    except OSError as error:
        print(f"devprovider: cannot listen on 127.0.0.1:{args.port} ({error.strerror})", file=sys.stderr)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(f"devprovider: serving {provider.issuer} (sessions: {provider.issuer}/)", flush=True)
    try:
        stop.wait()
    finally:
        provider.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
