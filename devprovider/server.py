"""Serving the provider's ASGI app: uvicorn in a daemon thread on a port bound up front.

The provider's protocol logic never touches threads, sockets or the event loop; this
module owns them, including the ``Date`` header from the provider's skewed clock and the
"stop" event that cuts short every simulated slowness.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from email.utils import formatdate

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DateHeader:
    """ASGI middleware setting ``Date`` from the provider's (possibly skewed) clock.

    uvicorn's own ``date`` header is switched off (``date_header=False``); this one is
    shifted by ``date_offset_seconds`` so clients see a provider whose clock is off.
    """

    def __init__(self, app: ASGIApp, clock: Callable[[], float]) -> None:
        self._app = app
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = formatdate(self._clock(), usegmt=True).encode("latin-1")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self._app(scope, receive, send_with_date)


class _Server(uvicorn.Server):
    """uvicorn server that signals a ``threading.Event`` once it is accepting connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()


class ServerThread:
    """One start and one stop of a uvicorn server in a daemon thread on 127.0.0.1."""

    def __init__(self) -> None:
        self.port: int | None = None
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def stopping(self) -> asyncio.Event | None:
        """Set (on the server's loop) once ``stop()`` is called; ``None`` before serving."""
        return self._stopping

    def is_server_thread(self) -> bool:
        """Whether the caller runs on the server's own thread (its event loop)."""
        return threading.current_thread() is self._thread

    def start(self, build_app: Callable[[], ASGIApp], timeout: float = 10.0, port: int = 0) -> None:
        """Bind ``port`` on 127.0.0.1 (0: a free one), serve ``build_app()`` in a daemon
        thread, return once accepting. A port in use raises ``OSError``.

        The socket is bound here rather than by uvicorn so the port is known before the
        thread starts and there is no pick-a-port-then-bind race. Only the loopback address:
        this provider signs anyone in, so nothing beyond this machine may reach it.
        """
        if self._thread is not None:
            raise RuntimeError("LocalProvider can only be started once")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if port:
            # A fixed port (the development provider's 9400) is free again at once after a
            # restart, despite connections of the last run still in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(),
            log_level="warning",
            log_config=None,  # do not reconfigure the test run's logging
            access_log=False,
            lifespan="off",
            date_header=False,
        )
        self._server = _Server(config, self._ready)
        self._thread = threading.Thread(target=self._run, name=f"LocalProvider:{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or not self._server.started:
            self.stop()
            raise RuntimeError(f"LocalProvider did not start: {self._startup_error!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, cut short any ``"slow"`` waits, and join the thread."""
        server, thread, loop, stopping = self._server, self._thread, self._loop, self._stopping
        if server is not None:
            server.should_exit = True
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # loop closed in between: nothing left to interrupt
                pass
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError("LocalProvider thread did not stop")
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._startup_error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._server is None or self._sock is None:
            raise RuntimeError("server not configured")
        await self._server.serve(sockets=[self._sock])

    async def interruptible_wait(self, seconds: float) -> None:
        """Wait for ``seconds`` or until ``stop()``, whichever comes first."""
        if self._stopping is None:
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass
