"""Real aiohttp servers on 127.0.0.1, in a thread, for tests that call them synchronously."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web


@contextmanager
def serving(app: web.Application | Callable[[str], web.Application]) -> Iterator[str]:
    """Serve an app on a port the OS picks; yields its base URL.

    ``app`` may be a function of the base URL, for apps that must know their own address
    (the port is bound before the app is made, so there is no race for it).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app if isinstance(app, web.Application) else app(base))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, listener).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        listener.close()
