"""The inbox, over loopback, with real signed requests made by bovine's client.

A "peer" server plays the remote side: it serves actors (sharing one test key) and an
inbox that records what it receives and verifies our signatures with bovine.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from bovine.clients.signed_http import SignedHttpClient, legacy_digest_method
from bovine.clients.utils import host_target_from_url
from bovine.crypto import build_validate_http_signature_raw, generate_rsa_public_private_key
from bovine.crypto.helper import content_digest_sha256_rfc_9530
from bovine.crypto.http_signature import build_signature
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret
from click.testing import CliRunner

import publish
from milpa.activitypub import ACTIVITY_JSON
from milpa.state import DataStore

from .conftest import MiniSite, settings_file, story
from .servers import serving

PEER_PUBLIC, PEER_PRIVATE = generate_rsa_public_private_key()
OTHER_PUBLIC, OTHER_PRIVATE = generate_rsa_public_private_key()


@dataclass
class Peer:
    """The remote server: actors /users/N and their inboxes, which record deliveries."""

    base: str = ""
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    aliases: dict[int, list[str]] = field(default_factory=dict)  # alsoKnownAs per actor
    verify: bool = True  # check the signatures of what arrives (the benchmark skips it)
    status: int = 202  # what its inboxes answer
    shared: bool = True  # whether its actors name a shared inbox
    delay: float = 0.0  # seconds its inboxes take to answer
    paths: list[str] = field(default_factory=list)  # which inbox each delivery reached
    without_inbox: set[int] = field(default_factory=set)  # actors whose documents name none

    def actor(self, number: int) -> str:
        return f"{self.base}/users/{number}"

    def key(self, number: int) -> str:
        return f"{self.actor(number)}#main-key"

    def app(self, base: str) -> web.Application:
        self.base = base

        async def actor(request: web.Request) -> web.Response:
            number = int(request.match_info["number"])
            actor_id = f"{base}/users/{number}"
            document = {"@context": "https://www.w3.org/ns/activitystreams", "id": actor_id,
                        "alsoKnownAs": self.aliases.get(number, []),
                        "type": "Person", "preferredUsername": "peer",
                        "inbox": f"{actor_id}/inbox", "outbox": f"{actor_id}/outbox",
                        "endpoints": {"sharedInbox": f"{base}/inbox"} if self.shared else {},
                        "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id,
                                      "publicKeyPem": PEER_PUBLIC}}
            if number in self.without_inbox:
                del document["inbox"]
            return web.json_response(document, content_type=ACTIVITY_JSON)

        async def inbox(request: web.Request) -> web.Response:
            body = await request.read()

            async def fetch_key(key_id: str) -> CryptographicIdentifier | None:
                async with aiohttp.ClientSession() as http, \
                        http.get(key_id.split("#")[0], headers={"Accept": ACTIVITY_JSON}) as r:
                    return CryptographicIdentifier.from_public_key(
                        (await r.json(content_type=None))["publicKey"])

            async def body_bytes() -> bytes:
                return body

            validate = build_validate_http_signature_raw(fetch_key)
            headers = {k.lower(): v for k, v in request.headers.items()}
            owner = await validate("post", request.path, headers, body_bytes) \
                if self.verify else None
            await asyncio.sleep(self.delay)
            self.paths.append(request.path)
            self.received.append((json.loads(body), owner))
            return web.Response(status=self.status)

        app = web.Application()
        app.router.add_get("/users/{number}", actor)
        app.router.add_post("/users/{number}/inbox", inbox)
        app.router.add_post("/inbox", inbox)  # the shared inbox
        return app


@pytest.fixture
def peer() -> Iterator[Peer]:
    remote = Peer()
    with serving(remote.app):
        yield remote


@dataclass
class Site:
    base: str
    store: DataStore

    def inbox(self, name: str = "stories") -> str:
        return f"{self.base}/ap/inboxes/{name}"

    def actor(self, name: str = "stories") -> str:
        return f"{self.base}/ap/actors/{name}"


def site_with_inbox(mini_site: MiniSite, allow_loopback: bool = True) -> Iterator[Site]:
    mini_site.add("stories/a.md", story("Agua", Authors="Ixchel Tzoc", Slug="agua"))

    def app(base: str) -> web.Application:
        return mini_site.served_with_inbox(base, MILPA_INBOX_ALLOW_LOOPBACK=allow_loopback)

    with serving(app) as base:
        yield Site(base, DataStore(mini_site.base / "data"))


@pytest.fixture
def site(mini_site: MiniSite) -> Iterator[Site]:
    yield from site_with_inbox(mini_site)


def follow(peer: Peer, number: int, site: Site, name: str = "stories") -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{peer.actor(number)}/follows/{name}", "type": "Follow",
            "actor": peer.actor(number), "object": site.actor(name)}


async def post_signed(url: str, activity: dict[str, Any], key_id: str,
                      private_key: str = PEER_PRIVATE) -> int:
    async with aiohttp.ClientSession() as http:
        client = SignedHttpClient(http, key_id, private_key)
        response = await client.post(url, json.dumps(activity), content_type=ACTIVITY_JSON)
        async with response:
            return response.status


async def post_crafted(url: str, body: bytes, key_id: str, *, date: str | None = None,
                       signed_body: bytes | None = None, content_type: str = ACTIVITY_JSON,
                       signed_fields: tuple[str, ...] = ("date", "digest"),
                       algorithm: str = "rsa-sha256") -> int:
    """A request signed by hand, to get dates, digests and headers wrong on purpose."""
    host, target = host_target_from_url(url)
    date = date or formatdate(usegmt=True)
    _, digest = legacy_digest_method(signed_body if signed_body is not None else body)
    values = {"date": date, "digest": digest, "content-type": content_type}
    signature = build_signature(host, "post", target)
    for name in signed_fields:
        signature = signature.with_field(name, values[name])
    header = signature.sign_for_http_draft(CryptographicSecret.from_pem(key_id, PEER_PRIVATE))
    header = header.replace('algorithm="rsa-sha256"', f'algorithm="{algorithm}"')
    headers = {"date": date, "digest": digest, "content-type": content_type,
               **signature.headers, "signature": header}
    async with aiohttp.ClientSession() as http, http.post(url, data=body,
                                                          headers=headers) as response:
        return response.status


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def wait_for(condition: Any, seconds: float = 10) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    run(asyncio.wait_for(poll(), seconds))


def test_a_signed_follow_is_recorded_and_accepted(site: Site, peer: Peer) -> None:
    activity = follow(peer, 1, site)
    assert run(post_signed(site.inbox(), activity, peer.key(1))) == 202
    followers = site.store.followers("stories")
    assert [(f.id, f.inbox, f.shared_inbox, f.acct) for f in followers] == [
        (peer.actor(1), f"{peer.actor(1)}/inbox", f"{peer.base}/inbox", "peer@127.0.0.1")]
    wait_for(lambda: peer.received)
    accept, signed_by = peer.received[0]
    assert accept["type"] == "Accept" and accept["actor"] == site.actor()
    assert accept["object"]["id"] == activity["id"]
    assert signed_by == site.actor()  # our signature verified by bovine on the other side
    undo = {"type": "Undo", "id": f"{activity['id']}/undo", "actor": peer.actor(1),
            "object": activity}
    assert run(post_signed(site.inbox(), undo, peer.key(1))) == 202
    assert site.store.follower_count("stories") == 0


def test_the_shared_inbox_and_author_and_territory_actors(site: Site, peer: Peer) -> None:
    assert run(post_signed(f"{site.base}/ap/inbox", follow(peer, 2, site, "sierra_norte"),
                           peer.key(2))) == 202
    assert run(post_signed(site.inbox("ixchel_tzoc"), follow(peer, 3, site, "ixchel_tzoc"),
                           peer.key(3))) == 202
    assert site.store.follower_count("sierra_norte") == 1
    assert site.store.follower_count("ixchel_tzoc") == 1
    # Each Accept is signed by the actor that accepts: Mastodon matches signer and actor.
    wait_for(lambda: len(peer.received) == 2)
    assert sorted(signed_by for _, signed_by in peer.received) == [
        site.actor("ixchel_tzoc"), site.actor("sierra_norte")]
    assert run(post_signed(site.inbox("nobody"), follow(peer, 4, site), peer.key(4))) == 404
    missing = follow(peer, 5, site, "nobody")
    assert run(post_signed(f"{site.base}/ap/inbox", missing, peer.key(5))) == 404


@pytest.mark.parametrize("attack", ["unsigned", "forged", "wrong owner", "stale date",
                                    "digest mismatch", "host not signed", "digest not signed"])
def test_bad_signatures_are_refused_and_nothing_is_recorded(
        site: Site, peer: Peer, attack: str, caplog: pytest.LogCaptureFixture) -> None:
    activity = follow(peer, 6, site)
    body = json.dumps(activity).encode()
    if attack == "unsigned":
        async def send() -> int:
            async with aiohttp.ClientSession() as http, http.post(
                    site.inbox(), data=body, headers={"content-type": ACTIVITY_JSON}) as r:
                return r.status
        status = run(send())
    elif attack == "forged":
        status = run(post_signed(site.inbox(), activity, peer.key(6), OTHER_PRIVATE))
    elif attack == "wrong owner":  # signed by actor 7 for an activity claiming actor 6
        status = run(post_signed(site.inbox(), activity, peer.key(7)))
    elif attack == "stale date":
        status = run(post_crafted(site.inbox(), body, peer.key(6),
                                  date=formatdate(usegmt=True, timeval=1_700_000_000)))
    elif attack == "digest mismatch":
        status = run(post_crafted(site.inbox(), body, peer.key(6), signed_body=b"{}"))
    elif attack == "host not signed":
        status = run(post_crafted_without_host(site.inbox(), body, peer.key(6)))
    else:
        status = run(post_crafted(site.inbox(), body, peer.key(6), signed_fields=("date",)))
    assert status == 401
    assert site.store.follower_count("stories") == 0
    # Logged by the server's thread, which may still be finishing the request.
    wait_for(lambda: any("inbox: refused" in r.getMessage() for r in caplog.records), 5)


async def post_crafted_without_host(url: str, body: bytes, key_id: str) -> int:
    host, target = host_target_from_url(url)
    date = formatdate(usegmt=True)
    _, digest = legacy_digest_method(body)
    signature = build_signature(host, "post", target).with_field("date", date) \
        .with_field("digest", digest)
    signature.fields = [f for f in signature.fields if f[0] != "host"]
    header = signature.sign_for_http_draft(CryptographicSecret.from_pem(key_id, PEER_PRIVATE))
    headers = {"date": date, "digest": digest, "content-type": ACTIVITY_JSON,
               "signature": header}
    async with aiohttp.ClientSession() as http, http.post(url, data=body,
                                                          headers=headers) as response:
        return response.status


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"x" * (300 * 1024), ACTIVITY_JSON, 413),
    (b"{not json", ACTIVITY_JSON, 400),
    (b"[1, 2]", ACTIVITY_JSON, 400),
    (("[" * 40 + "]" * 40).encode(), ACTIVITY_JSON, 400),
    (b'{"type": "Follow"}', ACTIVITY_JSON, 400),
    (b'{"type": "Follow", "actor": "x"}', "text/plain", 415),
])
def test_malformed_requests_get_a_4xx(site: Site, peer: Peer, body: bytes, content_type: str,
                                      status: int) -> None:
    assert run(post_crafted(site.inbox(), body, peer.key(8), content_type=content_type)) \
        == status
    assert site.store.follower_count("stories") == 0


def test_keys_on_private_addresses_are_not_fetched_in_production(
        mini_site: MiniSite, peer: Peer, caplog: pytest.LogCaptureFixture) -> None:
    for guarded in site_with_inbox(mini_site, allow_loopback=False):
        assert run(post_signed(guarded.inbox(), follow(peer, 9, guarded), peer.key(9))) == 401
        assert guarded.store.follower_count("stories") == 0
    assert any("non-public address" in r.getMessage() for r in caplog.records)


def test_two_hundred_concurrent_follows_are_all_recorded(site: Site, peer: Peer) -> None:
    async def flood() -> list[int]:
        async with aiohttp.ClientSession() as http:
            async def one(number: int) -> int:
                client = SignedHttpClient(http, peer.key(number), PEER_PRIVATE)
                response = await client.post(site.inbox(), json.dumps(
                    follow(peer, number, site)), content_type=ACTIVITY_JSON)
                async with response:
                    return response.status
            return await asyncio.gather(*(one(n) for n in range(100, 300)))

    assert run(flood()) == [202] * 200
    assert site.store.follower_count("stories") == 200
    wait_for(lambda: len(peer.received) == 200, 30)
    assert all(signed_by == site.actor() for _, signed_by in peer.received)


def test_the_build_counts_followers_from_the_inbox_files(site: Site, peer: Peer,
                                                           mini_site: MiniSite) -> None:
    run(post_signed(site.inbox(), follow(peer, 10, site), peer.key(10)))
    wait_for(lambda: peer.received)  # the Accept, before the servers stop
    mini_site.build(SITEURL=site.base)
    followers = json.loads((mini_site.output / "ap/followers/stories").read_text())
    assert followers["totalItems"] == 1


def test_data_folder_files_are_plain_json(site: Site, peer: Peer, mini_site: MiniSite) -> None:
    run(post_signed(site.inbox(), follow(peer, 11, site), peer.key(11)))
    wait_for(lambda: peer.received)  # the Accept, before the servers stop
    files = list(Path(mini_site.base / "data/followers/stories").glob("*.json"))
    assert [json.loads(p.read_text())["id"] for p in files] == [peer.actor(11)]


def test_an_actor_deleting_itself_leaves_every_list(site: Site, peer: Peer) -> None:
    for name in ("stories", "sierra_norte"):
        assert run(post_signed(site.inbox(name), follow(peer, 12, site, name),
                               peer.key(12))) == 202
    delete = {"type": "Delete", "id": f"{peer.actor(12)}#delete", "actor": peer.actor(12),
              "object": peer.actor(12)}
    assert run(post_signed(f"{site.base}/ap/inbox", delete, peer.key(12))) == 202
    assert site.store.actors_followed_by(peer.actor(12)) == []
    wait_for(lambda: len(peer.received) == 2)  # the Accepts, before the servers stop


def test_a_move_replaces_the_follower_when_the_target_names_the_old_account(
        site: Site, peer: Peer) -> None:
    assert run(post_signed(site.inbox(), follow(peer, 13, site), peer.key(13))) == 202
    peer.aliases[14] = [peer.actor(13)]  # actor 14 says it is also actor 13
    move = {"type": "Move", "id": f"{peer.actor(13)}#move", "actor": peer.actor(13),
            "object": peer.actor(13), "target": peer.actor(14)}
    assert run(post_signed(site.inbox(), move, peer.key(13))) == 202
    assert [f.id for f in site.store.followers("stories")] == [peer.actor(14)]
    sneaky = {**move, "id": f"{peer.actor(14)}#move", "actor": peer.actor(14),
              "object": peer.actor(14), "target": peer.actor(15)}  # 15 names nobody
    assert run(post_signed(site.inbox(), sneaky, peer.key(14))) == 400
    assert [f.id for f in site.store.followers("stories")] == [peer.actor(14)]
    wait_for(lambda: len(peer.received) == 1)  # the Accept, before the servers stop


def test_blocked_servers_are_refused_before_anything_is_stored(site: Site, peer: Peer) -> None:
    assert run(post_signed(site.inbox(), follow(peer, 16, site), peer.key(16))) == 202
    site.store.add_blocks(domains=["127.0.0.1"])
    assert site.store.follower_count("stories") == 0  # blocking removed the follow
    assert run(post_signed(site.inbox(), follow(peer, 17, site), peer.key(17))) == 403
    assert site.store.follower_count("stories") == 0
    wait_for(lambda: len(peer.received) == 1)  # the first Accept, before the servers stop


def test_a_follower_whose_document_names_no_inbox_is_refused(site: Site, peer: Peer) -> None:
    peer.without_inbox.add(20)
    assert run(post_signed(site.inbox(), follow(peer, 20, site), peer.key(20))) == 400
    assert site.store.follower_count("stories") == 0


def test_hs2019_and_rfc9530_content_digest_are_accepted(site: Site, peer: Peer) -> None:
    body = json.dumps(follow(peer, 18, site)).encode()
    assert run(post_crafted(site.inbox(), body, peer.key(18), algorithm="hs2019")) == 202

    async def with_content_digest() -> int:
        async with aiohttp.ClientSession() as http:
            client = SignedHttpClient(http, peer.key(19), PEER_PRIVATE,
                                      digest_method=content_digest_sha256_rfc_9530)
            response = await client.post(site.inbox(), json.dumps(follow(peer, 19, site)),
                                         content_type=ACTIVITY_JSON)
            async with response:
                return response.status

    assert run(with_content_digest()) == 202
    assert site.store.follower_count("stories") == 2
    wait_for(lambda: len(peer.received) == 2)  # the Accepts, before the servers stop


def reply_note(peer: Peer, number: int, site: Site, text: str, story: str = "es/agua"
               ) -> dict[str, Any]:
    return {"id": f"{peer.actor(number)}/notes/1", "type": "Note",
            "attributedTo": peer.actor(number), "inReplyTo": f"{site.base}/ap/objects/{story}",
            "content": text, "published": "2026-06-01T10:00:00Z",
            "url": f"{peer.base}/@peer/1"}


def test_replies_are_held_updated_and_deleted(site: Site, peer: Peer) -> None:
    note = reply_note(peer, 20, site, "<p>Maltyox!</p>")
    create = {"type": "Create", "id": f"{note['id']}/create", "actor": peer.actor(20),
              "object": note}
    assert run(post_signed(site.inbox(), create, peer.key(20))) == 202
    [held] = site.store.replies("es/agua")
    assert (held.status, held.content, held.author_handle) == (
        "held", "<p>Maltyox!</p>", f"@peer@{peer.base.removeprefix('http://')}")
    site.store.save_reply(replace(held, status="approved"))
    update = {**create, "type": "Update", "object": {**note, "content": "<p>Edited</p>"}}
    assert run(post_signed(site.inbox(), update, peer.key(20))) == 202
    [edited] = site.store.replies("es/agua")
    assert (edited.status, edited.content) == ("held", "<p>Edited</p>")  # seen again
    stranger = {**create, "actor": peer.actor(21)}  # a Create of someone else's note
    assert run(post_signed(site.inbox(), stranger, peer.key(21))) == 202
    elsewhere = {**create, "object": reply_note(peer, 20, site, "x", "es/nothing")}
    assert run(post_signed(site.inbox(), elsewhere, peer.key(20))) == 202
    assert len(site.store.replies()) == 1
    delete = {"type": "Delete", "id": f"{note['id']}/delete", "actor": peer.actor(20),
              "object": {"id": note["id"], "type": "Tombstone"}}
    assert run(post_signed(site.inbox(), delete, peer.key(20))) == 202
    assert site.store.replies() == []


def test_likes_and_boosts_are_counted_once_and_undone(site: Site, peer: Peer) -> None:
    story = f"{site.base}/ap/objects/es/agua"
    # The same actor liking twice (two activities: an identical request is a replay).
    for count, (number, kind) in enumerate(((22, "Like"), (22, "Like"), (23, "Like"),
                                            (22, "Announce"))):
        activity = {"type": kind, "id": f"{peer.actor(number)}/{kind}/{count}", "object": story,
                    "actor": peer.actor(number)}
        assert run(post_signed(site.inbox(), activity, peer.key(number))) == 202
    assert site.store.reaction_count("likes", "es/agua") == 2
    assert site.store.reaction_count("boosts", "es/agua") == 1
    undo = {"type": "Undo", "id": f"{peer.actor(23)}/undo", "actor": peer.actor(23),
            "object": {"type": "Like", "actor": peer.actor(23), "object": story}}
    assert run(post_signed(site.inbox(), undo, peer.key(23))) == 202
    assert site.store.reaction_count("likes", "es/agua") == 1


def test_with_manual_approval_follows_wait_for_an_editor(
        mini_site: MiniSite, peer: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))

    def app(base: str) -> web.Application:
        return mini_site.served_with_inbox(base, MILPA_MANUALLY_APPROVES_FOLLOWERS=True)

    with serving(app) as base:
        site = Site(base, DataStore(mini_site.base / "data"))
        actor = json.loads((mini_site.output / "ap/actors/stories").read_text())
        assert actor["manuallyApprovesFollowers"] is True
        for number in (30, 31):
            assert run(post_signed(site.inbox(), follow(peer, number, site),
                                   peer.key(number))) == 202
        assert site.store.follower_count("stories") == 0 and peer.received == []
        requests = {r.follower.id: site.store.request_short_id(r)
                    for r in site.store.follow_requests()}
        (mini_site.base / "pelicanconf.py").write_text(settings_file(
            PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output), SITEURL=base,
            MILPA_DATA_PATH=str(mini_site.base / "data"), MILPA_INBOX_ALLOW_LOOPBACK=True))
        monkeypatch.chdir(mini_site.base)
        monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
        result = CliRunner().invoke(publish.cli, [
            "moderate", "--approve", requests[peer.actor(30)],
            "--reject", requests[peer.actor(31)]], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        wait_for(lambda: len(peer.received) == 2)
    assert [f.id for f in site.store.followers("stories")] == [peer.actor(30)]
    assert site.store.follow_requests() == []
    answers = {activity["object"]["actor"]: (activity["type"], signed_by)
               for activity, signed_by in peer.received}
    assert answers == {peer.actor(30): ("Accept", site.actor()),
                       peer.actor(31): ("Reject", site.actor())}
