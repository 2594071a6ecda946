"""Announce end to end: followers subscribed through the real inbox, stories delivered to
real inboxes on 127.0.0.1 that check our signatures."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from bovine.clients.signed_http import SignedHttpClient
from click.testing import CliRunner, Result

import publish
from milpa.activitypub import ACTIVITY_JSON
from milpa.state import DataStore
from milpa_delivery.queue import DeliveryQueue

from .conftest import ROOT, MiniSite, settings_file, story
from .servers import serving
from .test_inbox import PEER_PRIVATE, Peer, Site, follow, post_signed, run, wait_for


@dataclass
class World:
    site: Site
    mini: MiniSite
    readers: Peer  # two of its actors follow the site
    writers: Peer  # one of its actors follows an author

    def announce(self, *arguments: str) -> Result:
        result = CliRunner().invoke(publish.cli, ["announce", *arguments],
                                    catch_exceptions=False)
        print(result.output)
        assert result.exit_code == 0
        return result

    def rebuild(self) -> None:
        self.mini.build(SITEURL=self.site.base)

    def publish_expiring_notice(self) -> None:
        """A notice that expires a day after 05:00 on the build's day, announced as new."""
        self.announce()  # the first run records what is already there
        self.mini.add("stories/notice.md", story(
            "Notice", Authors="Ixchel Tzoc", Slug="notice", Date="2026-06-01 05:00",
            Expires="24h"))  # the build's clock says 2026-06-01 12:00 UTC
        self.rebuild()
        self.announce()
        assert self.kinds(self.writers)[-1][0] == "Create"

    def kinds(self, peer: Peer) -> list[tuple[str, str | None]]:
        return [(activity["type"], signed_by) for activity, signed_by in peer.received]


def queued_items(data: Path) -> list[dict[str, object]]:
    """Every delivery still owed, as the queue reads it."""
    queue = DeliveryQueue(data)
    return [item for folder in queue.folders() for _, item in queue.read(folder).items]


@contextmanager
def followed_site(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch, **settings: Any
                  ) -> Iterator[tuple[Site, Peer, Peer]]:
    """A site with one told-of-to-be story, served with its inbox, whose actor `stories` two
    readers follow and whose author one writer follows (their Accepts received)."""
    mini_site.add("stories/old.md", story("Old", Authors="Ixchel Tzoc", Slug="old",
                                          Date="2026-04-01"))
    readers, writers = Peer(), Peer()
    with serving(readers.app), serving(writers.app), serving(mini_site.served_with_inbox) as base:
        site = Site(base, DataStore(mini_site.base / "data"))
        for number in (1, 2):
            assert run(post_signed(site.inbox(), follow(readers, number, site),
                                   readers.key(number))) == 202
        assert run(post_signed(site.inbox("ixchel_tzoc"),
                               follow(writers, 3, site, "ixchel_tzoc"), writers.key(3))) == 202
        (mini_site.base / "pelicanconf.py").write_text(settings_file(
            PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output), SITEURL=base,
            CACHE_PATH=str(mini_site.base / "cache"),
            MILPA_DATA_PATH=str(mini_site.base / "data"), MILPA_INBOX_ALLOW_LOOPBACK=True,
            **settings))
        monkeypatch.chdir(mini_site.base)
        monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
        wait_for(lambda: len(readers.received) + len(writers.received) == 3)  # the Accepts
        readers.received.clear()
        writers.received.clear()
        yield site, readers, writers


@pytest.fixture
def world(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with followed_site(mini_site, monkeypatch) as (site, readers, writers):
        yield World(site, mini_site, readers, writers)


def test_a_story_reaches_each_shared_inbox_once_then_its_edit_and_its_removal(
        world: World) -> None:
    site = world.site
    first = world.announce()
    assert "Delivered 0" in first.output  # the first run records what exists, quietly
    assert world.kinds(world.readers) == [] and world.kinds(world.writers) == []

    world.mini.add("stories/new.md", story("New", Authors="Ixchel Tzoc", Slug="new",
                                           Date="2026-05-20"))
    world.rebuild()
    plan = world.announce("--dry-run")
    assert "Would send 3 activities (2 Announce, 1 Create): 2 deliveries to 2 inboxes on " \
        "2 servers." in plan.output
    assert world.kinds(world.readers) == []
    world.announce()
    # Two readers, one shared inbox: one boost from the site. The author's follower gets
    # the Create, signed by the author.
    assert world.kinds(world.readers) == [("Announce", site.actor())]
    assert world.kinds(world.writers) == [("Create", site.actor("ixchel_tzoc"))]
    created = world.writers.received[0][0]
    assert created["object"]["id"] == f"{site.base}/ap/objects/es/new"

    again = world.announce()
    assert "Delivered 0" in again.output
    assert len(world.readers.received) == 1 and len(world.writers.received) == 1

    path = world.mini.content / "stories/new.md"
    path.write_text(path.read_text().replace("Text.", "Better text."))
    world.rebuild()
    world.announce()
    assert world.kinds(world.readers)[-1] == ("Update", site.actor("ixchel_tzoc"))
    assert world.kinds(world.writers)[-1] == ("Update", site.actor("ixchel_tzoc"))
    assert "Better text." in world.writers.received[-1][0]["object"]["content"]

    path.unlink()
    world.rebuild()
    world.announce()
    deleted = world.writers.received[-1][0]
    assert (deleted["type"], deleted["object"]["type"]) == ("Delete", "Tombstone")
    assert world.kinds(world.readers)[-1] == ("Delete", site.actor("ixchel_tzoc"))
    assert len(world.readers.received) == 3 and len(world.writers.received) == 3
    world.announce()
    assert len(world.readers.received) == 3 and len(world.writers.received) == 3


def test_failures_are_retried_later_or_remove_the_followers(world: World) -> None:
    world.announce()
    world.readers.status = 500
    world.writers.status = 410
    world.mini.add("stories/new.md", story("New", Authors="Ixchel Tzoc", Slug="new",
                                           Date="2026-05-20"))
    world.rebuild()
    result = world.announce()
    assert "Delivered 0, retried later 1, gave up 0, removed 1 followers" in result.output
    assert world.site.store.follower_count("ixchel_tzoc") == 0
    assert world.site.store.follower_count("stories") == 2
    queued = queued_items(Path("data"))
    assert len(queued) == 1 and queued[0]["attempts"] == 1
    # Not due yet: the next run leaves it for later, and sends nothing twice.
    world.readers.status = 202
    later = world.announce()
    assert "Delivered 0, retried later 1" in later.output


def test_a_killed_announce_finishes_on_the_next_run_without_losing_anything(
        world: World) -> None:
    slow = Peer(shared=False, delay=0.25, verify=False)
    with serving(slow.app):
        for number in range(100, 130):  # thirty followers, thirty personal inboxes
            assert run(post_signed(world.site.inbox(), follow(slow, number, world.site),
                                   slow.key(number))) == 202
        wait_for(lambda: len(slow.received) == 30)  # their Accepts
        slow.received.clear()
        slow.paths.clear()
        world.announce()
        world.mini.add("stories/new.md", story("New", Authors="Ixchel Tzoc", Slug="new",
                                               Date="2026-05-20"))
        world.rebuild()
        # Two at a time to that server, a quarter second each: about four seconds of work.
        killed = subprocess.Popen([sys.executable, str(ROOT / "publish.py"), "announce"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: len(slow.received) >= 4, 30)
        killed.kill()
        killed.wait(10)
        assert len(slow.received) < 30
        world.announce()
        # Every follower's inbox got the boost; only the two in flight at the kill may
        # have got it twice.
        assert {activity["id"] for activity, _ in slow.received} == {
            f"{world.site.actor()}#announces/es/new"}
        per_inbox = Counter(slow.paths)
        assert len(per_inbox) == 30 and sum(per_inbox.values()) <= 32
        before = len(slow.received)
        world.announce()
        assert len(slow.received) == before


def test_a_server_that_hangs_is_marked_unavailable_and_tried_again_later(
        world: World) -> None:
    world.announce()
    settings = Path("pelicanconf.py")
    settings.write_text(settings.read_text() + "MILPA_DELIVERY_READ_TIMEOUT = 0.5\n")
    sys.modules.pop("pelicanconf", None)
    world.readers.delay = 2  # longer than the read timeout
    world.mini.add("stories/new.md", story("New", Authors="Ixchel Tzoc", Slug="new",
                                           Date="2026-05-20"))
    world.rebuild()
    result = world.announce()
    assert "Delivered 1, retried later 1" in result.output  # the writers' server answered
    host = world.readers.base.removeprefix("http://")
    assert [h["host"] for h in world.site.store.unavailable_hosts()] == [host]
    [item] = queued_items(Path("data"))
    assert item["attempts"] == 1 and item["next_try"] > item["first_try"]


def test_a_story_that_expires_is_deleted_from_followers_timelines(world: World) -> None:
    world.publish_expiring_notice()
    world.mini.build(SITEURL=world.site.base, MILPA_NOW="2026-06-03T12:00:00+00:00")
    settings = Path("pelicanconf.py")
    settings.write_text(settings.read_text().replace("2026-06-01T12:00:00+00:00",
                                                     "2026-06-03T12:00:00+00:00"))
    sys.modules.pop("pelicanconf", None)
    world.announce()
    deleted = world.writers.received[-1][0]
    assert deleted["type"] == "Delete"
    assert deleted["object"]["id"] == f"{world.site.base}/ap/objects/es/notice"
    assert deleted["object"]["deleted"].startswith("2026-06-03")


def test_move_out_tells_every_follower_and_marks_the_profile(world: World) -> None:
    newcomer = Peer()
    with serving(newcomer.app):
        target = newcomer.actor(60)
        refused = CliRunner().invoke(publish.cli, ["move", "--to", target])
        assert refused.exit_code == 1 and "does not list" in refused.output
        assert world.readers.received == []
        newcomer.aliases[60] = [world.site.actor()]
        moved = CliRunner().invoke(publish.cli, ["move", "--to", target],
                                   catch_exceptions=False)
        assert moved.exit_code == 0, moved.output
        assert "Delivered 1" in moved.output
    [(move, signed_by)] = world.readers.received
    assert (move["type"], move["object"], move["target"]) == ("Move", world.site.actor(),
                                                               target)
    assert signed_by == world.site.actor()
    actor = json.loads((world.mini.output / "ap/actors/stories").read_text())
    assert actor["movedTo"] == target
    assert world.writers.received == []  # they follow an author, who did not move


def test_followers_moving_in_from_an_old_account_are_accepted_in_bulk(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """The followers' side of a Mastodon Move, played with bovine: each follower's server
    receives the old account's Move, reads the target (our actor) to check that it names
    the old account in alsoKnownAs, and sends a signed Follow, which our inbox accepts."""
    monkeypatch.chdir(mini_site.base)  # bovine's JSON-LD cache file lands here
    from bovine.parse import Actor

    old_account = "https://old.example/users/community"
    mini_site.add("stories/a.md", story("Agua"))
    followers = Peer(verify=False)

    def app(base: str) -> web.Application:
        return mini_site.served_with_inbox(base, MILPA_ACTOR_ALSO_KNOWN_AS=[old_account])

    async def follower_servers_process_the_move(site_actor: str) -> list[int]:
        move = {"type": "Move", "actor": old_account, "object": old_account,
                "target": site_actor}
        async with aiohttp.ClientSession() as http:
            async with http.get(move["target"], headers={"Accept": ACTIVITY_JSON}) as r:
                target = Actor({**await r.json(content_type=None), "@context": "about:bovine"})
            assert old_account in target.data["alsoKnownAs"]  # what Mastodon checks

            async def follow_again(number: int) -> int:
                client = SignedHttpClient(http, followers.key(number), PEER_PRIVATE)
                activity = {"id": f"{followers.actor(number)}/follows/moved",
                            "type": "Follow", "actor": followers.actor(number),
                            "object": target.id}
                response = await client.post(target.data["inbox"], json.dumps(activity),
                                             content_type=ACTIVITY_JSON)
                async with response:
                    return response.status

            return await asyncio.gather(*(follow_again(n) for n in range(100, 150)))

    with serving(followers.app), serving(app) as base:
        statuses = run(follower_servers_process_the_move(f"{base}/ap/actors/stories"))
        assert statuses == [202] * 50
        assert DataStore(mini_site.base / "data").follower_count("stories") == 50
        wait_for(lambda: len(followers.received) == 50)  # each got its Accept
