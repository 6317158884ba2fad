"""Roles where Keycloak puts them by default: only in the access token.

The realm file's client maps realm roles, its own client roles and groups into the ID token,
the access token and userinfo. Keycloak's defaults (its built-in ``roles`` client scope) put roles
into the access token only, and the README promises that the app then still finds them ("when
the ID token has none, the app reads userinfo and then the access token"). Here the client's own
mappers are switched, through the admin REST API, to what a realm without them would send, and
put back afterwards; the sign-in goes through Keycloak's form over HTTP.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.keycloak.conftest import KeycloakApp
from tests.support.keycloak_admin import KeycloakAdmin
from tests.support.keycloak_login import sign_in

#: the realm file's users: alice's realm roles and client role, and her group
ALICE_ROLES = {"admin", "user", "offline_access", "editor"}
ROLE_MAPPERS = ("oidc-usermodel-realm-role-mapper", "oidc-usermodel-client-role-mapper")
GROUP_MAPPER = "oidc-group-membership-mapper"

Mapper = dict[str, Any]


@pytest.fixture
def mappers(keycloak_admin: KeycloakAdmin) -> Iterator[Callable[[Callable[[Mapper], None]], None]]:
    """Changes the client's own protocol mappers; every one is written back as it was afterwards."""
    before = keycloak_admin.protocol_mappers()
    assert {m["protocolMapper"] for m in before} == {*ROLE_MAPPERS, GROUP_MAPPER}

    def change(edit: Callable[[Mapper], None]) -> None:
        for mapper in copy.deepcopy(before):
            edit(mapper)
            keycloak_admin.update_protocol_mapper(mapper)

    yield change
    for mapper in before:
        keycloak_admin.update_protocol_mapper(mapper)
    after = {mapper["id"]: mapper for mapper in keycloak_admin.protocol_mappers()}
    assert after == {mapper["id"]: mapper for mapper in before}


def only_in_the_access_token(mapper: Mapper) -> None:
    mapper["config"].update({"id.token.claim": "false", "userinfo.token.claim": "false", "access.token.claim": "true"})


def nowhere(mapper: Mapper) -> None:
    mapper["config"].update({"id.token.claim": "false", "userinfo.token.claim": "false", "access.token.claim": "false"})


def signed_in_roles_and_groups(
    keycloak_app: KeycloakApp, browser: requests.Session
) -> tuple[set[str], tuple[str, ...]]:
    result = sign_in(browser, keycloak_app.url, "alice")
    assert result.response.status_code == 302, result.response.text[:500]
    user = keycloak_app.user(browser)
    assert user is not None
    return set(user.roles), user.groups


def test_keycloaks_default_token_shape_roles_only_in_the_access_token(
    keycloak_app: KeycloakApp, mappers: Callable[[Callable[[Mapper], None]], None], browser: requests.Session
) -> None:
    """A client without mappers of its own: roles from the built-in ``roles`` scope (access token
    only), and no ``groups`` claim at all, as in a realm Keycloak made."""

    def defaults(mapper: Mapper) -> None:
        if mapper["protocolMapper"] == GROUP_MAPPER:
            nowhere(mapper)
        else:
            only_in_the_access_token(mapper)

    mappers(defaults)

    assert signed_in_roles_and_groups(keycloak_app, browser) == (ALICE_ROLES, ())


def test_roles_only_in_the_access_token_beside_groups_in_the_id_token(
    keycloak_app: KeycloakApp, mappers: Callable[[Callable[[Mapper], None]], None], browser: requests.Session
) -> None:
    """Keycloak's default role mappers plus a group-membership mapper with Keycloak's defaults
    (ID token, access token and userinfo): the ID token has groups but no roles."""

    def groups_added(mapper: Mapper) -> None:
        if mapper["protocolMapper"] in ROLE_MAPPERS:
            only_in_the_access_token(mapper)

    mappers(groups_added)

    assert signed_in_roles_and_groups(keycloak_app, browser) == (ALICE_ROLES, ("admins",))
