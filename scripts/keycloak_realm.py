"""The repository's Keycloak realm, pointed at wherever the app runs.

``docker/keycloak/streamlit-realm.json`` is written for the Docker stack: the browser reaches
the app at ``http://localhost:8501`` and Keycloak's container reaches it at ``http://app:8501``
(the compose service). Keycloak without Docker (``scripts/keycloak.sh``) and the tests that
run a real Keycloak (``tests/support/keycloak.py``) import the same file through
``realm_for_app``, which moves only the app client's URLs and leaves every other setting as the
file has it, so a broken realm file breaks those runs too.

Standard library only: ``scripts/keycloak.sh`` runs it with the system ``python3``::

    python3 scripts/keycloak_realm.py import-file --app-url URL --backchannel-app-url URL OUT
    python3 scripts/keycloak_realm.py users
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
#: the file docker/compose.yml mounts into Keycloak's import directory
REALM_FILE = ROOT / "docker" / "keycloak" / "streamlit-realm.json"
#: the app's confidential client in that realm
CLIENT_ID = "streamlit-app"
#: the app as the browser reaches it, in the realm file (redirect and post-logout URIs)
APP_URL = "http://localhost:8501"
#: the app as Keycloak's container reaches it, in the realm file (back-channel logout URL)
BACKCHANNEL_APP_URL = "http://app:8501"
#: Keycloak's separator of a multivalued client attribute (``Constants.CFG_DELIMITER``)
MULTIVALUE_SEPARATOR = "##"


class RealmFileError(Exception):
    """The realm file no longer has the shape ``realm_for_app`` moves: fix one of the two."""


def load_realm(path: Path = REALM_FILE) -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return realm


def realm_for_app(realm: dict[str, Any], app_url: str, backchannel_app_url: str) -> dict[str, Any]:
    """A copy of ``realm`` whose app client points at an app served at ``app_url``.

    ``app_url`` replaces ``http://localhost:8501`` at the start of the client's root URL,
    redirect URIs, web origins and post-logout redirect URIs (what the browser is sent to);
    ``backchannel_app_url`` replaces ``http://app:8501`` in its back-channel logout URL (what
    Keycloak itself POSTs logout tokens to, OpenID Connect Back-Channel Logout 1.0 §2.2). Paths
    stay as the file has them. Nothing else changes. A URL that does not start with the
    expected app URL raises ``RealmFileError`` instead of being imported unchanged, where it
    would send the browser, or Keycloak's logout tokens, to an app that is not there.
    """
    for url in (app_url, backchannel_app_url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"an app URL is scheme://host:port without a path, got {url!r}")
    app_url, backchannel_app_url = app_url.rstrip("/"), backchannel_app_url.rstrip("/")
    adapted = copy.deepcopy(realm)
    clients = [client for client in adapted.get("clients", []) if client.get("clientId") == CLIENT_ID]
    if len(clients) != 1:
        raise RealmFileError(f"the realm has {len(clients)} clients with clientId {CLIENT_ID!r}, expected 1")
    client = clients[0]
    attributes = client.setdefault("attributes", {})
    client["rootUrl"] = _moved(client.get("rootUrl"), APP_URL, app_url, "rootUrl")
    client["redirectUris"] = [_moved(uri, APP_URL, app_url, "redirectUris") for uri in client.get("redirectUris", [])]
    client["webOrigins"] = [_moved(uri, APP_URL, app_url, "webOrigins") for uri in client.get("webOrigins", [])]
    post_logout = str(attributes.get("post.logout.redirect.uris", "")).split(MULTIVALUE_SEPARATOR)
    attributes["post.logout.redirect.uris"] = MULTIVALUE_SEPARATOR.join(
        _moved(uri.strip(), APP_URL, app_url, "post.logout.redirect.uris") for uri in post_logout
    )
    attributes["backchannel.logout.url"] = _moved(
        attributes.get("backchannel.logout.url"), BACKCHANNEL_APP_URL, backchannel_app_url, "backchannel.logout.url"
    )
    return adapted


def _moved(value: object, old: str, new: str, setting: str) -> str:
    if not isinstance(value, str) or not (value == old or value.startswith(old + "/")):
        raise RealmFileError(f"client {CLIENT_ID!r}: {setting} {value!r} does not start with {old}")
    return new + value[len(old) :]


def import_file_name(realm: dict[str, Any]) -> str:
    """``<realm>-realm.json``: the name Keycloak's import guide requires in ``data/import``."""
    return f"{realm['realm']}-realm.json"


def users_table(realm: dict[str, Any]) -> list[str]:
    """One line per user of the realm file: username, password, email, roles and groups.

    Printed by ``scripts/keycloak.sh`` so the demo accounts shown are the imported ones."""
    client_roles_of_groups = {
        group["name"]: group.get("clientRoles", {}).get(CLIENT_ID, []) for group in realm.get("groups", [])
    }
    realm_roles_of_groups = {group["name"]: group.get("realmRoles", []) for group in realm.get("groups", [])}
    lines = []
    for user in realm.get("users", []):
        passwords = [c["value"] for c in user.get("credentials", []) if c.get("type") == "password"]
        groups = [path.strip("/") for path in user.get("groups", [])]
        roles = list(user.get("realmRoles", []))
        for group in groups:
            roles += realm_roles_of_groups.get(group, []) + client_roles_of_groups.get(group, [])
        roles += user.get("clientRoles", {}).get(CLIENT_ID, [])
        lines.append(
            f"{user['username']:<8} {(passwords or ['(no password)'])[0]:<22} {user.get('email', ''):<22}"
            f" roles: {', '.join(dict.fromkeys(roles)) or '-'}; groups: {', '.join(groups) or '-'}"
        )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="keycloak_realm.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("import-file", help="write the realm for an app at --app-url into DIRECTORY")
    write.add_argument("--app-url", default=APP_URL)
    write.add_argument("--backchannel-app-url", default=BACKCHANNEL_APP_URL)
    write.add_argument("directory", type=Path, help="Keycloak's data/import directory")
    commands.add_parser("users", help="print the realm's users with their passwords, roles and groups")
    args = parser.parse_args(argv)
    realm = load_realm()
    if args.command == "users":
        print("\n".join(users_table(realm)))
        return 0
    try:
        adapted = realm_for_app(realm, args.app_url, args.backchannel_app_url)
    except (RealmFileError, ValueError) as error:
        print(f"keycloak_realm.py: {error}", file=sys.stderr)
        return 1
    args.directory.mkdir(parents=True, exist_ok=True)
    target = args.directory / import_file_name(realm)
    target.write_text(json.dumps(adapted, indent=2) + "\n", encoding="utf-8")
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
