"""Keycloak's admin REST API as the master realm's bootstrap admin, for the tests.

Tests change the running Keycloak the way an administrator would (end a user's sessions,
disable a user, shorten a lifetime) instead of editing the realm file, which is imported as
it is (tests/support/keycloak.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from scripts.keycloak_realm import CLIENT_ID

#: the bootstrap admin of the master realm (scripts/keycloak.sh, as in docker/compose.yml)
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
HTTP_TIMEOUT = 10


class KeycloakAdmin:
    """Keycloak's admin REST API as the master realm's bootstrap admin.

    The token comes from the master realm's password grant with ``admin-cli`` (Keycloak's
    "Admin REST API" guide); it lives one minute, so one is fetched per call."""

    def __init__(self, url: str, realm: str) -> None:
        self.url = url
        self.realm = realm

    def token(self) -> str:
        response = requests.post(
            f"{self.url}/realms/master/protocol/openid-connect/token",
            data={
                "client_id": "admin-cli",
                "username": ADMIN_USER,
                "password": ADMIN_PASSWORD,
                "grant_type": "password",
            },
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(
            method,
            f"{self.url}/admin/realms/{self.realm}{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=HTTP_TIMEOUT,
            **kwargs,
        )
        response.raise_for_status()
        return response

    def user(self, username: str) -> dict[str, Any]:
        found = self.request("GET", "/users", params={"username": username, "exact": "true"}).json()
        if len(found) != 1:
            raise LookupError(f"{len(found)} users named {username!r} in realm {self.realm!r}")
        user: dict[str, Any] = found[0]
        return user

    def user_sessions(self, user_id: str) -> list[dict[str, Any]]:
        """The user's online sessions; each ``id`` is the ``sid`` of the tokens issued in it."""
        sessions: list[dict[str, Any]] = self.request("GET", f"/users/{user_id}/sessions").json()
        return sessions

    def offline_sessions(self, user_id: str, client_id: str = CLIENT_ID) -> list[dict[str, Any]]:
        """The user's offline sessions with the client (from the ``offline_access`` scope)."""
        client_uuid = self.client(client_id)["id"]
        sessions: list[dict[str, Any]] = self.request("GET", f"/users/{user_id}/offline-sessions/{client_uuid}").json()
        return sessions

    def revoke_offline_access(self, user_id: str, client_id: str = CLIENT_ID) -> None:
        """Revoke the user's grant to the client, offline tokens included (they survive a logout);
        a user without one is left as is (Keycloak answers 404)."""
        try:
            self.request("DELETE", f"/users/{user_id}/consents/{client_id}")
        except requests.HTTPError as error:
            if error.response is None or error.response.status_code != 404:
                raise

    def logout_user(self, user_id: str) -> None:
        """End every online session of the user; Keycloak sends back-channel logout tokens."""
        self.request("POST", f"/users/{user_id}/logout")

    def delete_session(self, session_id: str) -> None:
        """End one session (the admin console's "Sign out" on a session); Keycloak sends its
        back-channel logout tokens, one per client of that session."""
        self.request("DELETE", f"/sessions/{session_id}")

    def set_user_enabled(self, user_id: str, enabled: bool) -> None:
        """Disable (or enable) a user: the full representation is read, changed and written."""
        self.update_user(user_id, enabled=enabled)

    def update_user(self, user_id: str, **fields: Any) -> None:
        """Change fields of a user's representation, e.g. ``lastName``: read, changed, written."""
        user = self.request("GET", f"/users/{user_id}").json()
        user.update(fields)
        self.request("PUT", f"/users/{user_id}", json=user)

    def realm_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.request("GET", "").json()
        return settings

    def update_realm(self, settings: Mapping[str, Any]) -> None:
        """Change realm settings, e.g. ``{"accessTokenLifespan": 10}``: fields not sent stay."""
        self.request("PUT", "", json=dict(settings))

    def events_config(self) -> dict[str, Any]:
        """Which user events the realm stores (``eventsEnabled``, ``enabledEventTypes``, ...)."""
        config: dict[str, Any] = self.request("GET", "/events/config").json()
        return config

    def set_events_config(self, config: Mapping[str, Any]) -> None:
        self.request("PUT", "/events/config", json=dict(config))

    def events(self, *types: str, client_id: str = CLIENT_ID) -> list[dict[str, Any]]:
        """The user events of these types Keycloak stored for the client, newest first (only while
        events are enabled: ``set_events_config``), e.g. ``REFRESH_TOKEN``. An error event may
        name no ``userId`` (a refused refresh names its token's ``refresh_token_sub`` in ``details``)."""
        params: dict[str, Any] = {"client": client_id, "type": list(types), "max": 1000}
        events: list[dict[str, Any]] = self.request("GET", "/events", params=params).json()
        return events

    def clear_events(self) -> None:
        self.request("DELETE", "/events")

    def protocol_mappers(self, client_id: str = CLIENT_ID) -> list[dict[str, Any]]:
        """The client's own protocol mappers (what its tokens carry beyond the client scopes')."""
        client_uuid = self.client(client_id)["id"]
        mappers: list[dict[str, Any]] = self.request("GET", f"/clients/{client_uuid}/protocol-mappers/models").json()
        return mappers

    def update_protocol_mapper(self, mapper: Mapping[str, Any], client_id: str = CLIENT_ID) -> None:
        """Write one mapper of ``protocol_mappers`` back, changed (its ``id`` names it)."""
        client_uuid = self.client(client_id)["id"]
        self.request("PUT", f"/clients/{client_uuid}/protocol-mappers/models/{mapper['id']}", json=dict(mapper))

    def client(self, client_id: str = CLIENT_ID) -> dict[str, Any]:
        found = self.request("GET", "/clients", params={"clientId": client_id}).json()
        if len(found) != 1:
            raise LookupError(f"{len(found)} clients {client_id!r} in realm {self.realm!r}")
        client: dict[str, Any] = found[0]
        return client
