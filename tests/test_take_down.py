"""Take-down end to end: followers subscribed through the real inbox, every Delete delivered
to real inboxes on 127.0.0.1 that check our signatures, then the site answering 410."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner, Result

import publish
from milpa.activitypub import ACTIVITY_JSON
from milpa.state import DataStore, Follower, FollowRequest

from .conftest import ROOT, MiniSite, photo_with_secrets, require_tool, settings_file, story
from .servers import free_port, running, serving
from .test_announce import followed_site
from .test_federation import shipped_caddy, shipped_nginx
from .test_inbox import Peer, Site, follow, post_signed, run, wait_for


@dataclass
class World:
    site: Site
    mini: MiniSite
    readers: Peer  # two of its actors follow the site
    writers: Peer  # one of its actors follows an author

    def command(self, *arguments: str, input: str | None = None) -> Result:
        result = CliRunner().invoke(publish.cli, list(arguments), input=input,
                                    catch_exceptions=False)
        print(result.output)
        return result

    def received(self) -> list[tuple[dict[str, Any], str | None]]:
        return self.readers.received + self.writers.received


def announced_world(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch,
                    **settings: Any) -> Iterator[World]:
    """Two stories told to followers on two servers, by two of the site's actors."""
    with followed_site(mini_site, monkeypatch, **settings) as (site, readers, writers):
        world = World(site, mini_site, readers, writers)
        world.command("announce")  # the first run records the old story as told
        mini_site.add("stories/new.md", story("New", Authors="Ixchel Tzoc", Slug="new",
                                              Date="2026-05-20"))
        mini_site.build(SITEURL=site.base)
        world.command("announce")
        readers.received.clear()
        writers.received.clear()
        yield world


@pytest.fixture
def world(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from announced_world(mini_site, monkeypatch)


def stories_of(world: World) -> set[str]:
    return {f"{world.site.base}/ap/objects/es/{slug}" for slug in ("old", "new")}


def check_every_delete_arrived(world: World, most_repeated: int = 0) -> None:
    """Each server got each story's Delete and then its actors' Deletes, each signed by its
    actor; ``most_repeated``: deliveries a kill may have cut off after the server got them."""
    site = world.site
    for peer, actors in ((world.readers, ["stories"]), (world.writers, ["ixchel_tzoc"])):
        deletes = [activity for activity, _ in peer.received if activity["type"] == "Delete"]
        assert all(signed_by == activity["actor"] for activity, signed_by in peer.received)
        ids = Counter(activity["id"] for activity in deletes)
        assert sum(ids.values()) - len(ids) <= most_repeated, ids
        objects = [a["object"]["id"] for a in deletes if isinstance(a["object"], dict)]
        gone_actors = [a["object"] for a in deletes if isinstance(a["object"], str)]
        assert set(objects) == stories_of(world)
        assert sorted(set(gone_actors)) == [site.actor(name) for name in actors]
        # The actors' Deletes come after every story's.
        last_object = max(i for i, a in enumerate(deletes) if isinstance(a["object"], dict))
        first_actor = min(i for i, a in enumerate(deletes) if isinstance(a["object"], str))
        assert last_object < first_actor
        assert all(a["object"]["type"] == "Tombstone" and a["object"]["formerType"] == "Note"
                   for a in deletes if isinstance(a["object"], dict))


async def fetched(url: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as http, \
            http.get(url, headers={"Accept": ACTIVITY_JSON}) as response:
        body = await response.read()
        kind = response.headers.get("Content-Type", "")
        return response.status, kind, json.loads(body) if "json" in kind else body.decode()


def check_gone(base: str, site_base: str) -> None:
    """Object and actor URLs 410 with a Tombstone, WebFinger 410, stories and feeds gone."""
    status, kind, tombstone = run(fetched(f"{base}/ap/objects/es/new"))
    assert (status, kind.split(";")[0]) == (410, ACTIVITY_JSON)
    assert tombstone["type"] == "Tombstone" and tombstone["formerType"] == "Note"
    assert tombstone["id"] == f"{site_base}/ap/objects/es/new" and tombstone["deleted"]
    status, _, tombstone = run(fetched(f"{base}/ap/actors/stories"))
    assert (status, tombstone["type"]) == (410, "Tombstone") and tombstone["formerType"]
    host = site_base.split("//")[1]
    assert run(fetched(f"{base}/.well-known/webfinger?resource=acct:stories@{host}"))[0] == 410
    assert run(fetched(f"{base}/stories/new/"))[0] == 404
    assert run(fetched(f"{base}/feeds/all.atom.xml"))[0] == 404
    status, _, home = run(fetched(f"{base}/"))
    assert status == 200 and "taken down" in home


def test_every_follower_gets_each_delete_once_then_the_site_is_gone(world: World) -> None:
    result = world.command("take-down", "--yes")
    assert result.exit_code == 0
    assert "a Delete of 2 stories, then of 3 actors, to 3 followers on 2 servers" in \
        result.output
    check_every_delete_arrived(world)
    assert len(world.readers.received) == 3  # 2 stories, 1 actor: one shared inbox
    assert len(world.writers.received) == 3
    ledger = DataStore(world.mini.base / "data").ledger()
    assert {ledger[key]["state"] for key in ("es/old", "es/new")} == {"deleted"}
    check_gone(world.site.base, world.site.base)
    # The inbox is gone too: a Follow now is answered 410, and nothing is recorded.
    assert run(post_signed(world.site.inbox(), follow(world.readers, 4, world.site),
                           world.readers.key(4))) == 410
    # Run again: nothing left to send.
    again = world.command("take-down", "--yes")
    assert again.exit_code == 0 and "nothing is left to send" in again.output
    assert len(world.received()) == 6


def test_announce_after_a_take_down_sends_nothing(world: World) -> None:
    world.command("take-down", "--yes")
    world.readers.received.clear()
    world.writers.received.clear()
    world.mini.add("stories/later.md", story("Later", Authors="Ixchel Tzoc", Slug="later",
                                             Date="2026-05-25"))
    result = world.command("publish")
    assert result.exit_code == 0 and "announce sends nothing" in result.output
    assert world.received() == []
    assert not (world.mini.output / "stories").exists()


def test_a_dry_run_or_a_no_sends_nothing(world: World) -> None:
    plan = world.command("take-down", "--dry-run")
    assert plan.exit_code == 0
    assert "Would send a Delete of 2 stories, then of 3 actors, to 3 followers on 2 servers" \
        in plan.output
    # The author deletes its 2 stories (for both servers: the site shared them) and itself.
    assert "ixchel_tzoc: 3 Deletes, 5 deliveries" in plan.output
    assert "stories: 1 Deletes, 1 deliveries" in plan.output
    refused = world.command("take-down", input="n\n")
    assert refused.exit_code == 1 and "Take " in refused.output and "3 followers" in \
        refused.output
    time.sleep(0.5)  # a delivery, had one started, would have arrived by now
    assert world.received() == []
    assert DataStore(world.mini.base / "data").take_down() is None
    assert (world.mini.output / "stories").is_dir()  # the site is still built as before


def test_the_actors_wait_while_a_story_delete_waits_for_a_server(world: World) -> None:
    world.writers.status = 503  # the author's follower's server is down
    result = world.command("take-down", "--yes")
    assert result.exit_code == 1 and "run `python publish.py take-down` again later" in \
        result.output
    # The site's follower got both stories' Deletes, but no actor was deleted anywhere:
    # a server that forgot the actor would drop the Deletes still to come.
    assert [a["type"] for a, _ in world.readers.received] == ["Delete", "Delete"]
    assert all(isinstance(a["object"], dict) for a, _ in world.received())
    assert DataStore(world.mini.base / "data").take_down()["phase"] == "objects"


def test_between_the_phases_no_actor_joins_the_bridge_or_gains_a_follower(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut off before the actors' Deletes, the actors are still served (their keys check
    those Deletes); the editor's `bridge on` or approving a held follow must not revive one."""
    from .test_bridge import Bridge

    photo_with_secrets(mini_site.content / "photos/logo.jpg")
    bridge = Bridge(answers=False)
    with serving(bridge.app):
        for world in announced_world(mini_site, monkeypatch, MILPA_BRIDGE_ACTOR=bridge.actor_id,
                                     MILPA_ACTOR_ICON="photos/logo.jpg"):
            world.mini.build(SITEURL=world.site.base, MILPA_ACTOR_ICON="photos/logo.jpg")
            world.writers.status = 503  # the take-down stops between its phases
            assert world.command("take-down", "--yes").exit_code == 1
            assert (world.mini.output / "ap" / "actors" / "stories").is_file()
            joined = world.command("bridge", "on", "stories")
            assert joined.exit_code == 1 and "taken down" in joined.output
            follower = Follower(id=world.readers.actor(7), inbox=f"{world.readers.base}/inbox",
                                shared_inbox=None, since="2026-06-01")
            request = FollowRequest("stories", follower, follow(world.readers, 7, world.site))
            world.site.store.save_follow_request(request)
            short = world.site.store.request_short_id(request)
            approved = world.command("moderate", "--approve", short)
            assert approved.exit_code == 1 and "taken down" in approved.output
            time.sleep(0.5)  # a delivery, had one started, would have arrived by now
            assert bridge.received == [] and world.readers.received[-1][0]["type"] == "Delete"
            assert world.readers.actor(7) not in {
                f.id for f in world.site.store.followers("stories")}


@pytest.fixture
def slow_world(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """One delivery at a time, each answered after a while: a kill lands mid-run."""
    for peer_world in announced_world(mini_site, monkeypatch, MILPA_DELIVERY_CONCURRENCY=1):
        peer_world.readers.delay = peer_world.writers.delay = 0.4
        yield peer_world


def test_a_kill_mid_run_then_a_rerun_loses_and_repeats_nothing(slow_world: World) -> None:
    world = slow_world
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    process = subprocess.Popen([sys.executable, str(ROOT / "publish.py"), "take-down", "--yes"],
                               cwd=world.mini.base, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(world.received()) >= 2, seconds=60)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        output = process.communicate(timeout=10)[0].decode()
    print(output)
    assert process.returncode == -signal.SIGKILL
    killed_at = len(world.received())
    assert killed_at < 6  # it was stopped midway
    result = world.command("take-down")  # no question: it continues the one begun
    assert result.exit_code == 0
    time.sleep(0.5)  # the deliveries the kill cut off have all arrived
    # With one delivery at a time, the only one that can come twice is the one in flight
    # when the process died: its server had it, but the answer never arrived.
    check_every_delete_arrived(world, most_repeated=1)
    check_gone(world.site.base, world.site.base)


def taken_down_site(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    """A site without followers, taken down: only the build's side is left to check."""
    mini_site.add("stories/new.md", story("New", Authors="Ixchel Tzoc", Slug="new"))
    (mini_site.base / "pelicanconf.py").write_text(settings_file(
        PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output), SITEURL=base,
        CACHE_PATH=str(mini_site.base / "cache"), MILPA_DATA_PATH=str(mini_site.base / "data")))
    monkeypatch.chdir(mini_site.base)
    monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
    runner = CliRunner()
    assert runner.invoke(publish.cli, ["build"], catch_exceptions=False).exit_code == 0
    result = runner.invoke(publish.cli, ["take-down", "--yes"], catch_exceptions=False)
    print(result.output)
    assert result.exit_code == 0 and "Taken down" in result.output
    redirects = (mini_site.output / "_redirects").read_text()
    assert "/ap/objects/es/new  /tombstones/ap/objects/es/new  410!\n" in redirects


def test_publish_serve_answers_410(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    from milpa_inbox.web import site_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    taken_down_site(mini_site, monkeypatch, base)
    with serving(site_app(mini_site.output, base)) as served:
        check_gone(served, base)
        assert run(fetched(f"{served}/tombstones/ap/objects/es/new"))[0] == 404


def test_move_after_a_take_down_is_refused(mini_site: MiniSite,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    taken_down_site(mini_site, monkeypatch, "http://127.0.0.1:8000")
    result = CliRunner().invoke(publish.cli, ["move", "--to", "http://127.0.0.1:9/users/1"])
    assert result.exit_code == 1 and "taken down" in result.output


def test_the_inbox_service_starts_and_answers_410(mini_site: MiniSite,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    taken_down_site(mini_site, monkeypatch, "http://127.0.0.1:8000")
    port = free_port()
    environment = {"PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}

    async def post() -> int:
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{port}/ap/inbox", data=b"{}",
                headers={"Content-Type": ACTIVITY_JSON}) as response:
            return response.status

    with running([sys.executable, str(ROOT / "publish.py"), "inbox", "--port", str(port)],
                 port, mini_site.base / "inbox.log", cwd=mini_site.base, env=environment):
        assert run(post()) == 410


@pytest.mark.slow
@pytest.mark.parametrize(("tool", "shipped"), [("nginx", shipped_nginx), ("caddy", shipped_caddy)])
def test_the_shipped_server_configuration_answers_410(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch, tool: str,
        shipped: Callable[[Path, Path, int], AbstractContextManager[None]]) -> None:
    require_tool(tool)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    taken_down_site(mini_site, monkeypatch, base)
    with shipped(mini_site.output, mini_site.base, port):
        check_gone(base, base)
        assert run(fetched(f"{base}/tombstones/ap/objects/es/new"))[0] == 404


def test_the_notice_speaks_the_sites_language() -> None:
    from milpa_site.gone import notice_page

    page = notice_page("Milpa <Sur>", "es")
    assert "Milpa &lt;Sur&gt; fue dado de baja" in page and "<script" not in page
