"""Where browsers reach the app: its public URL, the host to send them to, the callback URIs.

``AUTH_PUBLIC_URL`` names it. Without that setting the app is at
``http://localhost:<port>``, and the port is the one Streamlit really
serves on, which is known only once it has bound its socket (it moves to
8502 when 8501 is taken, after the app's script was imported). So the URL
is resolved when it is used, not when the settings are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from .config import Settings
from .events import log_event

_DEFAULT_PORTS = {"http": 80, "https": 443}


def streamlit_port() -> int:
    """The port Streamlit serves on (final once the server has started)."""
    from streamlit import config as streamlit_config

    return int(streamlit_config.get_option("server.port"))


def normalize_host(host: str, scheme: str) -> str:
    """``host[:port]`` in lower case, without the scheme's default port."""
    host = host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(f":{default}") and not host.endswith("]"):
        host = host[: -len(f":{default}")]
    return host


class PublicAddress:
    def __init__(self, settings: Settings, *, port: Callable[[], int] | None = None) -> None:
        """``port`` reports Streamlit's serving port; used only when AUTH_PUBLIC_URL is unset."""
        self._settings = settings
        self._port = None if settings.public_url_explicit else port
        self._announced = settings.public_url
        self._warned = False

    def url(self) -> str:
        """The app's URL with its base path, no trailing slash."""
        if self._port is None:
            return self._settings.public_url
        url = f"http://localhost:{self._port()}{self._settings.base_path}"
        if url != self._announced and not self._warned:
            self._warned = True
            log_event(
                "public_url_changed",
                level=logging.WARNING,
                url=url,
                announced=self._announced,
                detail="Streamlit serves on another port than configured; set AUTH_PUBLIC_URL "
                "and register the redirect URIs for this URL",
            )
        return url

    def origin(self) -> str:
        parts = urlsplit(self.url())
        return f"{parts.scheme}://{parts.netloc}"

    def host(self) -> str:
        """``host[:port]`` browsers must use, so cookies set by sign-in are sent back."""
        parts = urlsplit(self.url())
        return normalize_host(parts.netloc, parts.scheme)

    def is_canonical_host(self, host_header: str | None) -> bool:
        if not host_header:
            return True  # HTTP/1.0 without Host: nothing to compare
        return normalize_host(host_header, urlsplit(self.url()).scheme) == self.host()

    def post_logout_redirect_uri(self) -> str:
        """Where the provider sends the browser after signing out (RP-Initiated Logout 1.0):
        the app's root with its trailing slash, as registered (``http://localhost:8501/``)."""
        return self.url() + "/"

    def backchannel_logout_uri(self) -> str:
        """Where the provider posts logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.2:
        the client's ``backchannel_logout_uri``), to register with the provider."""
        return self.url() + "/auth/backchannel-logout"

    def redirect_uri(self, provider: str) -> str:
        return self._settings.redirect_uri(provider, self.url())
