"""A real ``redis-server`` (Debian's package) on 127.0.0.1 for the store tests.

No persistence (``--save ''``, ``--appendonly no``) and its working directory in
a temporary folder, so nothing is written to the repository. Ready means it
answers PING, polled with a deadline; a server that exits early fails with its
own output.
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

REDIS_SERVER = shutil.which("redis-server")
MISSING = (
    "redis-server is not installed: scripts/test.sh installs Debian's redis-server package when it is missing "
    "(or run: apt-get install redis-server)"
)


class RedisServer:
    def __init__(self, *, port: int | None = None, password: str | None = None) -> None:
        if REDIS_SERVER is None:
            pytest.fail(MISSING, pytrace=False)
        self.port = port or free_port()
        self.password = password
        self._directory = tempfile.TemporaryDirectory(prefix="redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Without the password: tests that need it write their own URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=0.5)

    def start(self) -> RedisServer:
        command = [
            str(REDIS_SERVER),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", self._directory.name,
            "--loglevel", "warning",
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
