"""One OpenID provider, as the relying party sees it: discovery, JWKS, the code flow.

Every method here blocks on HTTP (``requests``) and has a timeout; the
routes call them through a thread pool so Streamlit's event loop never
waits on a provider. Failures become the specific ``LoginError`` subclasses
the routes turn into pages.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import (
    GrantRejected,
    ProviderMisconfigured,
    ProviderTimeout,
    ProviderUnavailable,
    TokenExchangeFailed,
)
from .events import log_event
from .id_token import IdTokenValidator, allowed_algorithms, finite_number
from .presets import ProviderSettings
from .reader import url_allowed
from .throttle import FetchFailure, RecentFailure
from .transaction import LoginTransaction

METADATA_TTL = 3600.0  # refetch discovery hourly so endpoint changes are picked up
# Throttled callers (tokens anyone can send) fetch the JWKS at most this often, keys cached or not.
FORCED_KEY_REFRESH_INTERVAL = 10.0
REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
# Every endpoint a discovery document may name that the app fetches or sends a browser to.
ENDPOINT_METADATA = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "revocation_endpoint",
    "end_session_endpoint",
)


@dataclass(frozen=True)
class TokenResponse:
    """The token endpoint's answer. Held only for the duration of the callback."""

    id_token: str
    access_token: str | None
    raw: dict[str, Any]
    refresh_token: str | None = None
    #: the access token's lifetime in seconds, when the provider said
    expires_in: float | None = None


@dataclass(frozen=True)
class RefreshedTokens:
    """A refresh's answer: the refresh token is the new one (rotation) or, when the provider
    sent none, the one that was used. Never shown: ``repr`` leaves the values out."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    id_token: str | None = field(default=None, repr=False)
    expires_in: float | None = None


def encode_client_secret_basic(
    auth: Any, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """RFC 6749 §2.3.1: form-urlencode id and secret *before* HTTP Basic.

    Authlib sends them raw, which breaks secrets with characters such as
    ``+``, ``%`` or ``:`` at providers that decode as the RFC says (Keycloak
    does). For the usual letters, digits, ``-`` and ``_`` both forms agree.
    """
    credentials = f"{quote_plus(auth.client_id)}:{quote_plus(auth.client_secret)}"
    headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return uri, headers, body


def refuse_redirect(response: requests.Response) -> requests.Response:
    """Provider calls never follow redirects: a 3xx could lead the app to internal URLs (SSRF)."""
    if response.is_redirect:
        raise ProviderMisconfigured(
            f"{response.request.method} {_endpoint(response.url)} answered HTTP "
            f"{response.status_code} (a redirect); provider calls do not follow redirects"
        )
    return response


def _endpoint(url: str | None) -> str:
    """A URL without its query string, for messages (queries may carry tokens)."""
    return (url or "?").split("?", 1)[0]


def _lifetime(expires_in: Any) -> float | None:
    """``expires_in`` (RFC 6749 §5.1, seconds) when it is a positive number, else None (not
    known): a negative one would otherwise have the token refreshed on every call."""
    seconds = finite_number(expires_in)
    return seconds if seconds is not None and seconds > 0 else None


class ProviderClient:
    def __init__(
        self,
        settings: ProviderSettings,
        *,
        redirect_uri: str | Callable[[], str],
        timeout: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
        insecure_hosts: tuple[str, ...] = (),
    ) -> None:
        """``redirect_uri`` may be a callable when the app's URL is known only once
        Streamlit has bound its port; ``insecure_hosts`` are the hosts besides
        loopback that provider URLs may reach over plain http. ``clock`` is the wall
        clock (token times, the discovery document's age); ``monotonic`` times the
        remembered failures and the JWKS throttle."""
        self.settings = settings
        self._redirect_uri = redirect_uri
        self.timeout = timeout
        self.insecure_hosts = insecure_hosts
        self._clock = clock
        self._monotonic = monotonic
        self._http = session or requests.Session()
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._metadata_failure = RecentFailure(clock=monotonic)
        self._jwks: KeySet | None = None
        self._jwks_failure = RecentFailure(clock=monotonic)
        self._last_throttled_fetch: float | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def redirect_uri(self) -> str:
        return self._redirect_uri() if callable(self._redirect_uri) else self._redirect_uri

    @property
    def requires_iss_parameter(self) -> bool:
        """RFC 9207 §3: a provider that advertises ``iss`` in authorization responses
        must send it, so a response without one may come from a mix-up."""
        return self.metadata().get("authorization_response_iss_parameter_supported") is True

    # -- discovery and keys ---------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The discovery document, cached for ``METADATA_TTL``.

        When a refresh fails (the provider is unreachable or answers an error), the stale
        copy is used, with one ``discovery_stale`` warning. A failed fetch is remembered for
        ``FAILED_FETCH_MEMORY`` seconds: callers meanwhile get the stale copy, or without one
        the same failure, and the provider is not asked again (nor the warning repeated).
        """
        with self._lock:
            cached, fetched_at = self._metadata, self._metadata_at
        if cached is not None and self._clock() - fetched_at < METADATA_TTL:
            return cached
        failure = self._metadata_failure.recent()
        if failure is None:
            try:
                document = self._get_json(self.settings.discovery_url, "discovery document")
                self.check_metadata(document)
            except (ProviderUnavailable, ProviderMisconfigured) as error:
                self._metadata_failure.remember(error)
                if cached is not None and isinstance(error, ProviderUnavailable):
                    log_event(
                        "discovery_stale",
                        level=logging.WARNING,
                        provider=self.name,
                        detail="discovery refresh failed; using cached metadata",
                    )
                    return cached
                raise
            self._metadata_failure.forget()
            with self._lock:
                self._metadata, self._metadata_at = document, self._clock()
            return document
        if cached is not None and isinstance(failure, ProviderUnavailable):
            return cached  # still stale: the refresh failed moments ago
        raise failure

    def has_fresh_metadata(self, margin: float = 60.0) -> bool:
        """True when ``metadata()`` will not fetch for at least ``margin`` seconds, so
        callers may use it without a worker thread."""
        with self._lock:
            cached, fetched_at = self._metadata, self._metadata_at
        return cached is not None and self._clock() - fetched_at < METADATA_TTL - margin

    def metadata_problems(self, document: dict[str, Any]) -> dict[str, str]:
        """How ``document`` contradicts this client's configuration, by check: ``fields``
        (required ones missing; then nothing else is checked), ``issuer`` (OIDC Discovery
        §4.3: equal to the configured issuer exactly), ``algorithms`` (an asymmetric
        ID-token algorithm) and ``endpoints`` (the https rule). Empty when usable;
        ``python -m auth doctor`` reports the same checks line by line."""
        missing = [field for field in REQUIRED_METADATA if not isinstance(document.get(field), str)]
        if missing:
            return {"fields": f"discovery document lacks {', '.join(missing)}"}
        problems = {}
        if document["issuer"] != self.settings.issuer:
            problems["issuer"] = (
                f"discovery issuer {document['issuer']!r} does not equal the configured issuer {self.settings.issuer!r}"
            )
        if not allowed_algorithms(document.get("id_token_signing_alg_values_supported")):
            problems["algorithms"] = "the provider advertises no asymmetric ID-token signing algorithm"
        for name in ENDPOINT_METADATA:
            url = document.get(name)
            if url is not None and (not isinstance(url, str) or not url_allowed(url, self.insecure_hosts)):
                problems["endpoints"] = (
                    f"discovery {name} {_endpoint(str(url))!r} is not https; plain http is accepted only "
                    "on this machine or for hosts listed in AUTH_INSECURE_PROVIDER_HOSTS"
                )
                break
        return problems

    def check_metadata(self, document: dict[str, Any]) -> None:
        """Raise ``ProviderMisconfigured`` naming every problem of ``metadata_problems``."""
        problems = self.metadata_problems(document)
        if problems:
            raise ProviderMisconfigured(f"provider={self.name} " + "; ".join(problems.values()))

    def key_set(self, force_refresh: bool = False, *, throttled: bool = False) -> KeySet:
        """The provider's signing keys; ``force_refresh`` after an unknown ``kid`` (key rotation).

        A failed fetch is remembered for ``FAILED_FETCH_MEMORY`` seconds, and every caller
        in that window gets the same failure without a request: sign-in too, which then
        fails at once instead of waiting out a timeout at a provider that just failed.

        ``throttled`` (for tokens anyone can send, such as back-channel logout tokens): such
        callers fetch at most once per ``FORCED_KEY_REFRESH_INTERVAL``, whether keys are
        cached or not, so neither made-up ``kid`` values nor a provider whose keys cannot be
        fetched turn each request into a request to the provider. Within the interval they
        get the cached keys, or without any a ``ProviderUnavailable``; the fetch that first
        brings keys does not count. ID tokens come from the token endpoint, not from
        strangers, so sign-in is never throttled: a rotated key is fetched at once.
        """
        with self._lock:
            cached = self._jwks
            if cached is not None and not force_refresh:
                return cached
            failure: FetchFailure | None = self._jwks_failure.recent()
            if failure is None and throttled:
                now = self._monotonic()
                last = self._last_throttled_fetch
                if last is None or not 0 <= now - last < FORCED_KEY_REFRESH_INTERVAL:
                    self._last_throttled_fetch = now
                elif cached is not None:
                    return cached
                else:
                    failure = ProviderUnavailable(
                        f"provider={self.name} JWKS not fetched yet; fetched at most every "
                        f"{FORCED_KEY_REFRESH_INTERVAL:g} s for tokens anyone can send"
                    )
        if failure is not None:
            raise failure
        jwks_uri = self.metadata()["jwks_uri"]
        try:
            keys = self.parse_key_set(self._get_json(jwks_uri, "JWKS"))
        except (ProviderUnavailable, ProviderMisconfigured) as error:
            self._jwks_failure.remember(error)
            raise
        self._jwks_failure.forget()
        with self._lock:
            self._jwks = keys
            if cached is None:
                # The first keys do not spend the interval: a token signed with a key rotated
                # in just after them still gets its refetch (this happens once: keys stay cached).
                self._last_throttled_fetch = None
        return keys

    def parse_key_set(self, document: dict[str, Any]) -> KeySet:
        """A JWKS document as keys; ``ProviderMisconfigured`` when it is not a usable key set."""
        try:
            return KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, KeyError, TypeError, ValueError) as error:
            raise ProviderMisconfigured(f"provider={self.name} JWKS is unusable: {type(error).__name__}") from error

    def id_token_validator(self) -> IdTokenValidator:
        return IdTokenValidator(
            issuers=self.settings.accepted_issuers,
            client_id=self.settings.client_id,
            algorithms=allowed_algorithms(self.metadata().get("id_token_signing_alg_values_supported")),
            clock=self._clock,
        )

    # -- the authorization code flow -----------------------------------------

    def authorization_url(self, transaction: LoginTransaction, *, switch_account: bool = False) -> str:
        """RFC 6749 §4.1.1 + RFC 7636 (S256) + OIDC ``nonce``."""
        params = self.settings.authorization_params()
        if switch_account:
            params["prompt"] = "select_account" if self.settings.kind == "google" else "login"
        client = self.oauth_session()
        try:
            url, _ = client.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=transaction.state,
                nonce=transaction.nonce,
                code_verifier=transaction.code_verifier,
                **params,
            )
        finally:
            client.close()
        return str(url)

    def exchange_code(self, code: str, transaction: LoginTransaction) -> TokenResponse:
        """RFC 6749 §4.1.3 with the PKCE verifier; client authenticated by secret."""
        endpoint = self.metadata()["token_endpoint"]
        client = self.oauth_session()
        try:
            with self._token_request("token endpoint"):
                token = client.fetch_token(
                    endpoint,
                    code=code,
                    code_verifier=transaction.code_verifier,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
        except OAuthError as error:
            raise TokenExchangeFailed(f"provider={self.name} token endpoint: {error.error}") from error
        finally:
            client.close()
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise TokenExchangeFailed(f"provider={self.name} token response has no id_token")
        access_token = token.get("access_token")
        refresh_token = token.get("refresh_token")
        expires_in = token.get("expires_in")
        return TokenResponse(
            id_token=id_token,
            access_token=access_token if isinstance(access_token, str) else None,
            raw=dict(token),
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            expires_in=_lifetime(expires_in),
        )

    def refresh(self, refresh_token: str) -> RefreshedTokens:
        """RFC 6749 §6: new tokens for a refresh token. ``GrantRejected`` when the provider
        refuses it (``invalid_grant``: revoked, expired, reused); ``ProviderUnavailable`` /
        ``ProviderTimeout`` when it cannot answer."""
        endpoint = self.metadata()["token_endpoint"]
        client = self.oauth_session()
        client.scope = None  # the original grant's scope; some providers refuse a repeated one
        client.register_compliance_hook("refresh_token_response", refuse_redirect)
        try:
            with self._token_request("token endpoint (refresh)"):
                token = client.refresh_token(
                    endpoint, refresh_token=refresh_token, timeout=self.timeout, allow_redirects=False
                )
        except OAuthError as error:
            raise GrantRejected(
                f"provider={self.name} refused the refresh token: {error.error}", error=str(error.error)
            ) from error
        finally:
            client.close()
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProviderUnavailable(f"provider={self.name} refresh response has no access_token")
        new_refresh = token.get("refresh_token")
        id_token = token.get("id_token")
        expires_in = token.get("expires_in")
        return RefreshedTokens(
            access_token=access_token,
            refresh_token=new_refresh if isinstance(new_refresh, str) and new_refresh else refresh_token,
            id_token=id_token if isinstance(id_token, str) and id_token else None,
            expires_in=_lifetime(expires_in),
        )

    def end_session_url(
        self, *, post_logout_redirect_uri: str, state: str, id_token_hint: str | None = None
    ) -> str | None:
        """Where to send the browser to end the provider's session (RP-Initiated Logout 1.0
        §2), or None when discovery names no ``end_session_endpoint`` (Google).

        ``client_id`` is always sent: Keycloak needs it (or the hint) to accept
        ``post_logout_redirect_uri``, and the hint may be missing (``AUTH_STORE=none``).
        """
        endpoint = self.metadata().get("end_session_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            return None
        params = {
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "state": state,
        }
        if id_token_hint:
            params["id_token_hint"] = id_token_hint
        separator = "&" if urlsplit(endpoint).query else "?"
        return endpoint + separator + urlencode(params)

    def can_revoke(self) -> bool:
        endpoint = self.metadata().get("revocation_endpoint")
        return isinstance(endpoint, str) and bool(endpoint)

    def revoke_token(self, token: str, token_type_hint: str) -> None:
        """RFC 7009: ask the provider to forget a token (sign-out where there is no
        end-session endpoint, as with Google). Failures raise ``LoginError`` subclasses."""
        endpoint = self.metadata().get("revocation_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            return
        if not url_allowed(endpoint, self.insecure_hosts):
            raise ProviderMisconfigured(
                f"provider={self.name} revocation endpoint {_endpoint(endpoint)!r} is not https"
            )
        client = self.oauth_session()
        client.revocation_endpoint_auth_method = self.token_endpoint_auth_method()
        try:
            response = client.revoke_token(
                endpoint, token=token, token_type_hint=token_type_hint, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout as error:
            raise ProviderTimeout(f"provider={self.name} revocation endpoint timed out") from error
        except requests.RequestException as error:
            raise ProviderUnavailable(
                f"provider={self.name} revocation endpoint unreachable ({type(error).__name__})"
            ) from error
        finally:
            client.close()
        if response.status_code != 200:
            raise ProviderUnavailable(f"provider={self.name} revocation endpoint answered HTTP {response.status_code}")

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """OIDC Core §5.3; used only when the ID token lacks claims we need."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        return self._get_json(endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"})

    # -- plumbing -------------------------------------------------------------

    @contextlib.contextmanager
    def _token_request(self, what: str) -> Iterator[None]:
        """A POST to the token endpoint: transport failures as ``ProviderTimeout`` /
        ``ProviderUnavailable`` (the caller maps the provider's own OAuth errors)."""
        try:
            yield
        except requests.Timeout as error:
            raise ProviderTimeout(f"provider={self.name} {what} timed out") from error
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else "?"
            raise ProviderUnavailable(f"provider={self.name} {what} answered HTTP {status}") from error
        except requests.RequestException as error:
            raise ProviderUnavailable(f"provider={self.name} {what} unreachable ({type(error).__name__})") from error
        except ValueError as error:
            raise ProviderUnavailable(f"provider={self.name} {what} answered no JSON object") from error

    def token_endpoint_auth_method(self, metadata: dict[str, Any] | None = None) -> str:
        """Configured, or the first of basic/post the provider supports (basic is the spec default)."""
        if self.settings.token_auth_method:
            return self.settings.token_auth_method
        document = metadata if metadata is not None else self.metadata()
        supported = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        for method in ("client_secret_basic", "client_secret_post"):
            if method in supported:
                return method
        return "client_secret_basic"

    def oauth_session(self, metadata: dict[str, Any] | None = None) -> OAuth2Session:
        """An Authlib session for this client: PKCE S256 and RFC 6749-encoded Basic auth."""
        client = OAuth2Session(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret.value,
            scope=" ".join(self.settings.scopes),
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=self.token_endpoint_auth_method(metadata),
        )
        client.register_client_auth_method(("client_secret_basic", encode_client_secret_basic))
        client.register_compliance_hook("access_token_response", refuse_redirect)
        return client

    def get(self, url: str, what: str, headers: dict[str, str] | None = None) -> requests.Response:
        """GET a provider URL: https-only rule, timeout, no redirects; failures as ``LoginError``."""
        if not url_allowed(url, self.insecure_hosts):
            raise ProviderMisconfigured(
                f"provider={self.name} {what} URL {_endpoint(url)!r} is not https; plain http is "
                "accepted only on this machine or for hosts listed in AUTH_INSECURE_PROVIDER_HOSTS"
            )
        try:
            response = self._http.get(
                url,
                timeout=self.timeout,
                headers={"Accept": "application/json", **(headers or {})},
                allow_redirects=False,
            )
        except requests.Timeout as error:
            raise ProviderTimeout(f"provider={self.name} {what} timed out") from error
        except requests.RequestException as error:
            raise ProviderUnavailable(f"provider={self.name} {what} unreachable ({type(error).__name__})") from error
        if response.is_redirect:
            raise ProviderMisconfigured(
                f"provider={self.name} {what} answered HTTP {response.status_code} (a redirect); "
                "provider calls do not follow redirects: configure the final URL"
            )
        return response

    def _get_json(self, url: str, what: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.get(url, what, headers)
        if response.status_code != 200:
            raise ProviderUnavailable(f"provider={self.name} {what} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError as error:
            raise ProviderUnavailable(f"provider={self.name} {what} is not JSON") from error
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"provider={self.name} {what} is not a JSON object")
        return document
