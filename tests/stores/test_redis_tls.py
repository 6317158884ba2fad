"""RedisStore over TLS (``rediss://``) against a real redis-server listening for TLS only.

The certificates come from a throw-away CA (tests/support/tls.py). A deployment
trusts its Redis CA through the system trust store; here ``SSL_CERT_FILE``
stands for it (OpenSSL reads it whenever a client builds its default context,
as redis-py does for every TLS connection). The store must verify both the
chain and the host name (RFC 6125) with every redis-py version it allows:
redis-py before 6.0 did not check the host name unless asked to. A server it
cannot verify is ``StoreUnavailable`` for every method, never a session
served over a connection nobody vouched for, and the message never repeats
the password.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth.stores.base import StoreUnavailable
from auth.stores.factory import open_store, parse_store_url
from auth.stores.redis import RedisStore
from tests.stores.records import EVERY_METHOD, make_record
from tests.support.redis_server import RedisServer
from tests.support.tls import TestAuthority

PASSWORD = "tls-Pa55word"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def matching(authority: TestAuthority) -> Iterator[RedisServer]:
    """A server whose certificate names localhost and 127.0.0.1."""
    files = authority.server("localhost", ("localhost",), ("127.0.0.1",))
    with RedisServer(password=PASSWORD, tls=files) as server:
        yield server


@pytest.fixture(scope="module")
def mismatched(authority: TestAuthority) -> Iterator[RedisServer]:
    """A server with a certificate from the same CA, but for another host."""
    files = authority.server("elsewhere", ("redis.elsewhere.example",))
    with RedisServer(password=PASSWORD, tls=files) as server:
        yield server


@pytest.fixture
def trusted(authority: TestAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA is the one CA this process trusts."""
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca))


def url(server: RedisServer, host: str = "localhost") -> str:
    return f"rediss://:{PASSWORD}@{host}:{server.port}/0"


def assert_refused(store: RedisStore, server: RedisServer, reason: str) -> None:
    """Every method refuses, naming the TLS failure and never the password."""
    for method, call in EVERY_METHOD.items():
        with pytest.raises(StoreUnavailable) as raised:
            call(store, time.time())
        error = raised.value
        assert error.backend == f"rediss localhost:{server.port}/0", method
        assert error.failure.startswith("cannot connect ("), (method, error.failure)
        assert reason in error.failure, (method, error.failure)
        assert PASSWORD not in str(error) and PASSWORD not in repr(error), method


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
@pytest.mark.usefixtures("trusted")
def test_a_trusted_certificate_for_the_host_works(matching: RedisServer, host: str) -> None:
    store = RedisStore(url(matching, host))
    record = make_record(time.time())
    store.create(record)
    assert store.get(record.session_id) == record
    store.close()
    with matching.client() as client:  # the record really is on that server
        assert client.exists(f"streamlit-oidc-auth:session:{record.session_id}") == 1


@pytest.mark.usefixtures("trusted")
def test_auth_store_as_configured_opens_a_verified_tls_store(matching: RedisServer) -> None:
    """The path a deployment takes: AUTH_STORE text, parsed and opened by the factory."""
    store = open_store(parse_store_url(url(matching), base_dir=Path("/srv/app")))
    assert store is not None
    store.ping()
    assert store.claim_once("jti:corp:tls", time.time() + 60) is True
    store.close()


@pytest.mark.usefixtures("trusted")
def test_a_certificate_for_another_host_is_refused(mismatched: RedisServer) -> None:
    store = RedisStore(url(mismatched))
    assert_refused(store, mismatched, "Hostname mismatch, certificate is not valid for 'localhost'")
    store.close()


def test_a_certificate_from_an_untrusted_ca_is_refused(
    matching: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(TestAuthority(tmp_path).ca))  # some other CA
    store = RedisStore(url(matching))
    assert_refused(
        store,
        matching,
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain",
    )
    store.close()
