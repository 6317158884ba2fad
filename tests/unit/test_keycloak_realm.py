"""``scripts/keycloak_realm.py``: the realm file moved to another app URL, and nothing else changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.keycloak_realm import (
    CLIENT_ID,
    RealmFileError,
    import_file_name,
    load_realm,
    realm_for_app,
    users_table,
)

ROOT = Path(__file__).resolve().parents[2]


def differences(old: Any, new: Any, path: str = "") -> dict[str, tuple[Any, Any]]:
    """Every leaf that differs between two JSON values, by its path."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: dict[str, tuple[Any, Any]] = {}
        for key in old.keys() | new.keys():
            found.update(differences(old.get(key), new.get(key), f"{path}/{key}"))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = {}
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            name = a.get("clientId") or a.get("username") or a.get("name") if isinstance(a, dict) else None
            found.update(differences(a, b, f"{path}/{name or index}"))
        return found
    return {} if old == new else {path: (old, new)}


def test_only_the_app_clients_urls_move() -> None:
    realm = load_realm()
    adapted = realm_for_app(realm, "http://localhost:40001", "http://127.0.0.1:40001")

    client = f"/clients/{CLIENT_ID}"
    assert differences(realm, adapted) == {
        f"{client}/rootUrl": ("http://localhost:8501", "http://localhost:40001"),
        f"{client}/redirectUris/0": (
            "http://localhost:8501/auth/callback/keycloak",
            "http://localhost:40001/auth/callback/keycloak",
        ),
        f"{client}/webOrigins/0": ("http://localhost:8501", "http://localhost:40001"),
        f"{client}/attributes/post.logout.redirect.uris": ("http://localhost:8501/", "http://localhost:40001/"),
        f"{client}/attributes/backchannel.logout.url": (
            "http://app:8501/auth/backchannel-logout",
            "http://127.0.0.1:40001/auth/backchannel-logout",
        ),
    }
    assert realm == load_realm()  # the input is left as it was
    text = json.dumps(adapted)
    assert "localhost:8501" not in text and "app:8501" not in text


def test_the_docker_urls_give_the_file_back_unchanged() -> None:
    realm = load_realm()
    assert realm_for_app(realm, "http://localhost:8501", "http://app:8501") == realm


def test_every_post_logout_uri_of_a_multivalued_attribute_moves() -> None:
    realm = load_realm()
    (client,) = [c for c in realm["clients"] if c["clientId"] == CLIENT_ID]
    client["attributes"]["post.logout.redirect.uris"] = "http://localhost:8501/##http://localhost:8501/bye"

    adapted = realm_for_app(realm, "http://localhost:9", "http://127.0.0.1:9")

    (moved,) = [c for c in adapted["clients"] if c["clientId"] == CLIENT_ID]
    assert moved["attributes"]["post.logout.redirect.uris"] == "http://localhost:9/##http://localhost:9/bye"


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("redirectUris", ["https://elsewhere.example/auth/callback/keycloak"], "redirectUris"),
        ("rootUrl", "http://localhost:85011", "rootUrl 'http://localhost:85011' does not start with"),
        (
            "backchannel.logout.url",
            "http://localhost:8501/auth/backchannel-logout",
            "does not start with http://app:8501",
        ),
    ],
)
def test_a_realm_file_of_another_shape_is_refused(setting: str, value: Any, message: str) -> None:
    """A URL the function does not recognise would be imported pointing nowhere: refuse it."""
    realm = load_realm()
    (client,) = [c for c in realm["clients"] if c["clientId"] == CLIENT_ID]
    if "." in setting:
        client["attributes"][setting] = value
    else:
        client[setting] = value

    with pytest.raises(RealmFileError, match=message):
        realm_for_app(realm, "http://localhost:9", "http://127.0.0.1:9")


def test_a_realm_without_the_app_client_is_refused() -> None:
    realm = load_realm()
    realm["clients"] = [c for c in realm["clients"] if c["clientId"] != CLIENT_ID]
    with pytest.raises(RealmFileError, match="0 clients with clientId 'streamlit-app'"):
        realm_for_app(realm, "http://localhost:9", "http://127.0.0.1:9")


@pytest.mark.parametrize("url", ["localhost:9", "http://localhost:9/app", "ftp://localhost:9"])
def test_an_app_url_with_a_path_or_without_a_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="scheme://host:port without a path"):
        realm_for_app(load_realm(), url, "http://127.0.0.1:9")


def test_command_line_writes_the_import_file_under_keycloaks_naming_rule(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "keycloak_realm.py"),
            "import-file",
            "--app-url",
            "http://localhost:40002",
            "--backchannel-app-url",
            "http://127.0.0.1:40002",
            str(tmp_path / "import"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    written = tmp_path / "import" / "streamlit-realm.json"
    assert result.stdout.strip() == str(written)
    assert import_file_name(load_realm()) == written.name
    assert json.loads(written.read_text(encoding="utf-8")) == realm_for_app(
        load_realm(), "http://localhost:40002", "http://127.0.0.1:40002"
    )


def test_users_table_lists_every_user_with_effective_roles_and_groups() -> None:
    lines = users_table(load_realm())

    assert len(lines) == len(load_realm()["users"]) == 3
    assert lines[0].split() == [
        "alice",
        "alice-dev-password",
        "alice@example.com",
        "roles:",
        "admin,",
        "user,",
        "offline_access,",
        "editor;",
        "groups:",
        "admins",
    ]
    assert lines[1].endswith("roles: user, offline_access, viewer; groups: analysts")
    assert lines[2].endswith("roles: user, offline_access; groups: -")
