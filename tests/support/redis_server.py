"""A real ``redis-server`` (Debian's package) on 127.0.0.1 for the store tests.

No persistence (``--save ''``, ``--appendonly no``) and its working directory in
a temporary folder, so nothing is written to the repository. Ready means it
answers PING, polled with a deadline; a server that exits early fails with its
own output.

With ``tls`` it listens for TLS only (``--port 0 --tls-port``), with the
certificate and key given and no client certificates asked for; ``url`` is
then ``rediss://`` and names ``localhost``, the name the test certificates are
made for.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import pytest
import redis

from tests.support.app_process import free_port, stop_process_group, wait_until
from tests.support.tls import ServerFiles

REDIS_SERVER = shutil.which("redis-server")
MISSING = (
    "redis-server is not installed: scripts/test.sh installs Debian's redis-server package when it is missing "
    "(or run: apt-get install redis-server)"
)


class RedisServer:
    def __init__(self, *, port: int | None = None, password: str | None = None, tls: ServerFiles | None = None) -> None:
        if REDIS_SERVER is None:
            pytest.fail(MISSING, pytrace=False)
        self.port = port or free_port()
        self.password = password
        self.tls = tls
        self._directory = tempfile.TemporaryDirectory(prefix="redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Without the password: tests that need it write their own URL."""
        if self.tls is not None:
            return f"rediss://localhost:{self.port}/0"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A direct client for set-up and checks; over TLS it trusts the test CA and skips the
        host name check, so that it also reaches a server whose certificate names another host."""
        if self.tls is None:
            return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=0.5)
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_connect_timeout=0.5,
            ssl=True,
            ssl_ca_certs=str(self.tls.ca),
            ssl_check_hostname=False,
        )

    def start(self) -> RedisServer:
        command = [
            str(REDIS_SERVER),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._directory.name,
            "--loglevel", "warning",
        ]  # fmt: skip
        if self.tls is None:
            command += ["--port", str(self.port)]
        else:
            command += [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key),
                "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        if self.password is not None:
            command += ["--requirepass", self.password]
        log = Path(self._directory.name) / "redis.log"
        with log.open("wb") as output:
            self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

        def answers() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}:\n{log.read_text()}")
            try:
                with self.client() as probe:
                    return bool(probe.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, 10, f"redis-server on 127.0.0.1:{self.port}")
        return self

    def stop(self) -> None:
        stop_process_group(self._process)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._directory.cleanup()
