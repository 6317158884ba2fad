"""The sign-in flow without HTTP plumbing: begin at the provider, complete at the callback.

Kept free of Starlette so it can be driven directly by tests and the
benchmark; ``auth.routes`` adapts it to requests and responses. Both steps
block on the provider and must run in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .access import AccessPolicy
from .claims import has_role_claims, identity_from_claims
from .errors import (
    AccessDenied,
    InvalidIdToken,
    LoginError,
    LoginTransactionMissing,
    MixUpSuspected,
    ProviderRejected,
    SessionStoreDown,
    StateMismatch,
    UnknownProvider,
)
from .events import log_event
from .identity import Identity
from .oidc import ProviderClient
from .redirects import safe_next_path
from .sessions import Sessions
from .stores.base import StoreUnavailable
from .transaction import LoginTransaction, TransactionCookies
from .vault import StoredTokens


@dataclass(frozen=True)
class LoginStart:
    authorization_url: str
    transaction: LoginTransaction
    cookie_name: str
    cookie_value: str


@dataclass(frozen=True)
class LoginResult:
    identity: Identity
    session_cookie: str
    next_path: str
    transaction: LoginTransaction
    dropped_claims: tuple[str, ...]


class LoginFlow:
    def __init__(
        self,
        *,
        clients: Mapping[str, ProviderClient],
        sessions: Sessions,
        transactions: TransactionCookies,
        access: AccessPolicy,
        base_path: str = "",
    ) -> None:
        self.clients = dict(clients)
        self.sessions = sessions
        self.transactions = transactions
        self.access = access
        self.base_path = base_path

    def client(self, provider: str | None) -> ProviderClient:
        client = self.clients.get(provider or "")
        if client is None:
            raise UnknownProvider(f"unknown provider {provider!r}")
        return client

    def begin(self, provider: str | None, next_path: str | None, *, switch_account: bool = False) -> LoginStart:
        """A new transaction and the provider URL to send the browser to.

        ``switch_account`` asks the provider to let the user pick or log in
        as someone else, for the "not allowed here" page.
        """
        client = self.client(provider)
        transaction = LoginTransaction.start(client.name, safe_next_path(next_path, self.base_path))
        url = client.authorization_url(transaction, switch_account=switch_account)
        return LoginStart(
            authorization_url=url,
            transaction=transaction,
            cookie_name=self.transactions.cookie_name(transaction.state),
            cookie_value=self.transactions.seal(transaction),
        )

    def open_transaction(
        self, params: Mapping[str, str], cookies: Mapping[str, str], *, callback_provider: str
    ) -> LoginTransaction:
        """The transaction this callback completes, if it arrived at its provider's callback.

        Each provider has its own redirect URI, so a response that arrives at
        provider A's callback while the browser's sign-in was started with
        provider B is a mix-up (RFC 9700 §4.4.2): B may be hostile and have
        bounced the user to A to steal A's code. Refused before any code
        reaches a token endpoint.

        A provider error without a usable ``state`` (some providers omit it,
        against RFC 6749 §4.1.2.1) is still reported as the provider's error:
        nothing is signed in either way, and "cancelled" is what the user needs
        to read.
        """
        try:
            transaction = self.transactions.open(cookies, params.get("state"))
        except (StateMismatch, LoginTransactionMissing):
            if params.get("error"):
                raise self._provider_error(params) from None
            raise
        if transaction.provider != callback_provider:
            raise MixUpSuspected(
                f"response at the callback of provider {callback_provider} for a sign-in "
                f"started with provider {transaction.provider}"
            )
        return transaction

    @staticmethod
    def _provider_error(params: Mapping[str, str]) -> ProviderRejected:
        return ProviderRejected(params["error"][:100], params.get("error_description", "")[:300])

    def complete(self, transaction: LoginTransaction, params: Mapping[str, str]) -> LoginResult:
        """Everything after the state check: provider error, mix-up check, code exchange,
        ID-token validation, extra claims, access rules, the session cookie."""
        client = self.client(transaction.provider)
        self._check_response_issuer(client, params.get("iss"))
        if params.get("error"):
            raise self._provider_error(params)
        code = params.get("code")
        if not code:
            raise LoginError("callback without code", user_message="The sign-in response was incomplete.")
        tokens = client.exchange_code(code, transaction)
        validator = client.id_token_validator()
        id_claims = validator.validate(tokens.id_token, client.key_set, transaction.nonce)
        extra = self.extra_claims(client, id_claims, tokens.access_token)
        identity = identity_from_claims(client.settings, id_claims, extra)
        try:
            self.access.check(identity, client.settings)
        except AccessDenied as error:
            error.account = identity.account
            raise
        stored = StoredTokens(
            id_token=tokens.id_token,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            access_token_expires_at=self.sessions.now() + tokens.expires_in if tokens.expires_in else None,
            access_token_lifetime=tokens.expires_in,
            nonce=transaction.nonce,
        )
        try:
            issued = self.sessions.start(identity, stored)
        except StoreUnavailable as error:
            self.sessions.report_fault(error, "create")
            raise SessionStoreDown(f"session store: {error.failure}") from None
        return LoginResult(
            identity=identity,
            session_cookie=issued.value,
            next_path=transaction.next_path,
            transaction=transaction,
            dropped_claims=issued.dropped_claims,
        )

    @staticmethod
    def _check_response_issuer(client: ProviderClient, issuer_param: str | None) -> None:
        """RFC 9207 §2.4: when the provider names itself it must be the one we sent the
        user to, and a provider that promises to name itself must do so."""
        if issuer_param is None:
            if client.requires_iss_parameter:
                raise MixUpSuspected(
                    f"response without iss, although provider {client.name} advertises "
                    "authorization_response_iss_parameter_supported"
                )
            return
        if issuer_param not in client.settings.accepted_issuers:
            raise MixUpSuspected(f"response iss {issuer_param[:200]!r} is not provider {client.name}'s issuer")

    def extra_claims(
        self, client: ProviderClient, id_claims: Mapping[str, Any], access_token: str | None
    ) -> dict[str, Any]:
        """Claims the ID token lacks, from userinfo and (Keycloak) the access token.

        Some providers keep ID tokens minimal (Okta without a profile claim,
        Keycloak's roles by default), so look further only when something is
        missing. Userinfo counts only if its ``sub`` matches (OIDC Core §5.3.2);
        an access token only if it verifies against the same keys and issuer.
        """
        wants_profile = "email" not in id_claims or "name" not in id_claims
        # Roles, not groups: a group-membership mapper's defaults put groups into the ID token,
        # while Keycloak's role mappers still put roles into the access token only.
        wants_roles = client.settings.kind == "keycloak" and not has_role_claims(id_claims)
        if access_token is None or not (wants_profile or wants_roles):
            return {}
        extra: dict[str, Any] = {}
        try:
            userinfo = client.userinfo(access_token)
        except LoginError as error:
            log_event("userinfo_unavailable", level=logging.WARNING, provider=client.name, detail=error.detail)
            userinfo = {}
        if userinfo and userinfo.get("sub") == id_claims["sub"]:
            extra.update(userinfo)
        elif userinfo:
            log_event(
                "userinfo_ignored", level=logging.WARNING, provider=client.name, reason="sub differs from the ID token"
            )
        if wants_roles and not has_role_claims(extra):
            # Keycloak's default userinfo has groups but no roles: those are in the access token.
            for name, value in self._access_token_roles(client, id_claims, access_token).items():
                extra.setdefault(name, value)
        return extra

    @staticmethod
    def _access_token_roles(client: ProviderClient, id_claims: Mapping[str, Any], access_token: str) -> dict[str, Any]:
        validator = client.id_token_validator()
        try:
            claims = validator.verify_signature(access_token, client.key_set)
            validator.validate_iss(claims)
        except InvalidIdToken as error:
            log_event("access_token_roles_unusable", provider=client.name, detail=error.detail)
            return {}
        if claims.get("sub") != id_claims["sub"]:
            return {}
        return {key: claims[key] for key in ("realm_access", "resource_access", "groups") if key in claims}
