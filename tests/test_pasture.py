"""fediverse-pasture's verify_actor: six test actors fetch our actor and post to its inbox.

Two post unsigned (they must be refused), four post signed, two of them from actors whose
own documents need a signed GET (they must all be accepted). Bound to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from .conftest import MiniSite, story
from .servers import free_port, running, serving

PASTURE = """
from fediverse_pasture.verify_actor import build_app
build_app(False, "127.0.0.1:{port}", False, 10).run(host="127.0.0.1", port={port},
                                                    use_reloader=False)
"""


@pytest.fixture
def pasture(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    # Its working directory receives the configuration it generates.
    with running([sys.executable, "-c", PASTURE.format(port=port)], port,
                 tmp_path / "pasture.log", cwd=tmp_path):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_fediverse_pasture_verifies_our_actor_and_inbox(mini_site: MiniSite,
                                                        pasture: str) -> None:
    mini_site.add("stories/a.md", story("Agua"))

    async def verify(base: str) -> dict:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http, \
                http.post(f"{pasture}/", data={"actor_uri": f"{base}/ap/actors/stories"},
                          headers={"Accept": "application/json"}) as response:
            return (await response.json())["result"]

    with serving(mini_site.served_with_inbox) as base:
        result = asyncio.run(verify(base))
    assert result.pop("webfinger") is True
    assert {name: checks["get_actor"] for name, checks in result.items()} == dict.fromkeys(
        ["alice", "bob", "claire", "dean", "emily", "frank"], True)
    assert {name: checks["post_inbox"] for name, checks in result.items()} == {
        "alice": False, "bob": True, "claire": True, "dean": False, "emily": True,
        "frank": True}
