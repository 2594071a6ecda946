"""fediverse-pasture's verify_actor: six test actors fetch our actor and post to its inbox.

Two post unsigned (they must be refused), four post signed, two of them from actors whose
own documents need a signed GET (they must all be accepted). Bound to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from milpa_site.inbox import inbox_from_settings
from milpa_site.web import site_app

from .conftest import MiniSite, story
from .servers import serving

PASTURE = """
from fediverse_pasture.verify_actor import build_app
build_app(False, "127.0.0.1:{port}", False, 10).run(host="127.0.0.1", port={port},
                                                    use_reloader=False)
"""


@pytest.fixture
def pasture(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "pasture.log"
    with log.open("wb") as output:  # its working directory receives its generated config
        server = subprocess.Popen([sys.executable, "-c", PASTURE.format(port=port)],
                                  cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"fediverse-pasture did not start: {log.read_text()}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_fediverse_pasture_verifies_our_actor_and_inbox(mini_site: MiniSite,
                                                        pasture: str) -> None:
    mini_site.add("stories/a.md", story("Agua"))

    def app(base: str) -> web.Application:
        settings = mini_site.settings(SITEURL=base, MILPA_INBOX_ALLOW_LOOPBACK=True)
        mini_site.build(SITEURL=base)
        return site_app(mini_site.output, base,
                        inbox_from_settings(settings, mini_site.output, base))

    async def verify(base: str) -> dict:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http, \
                http.post(f"{pasture}/", data={"actor_uri": f"{base}/ap/actors/stories"},
                          headers={"Accept": "application/json"}) as response:
            return (await response.json())["result"]

    with serving(app) as base:
        result = asyncio.run(verify(base))
    assert result.pop("webfinger") is True
    assert {name: checks["get_actor"] for name, checks in result.items()} == dict.fromkeys(
        ["alice", "bob", "claire", "dean", "emily", "frank"], True)
    assert {name: checks["post_inbox"] for name, checks in result.items()} == {
        "alice": False, "bob": True, "claire": True, "dean": False, "emily": True,
        "frank": True}
