"""Followers in sync (FEP-8fcf), against a peer that implements the receiving side.

The peer (aiohttp on 127.0.0.1, bovine signatures) keeps its own view of which of its
users follow the site. On each delivery it believes a *signed* Collection-Synchronization
header only, compares the digest with its view, and when they differ fetches its part of
the followers list with a signed GET, drops the follows the site no longer has and sends
a signed Undo Follow for those the site lists but it does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from bovine.clients.signed_http import SignedHttpClient
from bovine.clients.signed_http_methods import signed_get
from bovine.crypto import build_validate_http_signature_raw, generate_rsa_public_private_key
from bovine.crypto.signature import Signature
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

import publish
from milpa.activitypub import ACTIVITY_JSON, ApUrls
from milpa.state import DataStore, Follower
from milpa.sync import FollowerDigests, followers_digest, on_server, partial_followers
from milpa.takedown import TakeDown
from milpa_delivery.deliverer import Deliverer

from .conftest import ROOT, MiniSite, settings_file, story
from .conftest import run as cli_run
from .servers import serving
from .test_inbox import Site, follow, run, wait_for
from .test_inbox_trust import Message

SYNC_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


def hand_digest(ids: list[str]) -> str:
    """FEP-8fcf's digest written out again, bytes by bytes: XOR of each SHA-256."""
    total = bytearray(32)
    for actor_id in ids:
        for index, byte in enumerate(hashlib.sha256(actor_id.encode()).digest()):
            total[index] ^= byte
    return total.hex()


@dataclass
class SyncPeer:
    """A server with users /users/N; user 0 is its instance actor (type Application, as
    Mastodon's), which signs its GETs."""

    base: str = ""
    public: str = ""
    private: str = ""
    follows: dict[str, set[str]] = field(default_factory=dict)  # our actor → its users
    headers: list[str | None] = field(default_factory=list)  # each delivery's header
    received: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[list[str]] = field(default_factory=list)  # partial lists it read
    undone: list[str] = field(default_factory=list)  # its users it sent Undo Follow for
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    looked_up: list[str] = field(default_factory=list)  # actor documents others read
    key_documents: bool = False  # keys at /keys/N (owner: /users/N), as GoToSocial has them

    def __post_init__(self) -> None:
        self.public, self.private = generate_rsa_public_private_key()

    def actor(self, number: int) -> str:
        return f"{self.base}/users/{number}"

    def key(self, number: int) -> str:
        if self.key_documents:
            return f"{self.base}/keys/{number}"
        return f"{self.actor(number)}#main-key"

    def app(self, base: str) -> web.Application:
        self.base = base

        async def actor(request: web.Request) -> web.Response:
            actor_id = self.actor(int(request.match_info["number"]))
            self.looked_up.append(actor_id)
            return web.json_response({
                "@context": "https://www.w3.org/ns/activitystreams", "id": actor_id,
                "type": "Application" if actor_id == self.actor(0) else "Person",
                "preferredUsername": "peer", "inbox": f"{actor_id}/inbox",
                "endpoints": {"sharedInbox": f"{base}/inbox"},
                "publicKey": {"id": self.key(int(request.match_info["number"])),
                              "owner": actor_id, "publicKeyPem": self.public}},
                content_type=ACTIVITY_JSON)

        async def key(request: web.Request) -> web.Response:
            number = int(request.match_info["number"])
            return web.json_response({"id": self.key(number), "owner": self.actor(number),
                                      "publicKeyPem": self.public}, content_type=ACTIVITY_JSON)

        async def inbox(request: web.Request) -> web.Response:
            body = await request.read()
            headers = {name.lower(): value for name, value in request.headers.items()}

            async def body_bytes() -> bytes:
                return body

            owner = await build_validate_http_signature_raw(fetch_key)(
                "post", request.path, headers, body_bytes)
            if owner is None:
                return web.Response(status=401)
            activity = json.loads(body)
            self.received.append(activity)
            signed = Signature.from_signature_header(headers["signature"]).fields
            header = headers.get("collection-synchronization")
            self.headers.append(header if "collection-synchronization" in signed else None)
            if activity["type"] == "Accept":
                self.follows.setdefault(activity["actor"], set()).add(
                    activity["object"]["actor"])
            elif self.headers[-1] is not None:
                task = asyncio.ensure_future(self.synchronise(owner, self.headers[-1]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            return web.Response(status=202)

        app = web.Application()
        app.router.add_get("/users/{number}", actor)
        app.router.add_get("/keys/{number}", key)
        app.router.add_post("/inbox", inbox)
        app.router.add_post("/users/{number}/inbox", inbox)
        return app

    async def synchronise(self, sender: str, header: str) -> None:
        """What Mastodon does with the header (ActivityPub::SynchronizeFollowersService)."""
        params = dict(SYNC_PARAMETER.findall(header))
        async with aiohttp.ClientSession() as http:
            sender_document = await fetch_json(http, sender)
            # FEP-8fcf: the collection must be the sender's followers, the URL on its server.
            if params.get("collectionId") != sender_document["followers"] or \
                    urlsplit(params["url"]).netloc != urlsplit(sender).netloc:
                return
            mine = sorted(self.follows.get(sender, set()))
            if hand_digest(mine) == params["digest"]:
                return
            response = await signed_get(http, CryptographicSecret.from_pem(
                self.key(0), self.private), params["url"])
            async with response:
                assert response.status == 200, await response.text()
                listed = (await response.json(content_type=None))["orderedItems"]
            self.fetched.append(listed)
            self.follows[sender] = {user for user in mine if user in listed}
            for user in listed:
                if user not in mine and user.startswith(self.base + "/"):
                    number = int(user.rsplit("/", 1)[1])
                    undo = {"@context": "https://www.w3.org/ns/activitystreams",
                            "id": f"{user}#undo-follow", "type": "Undo", "actor": user,
                            "object": {"id": f"{user}/follows/x", "type": "Follow",
                                       "actor": user, "object": sender}}
                    client = SignedHttpClient(http, self.key(number), self.private)
                    async with await client.post(sender_document["inbox"], json.dumps(undo),
                                                 content_type=ACTIVITY_JSON) as answer:
                        assert answer.status == 202
                    self.undone.append(user)


async def fetch_key(key_id: str) -> CryptographicIdentifier:
    async with aiohttp.ClientSession() as http:
        return CryptographicIdentifier.from_public_key(
            (await fetch_json(http, key_id.split("#")[0]))["publicKey"])


async def fetch_json(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url, headers={"Accept": ACTIVITY_JSON}) as response:
        return await response.json(content_type=None)


async def follow_as(peer: SyncPeer, number: int, site: Site, name: str = "stories") -> int:
    activity = follow(peer, number, site, name)  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as http:
        client = SignedHttpClient(http, peer.key(number), peer.private)
        async with await client.post(site.inbox(name), json.dumps(activity),
                                     content_type=ACTIVITY_JSON) as response:
            return response.status


async def get_list(url: str, peer: SyncPeer | None, number: int = 0,
                   private: str | None = None) -> tuple[int, str, dict[str, str]]:
    """The partial list as ``peer``'s user ``number`` asks for it (unsigned without a
    peer; ``private``: signed with another key than the one the actor publishes)."""
    async with aiohttp.ClientSession() as http:
        if peer is None:
            response = await http.get(url, headers={"Accept": ACTIVITY_JSON})
        else:
            response = await signed_get(http, CryptographicSecret.from_pem(
                peer.key(number), private or peer.private), url)
        async with response:
            return response.status, await response.text(), dict(response.headers)


@dataclass
class Scene:
    site: Site
    mini: MiniSite
    near: SyncPeer  # three users follow the site
    far: SyncPeer  # one user follows the site

    def announce(self) -> Result:
        result = CliRunner().invoke(publish.cli, ["announce"], catch_exceptions=False)
        print(result.output)
        assert result.exit_code == 0
        return result

    def publish(self, slug: str) -> None:
        self.mini.add(f"stories/{slug}.md", story(slug.title(), Authors="Ixchel Tzoc",
                                                  Slug=slug, Date="2026-05-20"))
        self.mini.build(SITEURL=self.site.base)
        self.announce()

    def followers(self) -> set[str]:
        return {follower.id for follower in self.site.store.followers("stories")}

    @property
    def sync_url(self) -> str:
        return f"{self.site.base}/ap/followers-sync/stories"


@pytest.fixture
def scene(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scene]:
    mini_site.add("stories/old.md", story("Old", Authors="Ixchel Tzoc", Slug="old",
                                          Date="2026-04-01"))
    near, far = SyncPeer(), SyncPeer()
    with serving(near.app), serving(far.app), serving(mini_site.served_with_inbox) as base:
        site = Site(base, DataStore(mini_site.base / "data"))
        for peer, number in ((near, 1), (near, 2), (near, 3), (far, 1)):
            assert run(follow_as(peer, number, site)) == 202
        (mini_site.base / "pelicanconf.py").write_text(settings_file(
            PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output), SITEURL=base,
            CACHE_PATH=str(mini_site.base / "cache"),
            MILPA_DATA_PATH=str(mini_site.base / "data"), MILPA_INBOX_ALLOW_LOOPBACK=True))
        monkeypatch.chdir(mini_site.base)
        monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
        scene = Scene(site, mini_site, near, far)
        wait_for(lambda: len(near.received) == 3 and len(far.received) == 1)  # the Accepts
        scene.announce()  # the first run records what is already there, quietly
        yield scene


def test_followers_drift_apart_and_come_back_in_sync(scene: Scene) -> None:
    near, far, site = scene.near, scene.far, scene.site
    actor = site.actor()
    # Accepts are addressed to one follower, not to the followers: no header.
    assert near.headers == [None, None, None] and far.headers == [None]
    assert near.follows[actor] == {near.actor(1), near.actor(2), near.actor(3)}

    site.store.add_blocks(actors=[near.actor(1)])  # the site removes a follower
    near.follows[actor].discard(near.actor(3))  # the peer forgets one (a restored backup)
    scene.publish("new")

    # The site's boost reached each server once, with a signed header for that server.
    [boost] = [a for a in near.received if a["type"] == "Announce"]
    header = dict(SYNC_PARAMETER.findall(near.headers[near.received.index(boost)]))
    assert header == {"collectionId": f"{site.base}/ap/followers/stories",
                      "url": scene.sync_url,
                      "digest": hand_digest([near.actor(2), near.actor(3)])}
    far_header = dict(SYNC_PARAMETER.findall(far.headers[-1]))
    assert far_header["digest"] == hand_digest([far.actor(1)])

    # The peer asked for its part, dropped the removed follower, and undid the forgotten one.
    wait_for(lambda: near.undone == [near.actor(3)] and not near.tasks)
    assert near.fetched == [[near.actor(2), near.actor(3)]]
    assert near.follows[actor] == {near.actor(2)}
    wait_for(lambda: scene.followers() == {near.actor(2), far.actor(1)})
    assert far.fetched == []  # in sync from the start: nothing asked

    # In sync now: the next delivery's digest matches, and nobody asks again.
    scene.publish("later")
    wait_for(lambda: not near.tasks)
    last = dict(SYNC_PARAMETER.findall(near.headers[-1]))
    assert last["digest"] == hand_digest([near.actor(2)])
    assert len(near.fetched) == 1 and far.fetched == []


def test_each_server_reads_only_its_own_followers(scene: Scene) -> None:
    near, far = scene.near, scene.far
    # A follower whose id only starts like the near server's (one more digit in the port)
    # is not the near server's.
    lookalike = f"{near.base}0/users/9"
    scene.site.store.record_follower("stories", Follower(
        id=lookalike, inbox=f"{near.base}0/inbox", shared_inbox=None, since="2026-06-01"))

    status, text, headers = run(get_list(scene.sync_url, near))
    assert status == 200 and headers["Content-Type"].startswith(ACTIVITY_JSON)
    assert "no-store" in headers["Cache-Control"] and "private" in headers["Cache-Control"]
    listed = json.loads(text)
    assert listed["orderedItems"] == [near.actor(1), near.actor(2), near.actor(3)]
    assert listed["totalItems"] == 3 and listed["type"] == "OrderedCollection"

    status, text, _ = run(get_list(scene.sync_url, far))
    assert status == 200 and json.loads(text)["orderedItems"] == [far.actor(1)]
    assert near.base not in text

    # A user of the server, rightly signed, is not the server: it learns nobody. (Another
    # list than above: the peer's users share one key, so the same GET in the same second
    # would be the same signature, a replay.)
    scene.site.store.record_follower("ixchel_tzoc", Follower(
        id=near.actor(2), inbox=f"{near.base}/inbox", shared_inbox=None, since="2026-06-01"))
    status, text, _ = run(get_list(f"{scene.site.base}/ap/followers-sync/ixchel_tzoc", near,
                                   number=5))
    assert status == 403 and "/users/" not in text

    for status, text, _ in (run(get_list(scene.sync_url, None)),  # unsigned
                            run(get_list(scene.sync_url, far, private=near.private))):
        assert status == 401
        assert "/users/" not in text


def test_a_get_signed_with_rfc_9421_is_answered_too(scene: Scene) -> None:
    message = Message("GET", scene.sync_url, {"Accept": ACTIVITY_JSON})
    HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={
            scene.far.key(0): load_pem_private_key(scene.far.private.encode(), None)})
    ).sign(message, key_id=scene.far.key(0), covered_component_ids=("@method", "@target-uri"),
           created=datetime.now(UTC), label="sig1")

    async def get() -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, \
                http.get(scene.sync_url, headers=message.headers) as response:
            return response.status, await response.text()

    status, text = run(get())
    assert status == 200 and json.loads(text)["orderedItems"] == [scene.far.actor(1)]


def test_blocked_askers_and_unknown_actors_get_nothing(scene: Scene) -> None:
    scene.site.store.add_blocks(actors=[scene.far.actor(0)])
    status, text, _ = run(get_list(scene.sync_url, scene.far))
    assert status == 403 and "/users/" not in text
    assert scene.far.actor(0) not in scene.far.looked_up  # its key was not even fetched
    status, _, _ = run(get_list(f"{scene.site.base}/ap/followers-sync/nobody", scene.near))
    assert status == 404


def test_a_blocked_actor_is_refused_whatever_its_key_is_called(scene: Scene) -> None:
    """A key in a document of its own does not carry its owner's name: the owner, known
    once the signature is verified, is checked against the blocks too."""
    scene.far.key_documents = True
    # Another list than the one asked for below: the peer's users share one key, and the
    # same request in the same second would make the same signature (a replay).
    status, text, _ = run(get_list(f"{scene.site.base}/ap/followers-sync/ixchel_tzoc",
                                   scene.far))
    assert status == 200 and json.loads(text)["orderedItems"] == []
    scene.site.store.add_blocks(actors=[scene.far.actor(2)])
    status, text, _ = run(get_list(scene.sync_url, scene.far, number=2))
    assert status == 403 and "/users/" not in text


def test_once_taken_down_the_list_is_gone_like_the_rest(scene: Scene) -> None:
    """Between the take-down's phases the actors are still served; their followers are not."""
    scene.site.store.record_take_down(TakeDown("2026-06-01T00:00:00+00:00").to_dict())
    status, text, _ = run(get_list(scene.sync_url, scene.near))
    assert status == 410 and "/users/" not in text


def test_the_digest_is_fep_8fcfs() -> None:
    # The example in FEP-8fcf's text.
    ids = ["https://testing.example.org/users/1", "https://testing.example.org/users/2"]
    assert followers_digest(ids) == \
        "c33f48cd341ef046a206b8a72ec97af65079f9a3a9b90eef79c5920dce45c61f"
    assert followers_digest([]) == "0" * 64
    assert followers_digest(ids * 2) == followers_digest(ids)
    everyone = [*ids, "https://example.org/users/2", "https://next.example.org/users/foo",
                "https://testing.example.org.evil.net/users/3", "https://testing.example.org"]
    assert partial_followers(everyone, "https://testing.example.org") == sorted(
        ["https://testing.example.org", *ids])
    assert not on_server("http://127.0.0.1:80801/users/1", "http://127.0.0.1:8080")


def test_a_run_reads_each_actors_followers_once() -> None:
    reads: list[str] = []

    def followers_of(actor: str) -> list[str]:
        reads.append(actor)
        return [f"https://s{n % 50}.example/users/{n}" for n in range(1000)]

    digests = FollowerDigests(followers_of)
    started = time.perf_counter()
    found = {digests.digest("stories", f"https://s{n}.example") for n in range(50)}
    for n in range(50):
        digests.digest("stories", f"https://s{n}.example")
    assert reads == ["stories"] and len(found) == 50
    assert time.perf_counter() - started < 5


def test_the_header_names_only_the_followers_on_the_inboxs_server(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    for follower in ("https://a.example/users/1", "https://b.example/users/2"):
        store.record_follower("stories", Follower(follower, f"{follower}/inbox", None, "x"))
    deliverer = Deliverer(store, ApUrls("https://site.example"), None, False, 1, 1, 1)
    digests = FollowerDigests(lambda name: [f.id for f in store.followers(name)])
    value = deliverer.sync_value(digests, "stories", "https://a.example/inbox")
    assert value is not None and hand_digest(["https://a.example/users/1"]) in value
    assert deliverer.sync_value(digests, "stories", "not a url") is None


def test_the_shipped_server_configurations_pass_the_list_to_the_inbox() -> None:
    deploy = ROOT / "deploy"
    nginx = (deploy / "nginx.conf").read_text()
    block = nginx.split("location ^~ /ap/followers-sync/ {", 1)[1].split("}", 1)[0]
    assert "proxy_pass http://127.0.0.1:8010;" in block
    assert "/ap/followers-sync/*" in (deploy / "Caddyfile").read_text().split(
        "reverse_proxy @inbox", 1)[0]


def test_the_production_inbox_serves_the_list_too(site: MiniSite,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`publish.py inbox` (behind nginx or Caddy) answers the route, signed GETs only."""
    assert cli_run("build").exit_code == 0
    apps: list[web.Application] = []
    monkeypatch.setattr(publish, "_run_server", lambda app, *rest: apps.append(app))
    assert cli_run("inbox").exit_code == 0
    with serving(apps[0]) as base:
        status, text, _ = run(get_list(f"{base}/ap/followers-sync/stories", None))
    assert status == 401 and "not signed" in text
