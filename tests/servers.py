"""Real aiohttp servers on 127.0.0.1, in a thread, for tests that call them synchronously."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web


@contextmanager
def serving(app: web.Application | Callable[[str], web.Application],
            runner: Callable[[web.Application], web.AppRunner] = web.AppRunner
            ) -> Iterator[str]:
    """Serve an app on a port the OS picks; yields its base URL.

    ``app`` may be a function of the base URL, for apps that must know their own address
    (the port is bound before the app is made, so there is no race for it); ``runner``
    makes its runner (the one `serve` uses, to test its limits).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    loop = asyncio.new_event_loop()
    running = runner(app if isinstance(app, web.Application) else app(base))
    loop.run_until_complete(running.setup())
    loop.run_until_complete(web.SockSite(running, listener).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        asyncio.run_coroutine_threadsafe(running.cleanup(), loop).result(10)
        # Closed transports finish closing in callbacks of their own: let those run before
        # the loop stops, or their sockets are left to the garbage collector (a warning).
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        listener.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(command: list[str], port: int, log: Path, cwd: Path | None = None,
            env: dict[str, str] | None = None, seconds: float = 30) -> Iterator[None]:
    """Run a server program until the test ends, once it accepts connections on ``port``."""
    with log.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=cwd,
                                  env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"{command[0]} did not start: {log.read_text()}")
                time.sleep(0.05)
        yield
    finally:
        server.terminate()
        server.wait(10)
