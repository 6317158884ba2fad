"""``python -m auth doctor``: check the sign-in configuration and every provider."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import read_environment
from .doctor import run_doctor


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
    args = parser.parse_args(argv)
    base_path = args.base_path
    if base_path is None:
        from streamlit import config as streamlit_config

        base_path = streamlit_config.get_option("server.baseUrlPath") or ""
    environ = read_environment(Path(args.env_file) if args.env_file else None)
    return run_doctor(environ, base_path=base_path, out=sys.stdout)


if __name__ == "__main__":
    raise SystemExit(main())
