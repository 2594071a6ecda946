"""Running the listener so that slow or idle clients cannot stop it answering.

aiohttp closes a connection that has not sent a whole request within its keep-alive
timeout (it starts counting when the connection opens), so that timeout is the limit on
sending headers; the inbox puts its own limit on reading a body. Open connections are
capped, so the process keeps file descriptors for its
own work (fetching keys, writing the data folder) and new clients still get in, however
many sockets are held open: past the limit the oldest connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from milpa.logs import service_logger
from milpa.settings import setting

logger = service_logger(__name__)


class LimitedRunner(web.AppRunner):
    """An AppRunner whose server holds at most ``max_connections`` connections."""

    def __init__(self, app: web.Application, max_connections: int, **options: Any) -> None:
        super().__init__(app, **options)
        self.max_connections = max_connections

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        accept = server.connection_made

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            # At the limit the oldest connection goes: a request takes milliseconds, so
            # the connections held longest are the ones sending nothing.
            open_ones = [held for held in server.connections if held.transport is not None]
            if len(open_ones) >= self.max_connections:
                logger.warning("server: %d connections open; closing the oldest",
                               len(open_ones))
                open_ones[0].force_close()
            accept(handler, transport)

        server.connection_made = connection_made  # type: ignore[method-assign]
        return server


def runner(app: web.Application, settings: Mapping[str, Any],
           access_log: logging.Logger | None = None) -> LimitedRunner:
    """The runner ``serve`` and ``inbox`` use, with the limits from the settings."""
    return LimitedRunner(app, setting(settings, "MILPA_INBOX_MAX_CONNECTIONS"),
                         keepalive_timeout=setting(settings, "MILPA_INBOX_HEADER_TIMEOUT"),
                         access_log=access_log)


def run(app: web.Application, host: str, port: int, settings: Mapping[str, Any],
        access_log: logging.Logger | None) -> None:
    """Serve ``app`` on ``host``:``port`` until SIGINT (Ctrl-C) or SIGTERM (systemd)."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still works
                loop.add_signal_handler(number, stop.set)
        limited = runner(app, settings, access_log)
        await limited.setup()
        try:
            await web.TCPSite(limited, host, port).start()
            await stop.wait()
        finally:
            await limited.cleanup()  # in-flight requests finish, the app's cleanup runs
        logger.info("server: stopped")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
