"""``python -m auth doctor``: check the sign-in configuration and every provider.
``python -m auth init``: add sign-in to the Streamlit app in the current folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import normalize_base_path, read_environment
from .doctor import run_doctor
from .init import run_init, write_example
from .init_settings import InitOptions
from .presets import KINDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser("doctor", help="check the configuration and reach every provider")
    doctor.add_argument(
        "--env-file",
        default=os.environ.get("AUTH_ENV_FILE", ".env"),
        help="settings file read under the environment (default: AUTH_ENV_FILE or ./.env; '' for none)",
    )
    doctor.add_argument(
        "--base-path",
        default=None,
        help="Streamlit's server.baseUrlPath (default: read from Streamlit's configuration)",
    )
    add_init_parser(commands)
    args = parser.parse_args(argv)
    from streamlit import config as streamlit_config

    base_path = args.base_path
    if base_path is None:
        base_path = streamlit_config.get_option("server.baseUrlPath") or ""
    if args.command == "init":
        if args.example:
            return write_example(Path.cwd(), args.force, sys.stdout)
        options = InitOptions(
            provider=args.provider,
            kind=args.kind,
            issuer=args.issuer,
            url=args.url,
            realm=args.realm,
            client_id=args.client_id,
            client_secret=args.client_secret,
            public_url=args.public_url,
            entry=args.entry,
            force=args.force,
        )
        return run_init(
            options,
            folder=Path.cwd(),
            environ=os.environ,
            base_path=normalize_base_path(base_path),
            port=int(streamlit_config.get_option("server.port")),
            out=sys.stdout,
        )
    environ = read_environment(Path(args.env_file) if args.env_file else None)
    return run_doctor(environ, base_path=base_path, out=sys.stdout)


def add_init_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init",
        help="add sign-in to the Streamlit app in the current folder",
        description="Writes app.py (the st.App wrapper of the app's entry script), a .env with a new cookie "
        "secret and the provider's settings, and adds .env and the session store to .gitignore. Never "
        "replaces a file without --force; never changes the app's own scripts.",
        epilog="Exit status: 0 ready to run, 1 written but something to do first (listed), 2 nothing written.",
    )
    init.add_argument(
        "--provider",
        metavar="NAME",
        help="google, keycloak, or a name of your own for any OpenID provider "
        "(default: none yet, `python -m auth.dev app.py` runs a development provider)",
    )
    init.add_argument("--kind", choices=KINDS, help="the provider's preset when its name is not one (default: oidc)")
    init.add_argument("--issuer", metavar="URL", help="the provider's issuer URL (any OpenID provider)")
    init.add_argument("--url", metavar="URL", help="Keycloak: the server's URL, e.g. https://sso.example.com")
    init.add_argument("--realm", help="Keycloak: the realm")
    init.add_argument("--client-id", help="the client id registered at the provider (default: a placeholder to fill)")
    init.add_argument(
        "--client-secret",
        help="its client secret (default: a placeholder to fill in .env, which keeps it out of your shell history)",
    )
    init.add_argument(
        "--public-url", metavar="URL", help="the URL users open (default: http://localhost:<Streamlit's port>)"
    )
    init.add_argument("--entry", metavar="FILE", help="the script you give `streamlit run` (default: found)")
    init.add_argument("--base-path", default=None, help=argparse.SUPPRESS)
    init.add_argument("--force", action="store_true", help="replace app.py and values in .env that differ")
    init.add_argument(
        "--example", action="store_true", help="only write .env.example: every setting, its default and meaning"
    )


if __name__ == "__main__":
    raise SystemExit(main())
