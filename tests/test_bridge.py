"""Bluesky through a Bridgy Fed-like bridge, over loopback with real signatures.

The bridge here is a small server on 127.0.0.1 that behaves as Bridgy Fed documents its bot
actor: it checks the signature of every POST with bovine, accepts a Follow of itself and
follows the follower back (signed with bovine's client), and keeps what it receives. The
site runs its real inbox, with follows held for approval, so the follow back is seen to
skip the queue only when it should.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import pytest
from aiohttp import web
from bovine.crypto import build_validate_http_signature_raw, generate_rsa_public_private_key
from bovine.crypto.types import CryptographicIdentifier
from click.testing import CliRunner, Result

import publish
from milpa.activitypub import ACTIVITY_JSON, AS_CONTEXT, ApUrls
from milpa.bridge import (
    BRIDGED,
    OFF,
    PENDING,
    REFUSED,
    Bridging,
    answers_our_follow,
    atproto_did_problem,
    bluesky_handle,
    bridge_problems,
    follows_back,
)
from milpa.state import DataStore
from milpa_inbox.inbox import record_bridge_answer

from .conftest import MiniSite, photo_with_secrets, settings_file, story
from .servers import serving
from .test_editor_rules import plain_pelican
from .test_federation import caddy_site, nginx_site  # noqa: F401 (fixtures)
from .test_inbox import Site, post_signed, run, wait_for

BRIDGE_PUBLIC, BRIDGE_PRIVATE = generate_rsa_public_private_key()
OTHER_PUBLIC, OTHER_PRIVATE = generate_rsa_public_private_key()


@dataclass
class Bridge:
    """A bridge's bot actor at /bsky.brid.gy: signatures checked, follows answered."""

    public: str = BRIDGE_PUBLIC
    private: str = BRIDGE_PRIVATE
    answers: bool = True  # accept follows of itself and follow back
    base: str = ""
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def actor_id(self) -> str:
        return f"{self.base}/bsky.brid.gy"

    def kinds(self) -> list[str]:
        return [activity["type"] for activity, _ in self.received]

    async def post(self, inbox: str, activity: dict[str, Any]) -> int:
        """Signed by the bridge actor's key, as bovine signs."""
        return await post_signed(inbox, activity, f"{self.actor_id}#main-key", self.private)

    async def answer(self, follow: dict[str, Any]) -> None:
        """Accept, then follow back: the order Bridgy Fed documents."""
        async with aiohttp.ClientSession() as http, \
                http.get(follow["actor"], headers={"Accept": ACTIVITY_JSON}) as response:
            inbox = (await response.json(content_type=None))["inbox"]
        await self.post(inbox, {"@context": AS_CONTEXT, "type": "Accept",
                                "id": f"{self.actor_id}/accepts/{uuid4()}",
                                "actor": self.actor_id, "object": follow})
        await self.post(inbox, {"@context": AS_CONTEXT, "type": "Follow",
                                "id": f"{self.actor_id}/follows/{uuid4()}",
                                "actor": self.actor_id, "object": follow["actor"]})

    def app(self, base: str) -> web.Application:
        self.base = base

        async def actor(_request: web.Request) -> web.Response:
            return web.json_response({
                "@context": [AS_CONTEXT, "https://w3id.org/security/v1"],
                "id": self.actor_id, "type": "Service", "preferredUsername": "bsky.brid.gy",
                "name": "Bridge", "inbox": f"{self.actor_id}/inbox",
                "endpoints": {"sharedInbox": f"{base}/inbox"},
                "publicKey": {"id": f"{self.actor_id}#main-key", "owner": self.actor_id,
                              "publicKeyPem": self.public}}, content_type=ACTIVITY_JSON)

        async def inbox(request: web.Request) -> web.Response:
            body = await request.read()

            async def key_of(key_id: str) -> CryptographicIdentifier:
                async with aiohttp.ClientSession() as http, http.get(
                        key_id.split("#")[0], headers={"Accept": ACTIVITY_JSON}) as response:
                    return CryptographicIdentifier.from_public_key(
                        (await response.json(content_type=None))["publicKey"])

            async def body_bytes() -> bytes:
                return body

            owner = await build_validate_http_signature_raw(key_of)(
                "post", request.path, {k.lower(): v for k, v in request.headers.items()},
                body_bytes)
            activity = json.loads(body)
            self.received.append((activity, owner))
            if self.answers and activity.get("type") == "Follow" and \
                    activity.get("object") == self.actor_id and owner == activity["actor"]:
                task = asyncio.ensure_future(self.answer(activity))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            return web.Response(status=202 if owner else 401)

        app = web.Application()
        app.router.add_get("/bsky.brid.gy", actor)
        app.router.add_post("/bsky.brid.gy/inbox", inbox)
        app.router.add_post("/inbox", inbox)
        return app


def cli(*arguments: str) -> Result:
    result = CliRunner().invoke(publish.cli, list(arguments), catch_exceptions=False)
    print(result.output)
    return result


@dataclass
class World:
    site: Site
    mini: MiniSite
    bridge: Bridge

    def bridging(self, name: str = "stories") -> Bridging | None:
        return self.site.store.bridging(name)

    def rebuild(self, moment: str = "2026-06-01T12:00:00+00:00") -> None:
        """Build at ``moment``, and let the command line see the same clock."""
        self.mini.build(SITEURL=self.site.base, **site_overrides(self.bridge),
                        MILPA_NOW=moment)
        self.write_settings(moment)

    def write_settings(self, moment: str = "2026-06-01T12:00:00+00:00") -> None:
        """The settings file the command line reads: the same as the served site's."""
        (self.mini.base / "pelicanconf.py").write_text(settings_file(
            **site_overrides(self.bridge), SITEURL=self.site.base, MILPA_NOW=moment,
            PATH=str(self.mini.content), OUTPUT_PATH=str(self.mini.output),
            CACHE_PATH=str(self.mini.base / "cache"),
            MILPA_DATA_PATH=str(self.mini.base / "data"), MILPA_INBOX_ALLOW_LOOPBACK=True))
        sys.modules.pop("pelicanconf", None)


def site_overrides(bridge: Bridge) -> dict[str, Any]:
    """Follows held for approval, a profile picture, and the bridge on loopback."""
    return {"MILPA_MANUALLY_APPROVES_FOLLOWERS": True, "MILPA_ACTOR_ICON": "photos/logo.jpg",
            "MILPA_BRIDGE_ACTOR": bridge.actor_id}


@pytest.fixture
def world(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    photo_with_secrets(mini_site.content / "photos/logo.jpg")
    mini_site.add("stories/old.md", story("Old", Authors="Ixchel Tzoc", Slug="old",
                                          Date="2026-04-01"))
    bridge = Bridge()
    with serving(bridge.app), serving(lambda base: mini_site.served_with_inbox(
            base, **site_overrides(bridge))) as base:
        world = World(Site(base, DataStore(mini_site.base / "data")), mini_site, bridge)
        monkeypatch.chdir(mini_site.base)
        world.write_settings()
        yield world
        wait_for(lambda: not bridge.tasks)  # its last answers are in before the site stops


def test_an_author_joins_the_bridge_gets_its_stories_and_their_deletion_then_leaves(
        world: World) -> None:
    bridge, site, name = world.bridge, world.site, "ixchel_tzoc"
    author, handle = site.actor(name), "@ixchel-tzoc.127.0.0.1.ap.brid.gy"
    assert "Bluesky: no actor is bridged" in cli("followers").output
    joined = cli("bridge", "on", name)
    assert joined.exit_code == 0
    assert f"Asked the bridge to bridge {name} to Bluesky as {handle}. Delivered 1," in \
        joined.output
    [(follow, signed_by)] = bridge.received
    assert (follow["type"], follow["actor"], follow["object"]) == ("Follow", author,
                                                                   bridge.actor_id)
    assert signed_by == author  # bovine checked our signature

    # Its Accept marks the actor bridged; its follow back is a follower at once, although
    # this site holds every other follow for an editor; our Accept of it reaches it.
    wait_for(lambda: bridge.kinds() == ["Follow", "Accept"])
    assert world.bridging(name).status == BRIDGED
    assert [f.id for f in site.store.followers(name)] == [bridge.actor_id]
    assert site.store.follow_requests() == []
    accept, signed_by = bridge.received[1]
    assert accept["object"]["actor"] == bridge.actor_id and signed_by == author
    assert f"Bluesky: {name} is bridged as {handle}" in cli("followers").output
    again = cli("bridge", "on", name)
    assert f"{name} is already bridged as {handle}: nothing sent." in again.output
    assert len(bridge.received) == 2

    # Her story reaches the bridge as a Create, and its Delete when it expires: the
    # bridge is a follower like any other.
    assert cli("announce").exit_code == 0  # the first run records what is there
    world.mini.add("stories/notice.md", story("Notice", Authors="Ixchel Tzoc", Slug="notice",
                                              Date="2026-06-01 05:00", Expires="24h"))
    world.rebuild()
    assert cli("announce").exit_code == 0
    created, signed_by = bridge.received[-1]
    assert (created["type"], created["object"]["id"], signed_by) == (
        "Create", f"{site.base}/ap/objects/es/notice", author)
    world.rebuild("2026-06-03T12:00:00+00:00")
    assert cli("announce").exit_code == 0
    deleted, signed_by = bridge.received[-1]
    assert (deleted["type"], deleted["object"]["id"], signed_by) == (
        "Delete", f"{site.base}/ap/objects/es/notice", author)

    # Off: the Follow undone and the bridge blocked, as Bridgy Fed asks; once.
    left = cli("bridge", "off", name)
    assert left.exit_code == 0 and "Delivered 2," in left.output
    (undo, undo_by), (block, block_by) = bridge.received[-2:]
    assert (undo["type"], undo["object"], undo_by) == ("Undo", follow, author)
    assert (block["type"], block["object"], block_by) == ("Block", bridge.actor_id, author)
    assert world.bridging(name).status == OFF
    assert site.store.followers(name) == []
    assert f"Bluesky: {name} is not bridged (turned off" in cli("followers").output
    count = len(bridge.received)
    assert f"{name} is already off the bridge: nothing sent." in \
        cli("bridge", "off", name).output
    assert len(bridge.received) == count

    # On again: the block is undone before a new Follow.
    bridge.answers = False
    assert cli("bridge", "on", name).exit_code == 0
    (unblock, _), (refollow, _) = bridge.received[-2:]
    assert (unblock["type"], unblock["object"]["id"]) == ("Undo", block["id"])
    assert refollow["type"] == "Follow" and refollow["id"] != follow["id"]
    assert world.bridging(name).status == PENDING


def test_only_the_bridge_itself_gets_past_the_held_follows(world: World) -> None:
    bridge, site = world.bridge, world.site
    bridge.answers = False  # its answers are sent by hand below
    assert cli("bridge", "on", "stories").exit_code == 0
    [(follow, _)] = bridge.received
    other = Bridge(OTHER_PUBLIC, OTHER_PRIVATE, answers=False)
    with serving(other.app):
        # Its own account, rightly signed: an Accept of our Follow means nothing from it,
        # and its Follow waits for an editor like anyone's.
        accept = {"type": "Accept", "id": f"{other.actor_id}/a/1", "actor": other.actor_id,
                  "object": follow}
        assert run(other.post(site.inbox(), accept)) == 202
        assert world.bridging().status == PENDING
        assert run(other.post(site.inbox(), {"type": "Follow", "id": f"{other.actor_id}/f/1",
                                             "actor": other.actor_id,
                                             "object": site.actor()})) == 202
        assert [r.follower.id for r in site.store.follow_requests()] == [other.actor_id]
        # Claiming to be the bridge, signed with its own key: refused before anything.
        spoof = {"type": "Follow", "id": f"{bridge.actor_id}/f/666", "actor": bridge.actor_id,
                 "object": site.actor()}
        assert run(post_signed(site.inbox(), spoof, f"{other.actor_id}#main-key",
                               OTHER_PRIVATE)) == 401
    assert site.store.followers("stories") == []
    # The bridge following an actor that did not ask it to waits for an editor too.
    assert run(bridge.post(site.inbox("ixchel_tzoc"), {
        "type": "Follow", "id": f"{bridge.actor_id}/f/2", "actor": bridge.actor_id,
        "object": site.actor("ixchel_tzoc")})) == 202
    assert sorted(r.actor for r in site.store.follow_requests()) == ["ixchel_tzoc", "stories"]
    # The bridge's own Accept and follow back of the actor that asked: through.
    assert run(bridge.post(site.inbox(), {"type": "Accept", "id": f"{bridge.actor_id}/a/1",
                                          "actor": bridge.actor_id,
                                          "object": follow["id"]})) == 202
    assert world.bridging().status == BRIDGED
    assert run(bridge.post(site.inbox(), {"type": "Follow", "id": f"{bridge.actor_id}/f/1",
                                          "actor": bridge.actor_id,
                                          "object": site.actor()})) == 202
    assert [f.id for f in site.store.followers("stories")] == [bridge.actor_id]
    wait_for(lambda: bridge.kinds()[-1] == "Accept")  # ours, of its follow back


def test_on_an_open_site_the_bridge_following_an_actor_that_did_not_ask_is_held(
        mini_site: MiniSite) -> None:
    """Follows are open here, yet the bridge gets no actor that never opted in or opted
    out: their stories would reach Bluesky without the editors' say."""
    photo_with_secrets(mini_site.content / "photos/logo.jpg")
    mini_site.add("stories/old.md", story("Old", Authors="Ixchel Tzoc", Slug="old"))
    bridge = Bridge(answers=False)
    with serving(bridge.app), serving(lambda base: mini_site.served_with_inbox(
            base, **{**site_overrides(bridge),
                     "MILPA_MANUALLY_APPROVES_FOLLOWERS": False})) as base:
        site = Site(base, DataStore(mini_site.base / "data"))
        off = Bridging(OFF, bridge.actor_id, f"{bridge.actor_id}/inbox",
                       {"id": f"{site.actor()}#follows/1"}, "", "2026-06-01T00:00:00+00:00")
        site.store.record_bridging("stories", off)
        for number, name in enumerate(("ixchel_tzoc", "stories")):
            assert run(bridge.post(site.inbox(name), {
                "type": "Follow", "id": f"{bridge.actor_id}/f/{number}",
                "actor": bridge.actor_id, "object": site.actor(name)})) == 202
        assert sorted(r.actor for r in site.store.follow_requests()) == ["ixchel_tzoc",
                                                                        "stories"]
        assert site.store.followers("ixchel_tzoc") == site.store.followers("stories") == []
        assert bridge.kinds() == []  # no Accept went out


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_production_site_never_reaches_a_bridge_set_to_a_loopback_address(
        site: MiniSite, host: str) -> None:
    """MILPA_BRIDGE_ACTOR is an address the site's machine connects to: set (by mistake or
    by whoever could edit the settings) to this machine, it must not reach it."""
    photo_with_secrets(site.content / "photos/logo.jpg")
    site.add("stories/old.md", story("Old", Slug="old", Date="2026-04-01"))
    asked: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(status=404)

    listener = web.Application()
    listener.router.add_route("*", "/{path:.*}", anything)
    with serving(listener) as base:
        port = base.rsplit(":", 1)[1]
        (site.base / "pelicanconf.py").write_text(settings_file(
            SITEURL="https://stories.example.org", MILPA_ACTOR_ICON="photos/logo.jpg",
            MILPA_BRIDGE_ACTOR=f"http://{host}:{port}/bsky.brid.gy"))
        assert cli("build").exit_code == 0
        refused = cli("bridge", "on", "stories")
    assert refused.exit_code == 1 and "cannot reach the bridge" in refused.output
    assert asked == [] and DataStore(site.base / "data").bridging("stories") is None


def test_a_bridge_address_that_is_not_the_bridges_own_id_is_refused(world: World) -> None:
    settings = world.mini.base / "pelicanconf.py"
    settings.write_text(settings.read_text().replace(
        repr(world.bridge.actor_id), repr(f"{world.bridge.actor_id}?via=elsewhere")))
    sys.modules.pop("pelicanconf", None)
    refused = cli("bridge", "on", "ixchel_tzoc")
    assert refused.exit_code == 1
    assert "MILPA_BRIDGE_ACTOR must be the bridge actor's own URL" in refused.output
    assert world.bridge.received == [] and world.bridging("ixchel_tzoc") is None


def test_the_command_names_the_actors_there_are_and_what_the_bridge_requires(
        site: MiniSite) -> None:
    # A bridge address nothing listens on: no test here may reach a bridge.
    (site.base / "pelicanconf.py").write_text(settings_file(
        MILPA_BRIDGE_ACTOR="http://127.0.0.1:9/bsky.brid.gy"))
    site.add("stories/a.md", story("Agua", Authors="Ixchel Tzoc", Date="2026-04-01"))
    unbuilt = cli("bridge", "on", "stories")
    assert unbuilt.exit_code == 1 and "run `python publish.py build` first" in unbuilt.output
    assert cli("build").exit_code == 0
    unknown = cli("bridge", "on", "nobody")
    assert unknown.exit_code == 1
    assert "no actor named 'nobody'; the actors are: ixchel_tzoc, sierra_norte, stories" \
        in unknown.output
    assert cli("bridge", "off", "nobody").exit_code == 1
    refused = cli("bridge", "on", "stories")  # the miniature site has no profile picture
    assert refused.exit_code == 1
    assert "the bridge would not take stories: it has no profile picture" in refused.output
    assert "stories was never bridged: nothing to send." in \
        cli("bridge", "off", "stories").output
    assert not (site.base / "data" / "queue").exists()
    assert "on|off" in cli("bridge", "--help").output


def test_the_bridges_requirements_are_read_from_the_actor() -> None:
    moment = datetime(2026, 6, 1, tzinfo=UTC)
    actor = {"preferredUsername": "stories", "name": "Historias", "summary": "<p>Hola</p>",
             "icon": {"url": "x"}, "published": "2026-04-01T00:00:00+00:00"}
    handle = bluesky_handle("stories", "example.org", "ap.brid.gy")
    assert handle == "stories.example.org.ap.brid.gy"
    assert bridge_problems(actor, moment, handle) == []
    assert bluesky_handle("ixchel_tzoc", "Example.org", "ap.brid.gy") == \
        "ixchel-tzoc.example.org.ap.brid.gy"
    assert bluesky_handle("_x", "example.org", "ap.brid.gy") is None
    young = {**actor, "published": "2026-05-30T00:00:00+00:00"}
    assert bridge_problems(young, moment, handle) == [
        "it is less than a week old (its first story's date)"]
    assert bridge_problems({**actor, "name": "Stories"}, moment, handle) == [
        "its display name is missing or the same as its username"]
    assert bridge_problems({**actor, "summary": "<p>#NoBridge</p>"}, moment, handle) == [
        "its name or bio says #nobridge"]
    assert len(bridge_problems({**actor, "movedTo": "https://x.example/y"}, moment,
                               None)) == 2


def test_answers_and_follows_back_count_only_from_the_bridge_followed() -> None:
    urls = ApUrls("https://example.org")
    bridge = "https://bridge.example/bsky.brid.gy"
    follow = {"id": f"{urls.actor('stories')}#follows/1", "type": "Follow"}
    pending = Bridging(PENDING, bridge, f"{bridge}/inbox", follow, "h", "2026-06-01")
    accept = {"type": "Accept", "actor": bridge, "object": follow}
    assert answers_our_follow(pending, accept)
    assert answers_our_follow(pending, {**accept, "object": follow["id"]})
    assert not answers_our_follow(pending, {**accept, "actor": "https://x.example/a"})
    assert not answers_our_follow(pending, {**accept, "object": "https://x.example/f"})
    assert not answers_our_follow(None, accept)
    off = Bridging(OFF, bridge, f"{bridge}/inbox", follow, "h", "2026-06-01")
    assert not answers_our_follow(off, accept)
    assert follows_back(pending, bridge, bridge)
    assert not follows_back(pending, bridge, "https://other.example/bsky.brid.gy")
    assert not follows_back(pending, "https://x.example/a", bridge)
    assert not follows_back(off, bridge, bridge)
    assert not follows_back(None, bridge, bridge)


@pytest.mark.parametrize("did", ["did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.org",
                                 "did:web:stories.example.co.uk"])
def test_atproto_dids_that_are_taken(did: str) -> None:
    assert atproto_did_problem(did) is None


@pytest.mark.parametrize("did", ["did:plc:short", "did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ",
                                 "did:web:example.org/path", "did:web:localhost%3A8000",
                                 "did:key:z6Mk", "did:plc:ewvi7nxzyoun6zhxrhs64oiz\n<a>", "",
                                 42])
def test_atproto_dids_that_are_refused(did: Any) -> None:
    assert "is not an AT Protocol DID" in str(atproto_did_problem(did))


DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def test_the_build_serves_the_did_for_a_custom_handle_as_plain_text(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua"))
    mini_site.build()
    assert not (mini_site.output / ".well-known/atproto-did").exists()  # off by default
    with serving(lambda base: mini_site.served_with_inbox(base, MILPA_ATPROTO_DID=DID)) \
            as base:
        assert run(fetch(f"{base}/.well-known/atproto-did")) == (
            "text/plain; charset=utf-8", DID)


def test_a_bad_did_stops_check_and_build(site: MiniSite) -> None:
    (site.base / "pelicanconf.py").write_text(settings_file(MILPA_ATPROTO_DID="did:plc:nope"))
    site.add("stories/a.md", story("Agua"))
    checked = cli("check")
    assert checked.exit_code == 1
    assert "MILPA_ATPROTO_DID: 'did:plc:nope' is not an AT Protocol DID" in checked.output
    built = cli("build")
    assert built.exit_code == 1 and "is not an AT Protocol DID" in built.output
    assert not (site.output / ".well-known/atproto-did").exists()


async def fetch(url: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.headers["Content-Type"], await response.text()


def test_plain_pelican_stops_at_a_bad_did_too(site: MiniSite) -> None:
    (site.base / "pelicanconf.py").write_text(settings_file(MILPA_ATPROTO_DID="did:web:a/b"))
    site.add("stories/a.md", story("Agua"))
    done = plain_pelican(site)
    assert done.returncode == 1
    assert "ERROR    MILPA_ATPROTO_DID: 'did:web:a/b' is not an" in done.stdout  # (wrapped)
    assert not (site.output / ".well-known/atproto-did").exists()


@pytest.mark.parametrize("server", ["nginx_site", "caddy_site"])
def test_nginx_and_caddy_serve_the_did_as_plain_text(
        server: str, mini_site: MiniSite, request: pytest.FixtureRequest) -> None:
    base = request.getfixturevalue(server)  # the shipped configuration, on loopback
    mini_site.build(SITEURL=base, MILPA_ATPROTO_DID=DID)
    assert run(fetch(f"{base}/.well-known/atproto-did")) == ("text/plain; charset=utf-8", DID)


@pytest.mark.parametrize("config", ["apache.htaccess", "_headers"])
def test_the_other_deploy_configs_serve_the_did_as_plain_text(config: str) -> None:
    text = (Path(__file__).resolve().parent.parent / "deploy" / config).read_text()
    start = text.index("/.well-known/atproto-did")
    assert "text/plain; charset=utf-8" in text[start:start + 200]


def test_a_reject_is_recorded_and_answers_after_off_are_not(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    bridge = "https://bridge.example/bsky.brid.gy"
    follow = {"id": "https://example.org/ap/actors/stories#follows/1", "type": "Follow"}
    store.record_bridging("stories", Bridging(PENDING, bridge, f"{bridge}/inbox", follow, "h",
                                              "2026-06-01"))
    reject = {"type": "Reject", "actor": bridge, "object": follow}
    assert record_bridge_answer(store, reject) == "stories"
    assert store.bridging("stories").status == REFUSED
    store.record_bridging("stories", replace(store.bridging("stories"), status=OFF))
    assert record_bridge_answer(store, {**reject, "type": "Accept"}) is None
    assert store.bridging("stories").status == OFF
