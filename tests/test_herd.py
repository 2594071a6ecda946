"""End to end with bovine-herd: a real ActivityPub server, in authorized-fetch mode,
whose user follows the site and receives the Accept. Everything on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from bovine.clients.signed_http import SignedHttpClient
from click.testing import CliRunner

import publish
from milpa.keys import PRIVATE_KEY
from milpa.state import DataStore

from .conftest import TEST_KEYS, MiniSite, settings_file, story
from .servers import free_port, running, serving

HERD_APP = """
from quart import Quart
from bovine_herd import BovineHerd
app = BovineHerd(Quart(__name__), db_url="sqlite://herd.sqlite3")
"""


@dataclass
class HerdUser:
    base: str
    actor_id: str
    secret: str


def store_command(folder: Path, *arguments: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bovine_store", *arguments], cwd=folder,
                          env={**os.environ, "BOVINE_DB_URL": "sqlite://herd.sqlite3"},
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


@pytest.fixture
def herd(tmp_path: Path) -> Iterator[HerdUser]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    store_command(tmp_path, "create")
    store_command(tmp_path, "register", "--domain", base, "--handle", "bob")
    name = store_command(tmp_path, "actor").strip().splitlines()[-1]
    actor_id = json.loads(store_command(tmp_path, "actor", "--name", name))["id"]
    secret = store_command(tmp_path, "key", name, "--new").strip().rsplit(" ", 1)[-1]
    (tmp_path / "herd_app.py").write_text(HERD_APP)
    with running([sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}",
                  "herd_app:app"], port, tmp_path / "herd.log", cwd=tmp_path,
                 env={"BOVINE_DB_URL": "sqlite://herd.sqlite3"}):
        yield HerdUser(base, actor_id, secret)


@pytest.mark.slow
def test_a_bovine_herd_user_follows_and_receives_a_story_and_its_deletion(
        mini_site: MiniSite, herd: HerdUser, monkeypatch: pytest.MonkeyPatch) -> None:
    import bovine

    monkeypatch.chdir(mini_site.base)  # bovine's JSON-LD cache file lands here
    mini_site.add("stories/a.md", story("Agua"))

    async def inbox_of_bob(wanted: str) -> list[dict]:
        """Bob's inbox once it holds an activity of type ``wanted`` (or after 30 s)."""
        async with bovine.BovineClient(domain=herd.base, actor_id=herd.actor_id,
                                       secret=herd.secret) as client:
            for _ in range(150):
                received = [item async for item in client.inbox()]
                if any(item.get("type") == wanted for item in received):
                    return received
                await asyncio.sleep(0.2)
            return received

    async def follow(site_actor: str) -> None:
        async with bovine.BovineClient(domain=herd.base, actor_id=herd.actor_id,
                                       secret=herd.secret) as client:
            # bovine-herd makes its own server key on first use, and two requests at once can
            # catch it half made; one signed request of ours first lets it finish.
            async with aiohttp.ClientSession() as http:
                ours = SignedHttpClient(http, f"{site_actor}#main-key",
                                        (TEST_KEYS / PRIVATE_KEY).read_text())
                for _ in range(2):
                    (await ours.get(herd.actor_id)).release()
                    await asyncio.sleep(0.5)
            response = await client.send_to_outbox(
                client.activity_factory.follow(site_actor).build())
            response.release()  # left open, it fails the test as an unclosed connection

    def announce() -> None:
        result = CliRunner().invoke(publish.cli, ["announce"], catch_exceptions=False)
        assert result.exit_code == 0, result.output

    def of(activity: dict, field: str) -> str:
        value = activity[field]  # the herd stores some of them embedded
        return value if isinstance(value, str) else value["id"]

    with serving(mini_site.served_with_inbox) as base:
        site_actor = f"{base}/ap/actors/stories"
        asyncio.run(asyncio.wait_for(follow(site_actor), 60))
        received = asyncio.run(asyncio.wait_for(inbox_of_bob("Accept"), 60))
        [accept] = [item for item in received if item.get("type") == "Accept"]
        assert of(accept, "actor") == site_actor
        followers = DataStore(mini_site.base / "data").followers("stories")
        assert [follower.id for follower in followers] == [herd.actor_id]

        (mini_site.base / "pelicanconf.py").write_text(settings_file(
            PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output), SITEURL=base,
            CACHE_PATH=str(mini_site.base / "cache"),
            MILPA_DATA_PATH=str(mini_site.base / "data"), MILPA_INBOX_ALLOW_LOOPBACK=True))
        monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
        announce()  # the first run: the story that was there is not sent
        mini_site.add("stories/new.md", story("Nuevo", Slug="nuevo", Date="2026-05-30"))
        mini_site.build(SITEURL=base)
        announce()
        received = asyncio.run(asyncio.wait_for(inbox_of_bob("Announce"), 60))
        [shared] = [item for item in received if item.get("type") == "Announce"]
        assert of(shared, "object") == f"{base}/ap/objects/es/nuevo"
        (mini_site.content / "stories/new.md").unlink()
        mini_site.build(SITEURL=base)
        announce()
        received = asyncio.run(asyncio.wait_for(inbox_of_bob("Delete"), 60))
        [deleted] = [item for item in received if item.get("type") == "Delete"]
        assert of(deleted, "object") == f"{base}/ap/objects/es/nuevo"
