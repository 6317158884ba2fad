"""What ``python -m auth init`` tells the user once the files are written.

Whether the settings pass start-up's check (its own messages), which URIs to
register at each provider, how to protect the pages, and the command to run.
Everything is derived the way the app and the doctor derive it
(``load_settings``, ``PublicAddress``), so what is printed is what will work.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from . import dev, dev_providers
from .address import PublicAddress
from .config import Settings, load_settings, split_list
from .errors import ConfigurationError
from .init_entry import read_script
from .presets import KINDS
from .reader import is_loopback_host


def check_settings(
    environment: Mapping[str, str | None], development: bool, *, base_path: str, port: int, out: TextIO
) -> tuple[Settings | None, int]:
    """Start-up's own check (``load_settings``) of what the app will read, its problems in its
    words; the settings when valid, and the number of problems."""
    values = {name: value for name, value in environment.items() if value is not None}
    if development:  # what `python -m auth.dev` adds when no provider is configured
        added = dev.provider_environment(dev.DEFAULT_PROVIDER_PORT, client_secret="made-fresh-on-every-start")
        values |= {name: value for name, value in added.items() if name != "AUTH_COOKIE_SECRET"}
    try:
        settings = load_settings(values, base_path=base_path, port=port)
    except ConfigurationError as error:
        out.write(f"\nSettings, checked as the app checks them at start-up: {len(error.problems)} to fix in .env\n")
        out.write("".join(f"  - {problem}\n" for problem in error.problems))
        out.write("  Then `python -m auth doctor` checks them against the provider too.\n")
        return None, len(error.problems)
    out.write("\nSettings: complete (checked as the app checks them at start-up).\n")
    out.write("".join(f"  warning: {warning}\n" for warning in settings.warnings))
    return settings, 0


#: what each kind's console calls the fields the URIs go in
_FIELDS = {
    "google": ("Authorized redirect URIs", "", ""),
    "keycloak": ("Valid redirect URIs", "Valid post logout redirect URIs", "Backchannel logout URL"),
    "oidc": ("redirect URI", "post-logout redirect URI", "back-channel logout URL (where it offers one)"),
}


def print_uris(
    environment: Mapping[str, str | None], settings: Settings | None, *, base_path: str, port: int, out: TextIO
) -> None:
    """What to register at each provider: its redirect URI and, where the provider signs out
    too (not Google: its logout revokes the tokens), the post-logout redirect URI and the
    back-channel logout URL; from ``PublicAddress``, as the doctor says them. Printed even
    while client id and secret are missing: providers ask for the redirect URI first."""
    address = PublicAddress(settings) if settings is not None else _address_only(environment, base_path, port)
    if address is None:
        return  # AUTH_PUBLIC_URL itself is wrong: its problem is listed above
    for name in (item.lower() for item in split_list(environment.get("AUTH_PROVIDERS"))):
        kind = (environment.get(f"AUTH_{name.upper()}_KIND") or (name if name in KINDS else "oidc")).lower()
        redirect, post_logout, backchannel = _FIELDS.get(kind, _FIELDS["oidc"])
        out.write(f"\nRegister at {name}" + (f" ({kind})" if kind != name else "") + ":\n")
        out.write(f"  {redirect}: {address.redirect_uri(name)}\n")
        if post_logout:
            out.write(f"  {post_logout}: {address.post_logout_redirect_uri()}\n")
            out.write(f"  {backchannel}: {address.backchannel_logout_uri()}\n")


def _address_only(environment: Mapping[str, str | None], base_path: str, port: int) -> PublicAddress | None:
    """The app's address while other settings are still missing: the real public URL and
    callback rule, checked by ``load_settings`` with stand-ins for everything else."""
    probe = {
        "AUTH_PROVIDERS": "probe",
        "AUTH_PROBE_ISSUER": "https://issuer.invalid",
        "AUTH_PROBE_CLIENT_ID": "probe",
        "AUTH_PROBE_CLIENT_SECRET": "probe",
        "AUTH_COOKIE_SECRET": "p" * 32,
    }
    for name in ("AUTH_PUBLIC_URL", "AUTH_LEGACY_CALLBACK"):
        if environment.get(name):
            probe[name] = environment[name] or ""
    try:
        return PublicAddress(load_settings(probe, base_path=base_path, port=port))
    except ConfigurationError:
        return None


def print_guard_advice(entry: Path, wrapper: Path, folder: Path, out: TextIO) -> None:
    """Routes alone protect nothing: each page must ask for the user. Said unless the entry
    script already imports the wrapper's ``auth``."""
    script = read_script(entry)
    if script is None or wrapper.stem in script.imported_modules:
        return
    name = _relative(entry, folder)
    out.write(f"\nProtect the pages: {wrapper.name} mounts sign-in, each page asks for the user.\n")
    if script.calls_navigation:
        out.write(
            f"  In {name}: `from {wrapper.stem} import auth`, then auth.navigation(...) in place of "
            "st.navigation(...) (the same arguments); it signs the user in first.\n"
        )
    else:
        out.write(f"  At the top of {name} (and of each page script):\n")
        out.write(f"      from {wrapper.stem} import auth\n      auth.require_login()\n")
    if (folder / "pages").is_dir():
        out.write("  Its pages/ folder holds pages too: see the README's section on apps with a pages/ folder.\n")


def print_run(wrapper: Path, environment: Mapping[str, str | None], development: bool, out: TextIO) -> None:
    out.write("\nRun it:\n")
    if development:
        out.write(f"  python -m auth.dev {wrapper.name}\n")
        out.write("  (no AUTH_PROVIDERS yet: a local development provider with demo users alice and bob;\n")
        out.write("  python -m auth init --provider NAME adds a real one)\n")
        if dev_providers.checkout_root() is None and not dev_providers.mock_provider_available():
            out.write(f"  It needs the development provider first: pip install '{dev_requirement()}'\n")
        return
    public = urlsplit(environment.get("AUTH_PUBLIC_URL") or "")
    pinned = public.port if is_loopback_host(public.hostname) and public.port else None
    # Pinned, Streamlit stops when the port is taken instead of serving on one the provider does not know.
    out.write(f"  streamlit run {wrapper.name}" + (f" --server.port {pinned}" if pinned else "") + "\n")


def dev_requirement() -> str:
    """The ``dev`` extra's requirement as this installation declares it (works for any install source)."""
    try:
        for requirement in importlib.metadata.requires("streamlit-oidc-auth") or []:
            name, _, marker = requirement.partition(";")
            if "extra" in marker and '"dev"' in marker:
                return name.strip()
    except importlib.metadata.PackageNotFoundError:
        pass
    return "oidc-provider-mock"


def _relative(path: Path, start: Path) -> str:
    return path.relative_to(start).as_posix() if path.is_relative_to(start) else path.as_posix()
