"""Who may speak for whom: the inbox's identity and signature rules, attacked over loopback.

Every request here is really signed (bovine's draft-cavage signer, or
http-message-signatures for RFC 9421) and really sent to the site's inbox. Remote servers
are small document servers on 127.0.0.1: a victim, an attacker, peers that publish their
keys in separate key documents or sign with RFC 9421.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from bovine.clients.signed_http import legacy_digest_method
from bovine.crypto import generate_rsa_public_private_key
from bovine.crypto.helper import content_digest_sha256_rfc_9530
from bovine.crypto.http_signature import build_signature
from bovine.crypto.types import CryptographicSecret
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from multidict import CIMultiDict, CIMultiDictProxy

from milpa.activitypub import ACTIVITY_JSON
from milpa.signing import Signer
from milpa.state import DataStore
from milpa_delivery.remote import RemoteActors
from milpa_inbox.keys import KeyOwners
from milpa_inbox.server import runner
from milpa_inbox.signatures import ReplayCache, SignedRequest, Verifier

from .conftest import MiniSite, story
from .servers import serving
from .test_inbox import Site, run

VICTIM_PUBLIC, VICTIM_PRIVATE = generate_rsa_public_private_key()
ATTACKER_PUBLIC, ATTACKER_PRIVATE = generate_rsa_public_private_key()
NEW_PUBLIC, NEW_PRIVATE = generate_rsa_public_private_key()


@dataclass
class Documents:
    """A remote server: documents by path (JSON), and an inbox that takes anything."""

    base: str = ""
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def actor(self, path: str, key_id: str | None = None, public: str | None = VICTIM_PUBLIC,
              **extra: Any) -> str:
        """Publish an actor at ``path`` with one key (in it, or only named by id)."""
        actor_id = self.url(path)
        key: dict[str, Any] = {"id": key_id or f"{actor_id}#main-key", "owner": actor_id}
        if public is not None:
            key["publicKeyPem"] = public
        self.documents[path] = {
            "@context": "https://www.w3.org/ns/activitystreams", "id": actor_id,
            "type": "Person", "preferredUsername": path.rsplit("/", 1)[-1],
            "inbox": f"{actor_id}/inbox", "publicKey": key, **extra}
        return actor_id

    def app(self, base: str) -> web.Application:
        self.base = base

        async def document(request: web.Request) -> web.Response:
            self.fetched[request.path] += 1
            if request.path not in self.documents:
                raise web.HTTPNotFound()
            return web.json_response(self.documents[request.path], content_type=ACTIVITY_JSON)

        async def inbox(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/{path:.*}/inbox", inbox)
        app.router.add_get("/{path:.*}", document)
        return app


@pytest.fixture
def victim() -> Iterator[Documents]:
    server = Documents()
    with serving(server.app):
        yield server


@pytest.fixture
def attacker() -> Iterator[Documents]:
    server = Documents()
    with serving(server.app):
        yield server


def site_serving(mini_site: MiniSite, **settings: Any) -> Iterator[Site]:
    mini_site.add("stories/a.md", story("Agua", Authors="Ixchel Tzoc", Slug="agua"))
    with serving(lambda base: mini_site.served_with_inbox(base, **settings)) as base:
        yield Site(base, DataStore(mini_site.base / "data"))


@pytest.fixture
def site(mini_site: MiniSite, victim: Documents, attacker: Documents) -> Iterator[Site]:
    # After the remote servers, so it stops first: no Accept is on its way when they stop.
    yield from site_serving(mini_site)


def cavage(url: str, body: bytes, key_id: str, private: str, *, host: str | None = None,
           target: str | None = None, digest: str = "digest",
           date: str | None = None) -> dict[str, str]:
    """Headers of a draft-cavage signature, made as bovine makes them, for ``url`` (or for
    another ``host`` and ``target``, to replay elsewhere)."""
    parts = urlsplit(url)
    host = host or parts.netloc
    target = target or parts.path + (f"?{parts.query}" if parts.query else "")
    date = date or formatdate(usegmt=True)
    name, value = (legacy_digest_method if digest == "digest"
                   else content_digest_sha256_rfc_9530)(body)
    signature = build_signature(host, "post", target).with_field("date", date) \
        .with_field(name, value)
    header = signature.sign_for_http_draft(CryptographicSecret.from_pem(key_id, private))
    return {"date": date, name: value, "content-type": ACTIVITY_JSON, "signature": header}


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body,
                                                          headers=headers) as response:
        return response.status


def send(url: str, activity: dict[str, Any], key_id: str, private: str = VICTIM_PRIVATE,
         **options: Any) -> int:
    body = json.dumps(activity).encode()
    return run(post(url, body, cavage(url, body, key_id, private, **options)))


@dataclass
class Message:
    """A request as http-message-signatures signs it."""

    method: str
    url: str
    headers: dict[str, str]


def rfc9421(url: str, body: bytes, key_id: str, private: str,
            components: tuple[str, ...] = ("@method", "@target-uri", "content-digest"),
            created: datetime | None = None) -> dict[str, str]:
    """Headers of an RFC 9421 signature (rsa-v1_5-sha256, as Mastodon signs)."""
    message = Message("POST", url, {"Content-Type": ACTIVITY_JSON,
                                    "Date": formatdate(usegmt=True)})
    _, value = content_digest_sha256_rfc_9530(body)
    message.headers["Content-Digest"] = value
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={
            key_id: load_pem_private_key(private.encode(), None)}))
    signer.sign(message, key_id=key_id, covered_component_ids=components,
                created=created or datetime.now(UTC), label="sig1", use_existing_digest=True)
    return message.headers


def follow(actor: str, site: Site, number: int = 1) -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "type": "Follow",
            "id": f"{actor}/follows/{number}", "actor": actor, "object": site.actor()}


def reply(actor: str, site: Site, text: str) -> dict[str, Any]:
    return {"id": f"{actor}/notes/1", "type": "Note", "attributedTo": actor,
            "inReplyTo": f"{site.base}/ap/objects/es/agua", "content": text,
            "published": "2026-06-01T10:00:00Z"}


@dataclass
class Scene:
    """The victim follows the site and has an approved reply; the attacker is ready."""

    site: Site
    victim: Documents
    attacker: Documents
    actor: str  # the victim's actor id


@pytest.fixture
def scene(site: Site, victim: Documents, attacker: Documents) -> Scene:
    actor = victim.actor("/users/ana")
    assert send(site.inbox(), follow(actor, site), f"{actor}#main-key") == 202
    create = {"type": "Create", "id": f"{actor}/create/1", "actor": actor,
              "object": reply(actor, site, "<p>Ana's words</p>")}
    assert send(site.inbox(), create, f"{actor}#main-key") == 202
    [held] = site.store.replies()
    site.store.save_reply(replace(held, status="approved"))
    return Scene(site, victim, attacker, actor)


def state(site: Site) -> tuple[Any, ...]:
    return ([(f.id, f.inbox) for f in site.store.followers("stories")],
            [(r.id, r.content, r.status) for r in site.store.replies()],
            site.store.reaction_count("likes", "es/agua"))


def forgeries(scene: Scene) -> dict[str, dict[str, Any]]:
    actor, site = scene.actor, scene.site
    moved_to = scene.attacker.actor("/users/mallory", alsoKnownAs=[actor],
                                    public=ATTACKER_PUBLIC)
    return {
        "update": {"type": "Update", "id": f"{actor}/update/666", "actor": actor,
                   "object": reply(actor, site, "<p>words Ana never wrote</p>")},
        "reply": {"type": "Create", "id": f"{actor}/create/666", "actor": actor,
                  "object": {**reply(actor, site, "<p>a new lie</p>"), "id": f"{actor}/n/2"}},
        "move": {"type": "Move", "id": f"{actor}/move/666", "actor": actor, "object": actor,
                 "target": moved_to},
        "delete": {"type": "Delete", "id": f"{actor}#delete", "actor": actor,
                   "object": actor},
        "like": {"type": "Like", "id": f"{actor}/like/666", "actor": actor,
                 "object": f"{site.base}/ap/objects/es/agua"},
    }


@pytest.mark.parametrize("forgery", ["update", "reply", "move", "delete", "like"])
def test_a_key_document_claiming_the_victims_id_speaks_for_nobody(
        scene: Scene, forgery: str) -> None:
    before = state(scene.site)
    # Served from the attacker's host, naming the victim as itself and as the key's owner.
    key_id = scene.attacker.url("/keys/ana")
    scene.attacker.documents["/keys/ana"] = {
        "id": scene.actor, "type": "Person", "inbox": f"{scene.actor}/inbox",
        "publicKey": {"id": key_id, "owner": scene.actor, "publicKeyPem": ATTACKER_PUBLIC}}
    activity = forgeries(scene)[forgery]
    assert send(scene.site.inbox(), activity, key_id, ATTACKER_PRIVATE) == 401
    assert state(scene.site) == before


@pytest.mark.parametrize("forgery", ["update", "reply", "move", "delete", "like"])
def test_a_key_document_naming_the_victim_as_owner_speaks_for_nobody(
        scene: Scene, forgery: str) -> None:
    before = state(scene.site)
    key_id = scene.attacker.url("/keys/ana")  # its own id, but an owner elsewhere
    scene.attacker.documents["/keys/ana"] = {"id": key_id, "owner": scene.actor,
                                             "publicKeyPem": ATTACKER_PUBLIC}
    assert send(scene.site.inbox(), forgeries(scene)[forgery], key_id,
                ATTACKER_PRIVATE) == 401
    assert state(scene.site) == before


def test_an_actor_listing_a_key_on_another_origin_is_not_believed(
        site: Site, victim: Documents, attacker: Documents) -> None:
    # The actor and the key document agree with each other, but live on two origins:
    # whoever runs the key's server could speak for the actor.
    key_id = attacker.url("/keys/ana")
    actor = victim.actor("/users/ana", key_id=key_id, public=None)
    attacker.documents["/keys/ana"] = {"id": key_id, "owner": actor,
                                       "publicKeyPem": ATTACKER_PUBLIC}
    assert send(site.inbox(), follow(actor, site), key_id, ATTACKER_PRIVATE) == 401
    assert site.store.follower_count("stories") == 0


def test_a_key_document_with_an_owner_that_lists_it_is_accepted(
        site: Site, victim: Documents) -> None:
    key_id = victim.url("/users/gts/main-key")  # GoToSocial's shape: the key has its own URL
    actor = victim.actor("/users/gts", key_id=key_id, public=None)
    victim.documents["/users/gts/main-key"] = {"id": key_id, "owner": actor,
                                               "publicKeyPem": VICTIM_PUBLIC}
    assert send(site.inbox(), follow(actor, site), key_id) == 202
    assert [f.id for f in site.store.followers("stories")] == [actor]


def test_a_key_document_whose_owner_does_not_list_it_is_refused(
        site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")  # lists #main-key, not the key below
    key_id = victim.url("/keys/stray")
    victim.documents["/keys/stray"] = {"id": key_id, "owner": actor,
                                       "publicKeyPem": ATTACKER_PUBLIC}
    assert send(site.inbox(), follow(actor, site), key_id, ATTACKER_PRIVATE) == 401
    assert site.store.follower_count("stories") == 0


def test_a_move_target_must_speak_for_itself(scene: Scene) -> None:
    # The target's document is served by the attacker but claims to be another account
    # that names the victim in alsoKnownAs: it is not believed.
    elsewhere = scene.victim.url("/users/ana2")
    scene.attacker.documents["/users/fake"] = {
        "id": elsewhere, "type": "Person", "inbox": f"{elsewhere}/inbox",
        "alsoKnownAs": [scene.actor]}
    move = {"type": "Move", "id": f"{scene.actor}/move/1", "actor": scene.actor,
            "object": scene.actor, "target": scene.attacker.url("/users/fake")}
    before = state(scene.site)
    assert send(scene.site.inbox(), move, f"{scene.actor}#main-key") == 400
    broken = {**move, "id": f"{scene.actor}/move/2", "target": "http://[::1"}
    assert send(scene.site.inbox(), broken, f"{scene.actor}#main-key") == 400
    assert state(scene.site) == before


def test_what_an_activity_does_to_an_object_only_its_author_may_do(scene: Scene) -> None:
    """Correctly signed by someone else: nothing happens to Ana's follow or reply."""
    site, ana = scene.site, scene.actor
    ben = scene.victim.actor("/users/ben")
    note = reply(ana, site, "<p>Ben's version</p>")
    before = state(site)
    attempts = [
        {"type": "Update", "id": f"{ben}/u", "actor": ben, "object": note},
        {"type": "Delete", "id": f"{ben}/d", "actor": ben, "object": note["id"]},
        {"type": "Delete", "id": f"{ben}/d2", "actor": ben, "object": ana},
        {"type": "Undo", "id": f"{ben}/undo", "actor": ben, "object": follow(ana, site)},
        {"type": "Undo", "id": f"{ben}/undo2", "actor": ben,
         "object": {**follow(ana, site), "actor": ben}},
    ]
    for activity in attempts:
        assert send(site.inbox(), activity, f"{ben}#main-key") == 202
    move = {"type": "Move", "id": f"{ben}/m", "actor": ben, "object": ana, "target": ben}
    assert send(site.inbox(), move, f"{ben}#main-key") == 400
    assert state(site) == before


def test_a_replay_with_a_new_body_and_an_unsigned_digest_is_refused(
        site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    signed_body = json.dumps(follow(actor, site)).encode()
    headers = cavage(site.inbox(), signed_body, f"{actor}#main-key", VICTIM_PRIVATE,
                     digest="content-digest")
    other = json.dumps({**follow(actor, site), "id": f"{actor}/follows/evil"}).encode()
    _, fresh_digest = legacy_digest_method(other)
    assert run(post(site.inbox(), other, {**headers, "digest": fresh_digest})) == 401
    assert site.store.follower_count("stories") == 0
    assert run(post(site.inbox(), signed_body, headers)) == 202  # as signed, it is fine


def test_a_request_signed_for_another_host_is_refused(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    headers = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE,
                     host="third.example")
    assert run(post(site.inbox(), body, {**headers, "host": "third.example"})) == 401
    assert site.store.follower_count("stories") == 0


def test_behind_a_proxy_the_public_host_is_ours(mini_site: MiniSite, victim: Documents) -> None:
    for site in site_serving(mini_site, MILPA_INBOX_HOSTS=("milpa.example",)):
        actor = victim.actor("/users/ana")
        body = json.dumps(follow(actor, site)).encode()
        headers = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE,
                         host="milpa.example")
        assert run(post(site.inbox(), body, {**headers, "host": "milpa.example"})) == 202


def test_an_unparseable_key_id_is_a_401(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    assert send(site.inbox(), follow(actor, site), "http://[::1#main-key") == 401


def test_the_same_signature_is_accepted_once(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    headers = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE)
    assert run(post(site.inbox(), body, headers)) == 202
    site.store.remove_follower("stories", actor)
    assert run(post(site.inbox(), body, headers)) == 409
    assert site.store.follower_count("stories") == 0


def test_the_replay_cache_is_bounded_in_size_and_time() -> None:
    by_size = ReplayCache(size=2)
    assert [by_size.first_time(value) for value in "abca"] == [True, True, True, True]
    assert by_size.first_time("c") is False  # "a" went to make room; "c" is still held
    by_time = ReplayCache(seconds=-1)  # every entry is already past the window
    assert by_time.first_time("a") and by_time.first_time("a")


def test_the_query_string_is_part_of_the_signed_target(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    unsigned_query = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE)
    assert run(post(f"{site.inbox()}?via=elsewhere", body, unsigned_query)) == 401
    assert site.store.follower_count("stories") == 0
    signed_query = cavage(f"{site.inbox()}?via=here", body, f"{actor}#main-key",
                          VICTIM_PRIVATE)
    assert run(post(f"{site.inbox()}?via=here", body, signed_query)) == 202


@pytest.mark.parametrize("components", [("@method", "@target-uri", "content-digest", "date"),
                                        ("@method", "@path", "@authority", "content-digest")])
def test_rfc9421_signatures_verify(site: Site, victim: Documents,
                                   components: tuple[str, ...]) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    headers = rfc9421(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE, components)
    assert run(post(site.inbox(), body, headers)) == 202
    assert [f.id for f in site.store.followers("stories")] == [actor]


@pytest.mark.parametrize("attack", ["no digest", "no target", "stale", "forged", "new body"])
def test_rfc9421_signatures_that_cover_too_little_are_refused(
        site: Site, victim: Documents, attack: str) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    components = {"no digest": ("@method", "@target-uri"),
                  "no target": ("@method", "content-digest")}.get(
        attack, ("@method", "@target-uri", "content-digest"))
    created = datetime.fromtimestamp(1_700_000_000, UTC) if attack == "stale" else None
    private = ATTACKER_PRIVATE if attack == "forged" else VICTIM_PRIVATE
    headers = rfc9421(site.inbox(), body, f"{actor}#main-key", private, components, created)
    sent = body.replace(b"follows/1", b"follows/2") if attack == "new body" else body
    assert run(post(site.inbox(), sent, headers)) == 401
    assert site.store.follower_count("stories") == 0


def test_a_rotated_key_is_fetched_again_once(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    like = {"type": "Like", "actor": actor, "object": f"{site.base}/ap/objects/es/agua"}
    for number in (1, 2, 3):  # repeat senders cost no fetch of their key
        assert send(site.inbox(), {**like, "id": f"{actor}/likes/{number}"},
                    f"{actor}#main-key") == 202
    assert victim.fetched["/users/ana"] == 1
    victim.actor("/users/ana", public=NEW_PUBLIC)  # the actor rotates its key
    assert send(site.inbox(), {**like, "id": f"{actor}/likes/4"}, f"{actor}#main-key",
                NEW_PRIVATE) == 202
    assert victim.fetched["/users/ana"] == 2
    # A signature that fails with a fresh key costs one more fetch, never a loop.
    assert send(site.inbox(), {**like, "id": f"{actor}/likes/5"}, f"{actor}#main-key",
                ATTACKER_PRIVATE) == 401
    assert victim.fetched["/users/ana"] == 3


def test_verified_keys_are_kept_when_documents_are_forgotten(victim: Documents) -> None:
    """Repeat senders cost no fetch, even after the document cache has moved on."""
    senders = [victim.actor("/users/ana"), victim.actor("/users/ben")]
    inbox = "http://milpa.example/ap/inbox"

    async def three_rounds() -> None:
        # The cache holds one document: the senders alternate.
        async with RemoteActors(Signer(f"{inbox}#key", VICTIM_PRIVATE), True,
                                cache_size=1) as remote:
            verifier = Verifier(KeyOwners(remote), frozenset({"milpa.example"}))
            for number in range(3):
                for actor in senders:
                    body = json.dumps({"id": f"{actor}/likes/{number}"}).encode()
                    headers = {**cavage(inbox, body, f"{actor}#main-key", VICTIM_PRIVATE),
                               "host": "milpa.example"}
                    signed = SignedRequest(inbox, "/ap/inbox",
                                           CIMultiDictProxy(CIMultiDict(headers)), body)
                    assert await verifier.owner(signed) == actor

    run(three_rounds())
    assert victim.fetched == {"/users/ana": 1, "/users/ben": 1}


async def in_two_writes(base: str, path: str, headers: dict[str, str], body: bytes,
                        pause: float = 0.3) -> bytes:
    """A POST whose body arrives in two TCP segments, some time apart; the raw answer."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    reader, writer = await asyncio.open_connection(host, port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n{head}"
                 f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                 + body[:len(body) // 2])
    await writer.drain()
    await asyncio.sleep(pause)
    writer.write(body[len(body) // 2:])
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def test_a_body_in_two_tcp_writes_is_read_whole(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    headers = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE)
    headers.pop("host", None)
    answer = run(in_two_writes(site.base, "/ap/inboxes/stories", headers, body))
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
    assert site.store.follower_count("stories") == 1


def test_a_200_kb_chunked_body_is_read_whole(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps({**follow(actor, site), "padding": "x" * 200_000}).encode()
    headers = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7_000):
            yield body[start:start + 7_000]

    assert run(post(site.inbox(), chunks(), headers)) == 202  # type: ignore[arg-type]
    assert site.store.follower_count("stories") == 1


def test_a_chunked_body_over_the_limit_is_refused(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps({**follow(actor, site), "padding": "x" * 300_000}).encode()
    headers = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 50_000):
            yield body[start:start + 50_000]

    assert run(post(site.inbox(), chunks(), headers)) == 413  # type: ignore[arg-type]


def test_a_body_that_never_ends_times_out(mini_site: MiniSite, victim: Documents) -> None:
    for site in site_serving(mini_site, MILPA_INBOX_BODY_TIMEOUT=0.5):
        actor = victim.actor("/users/ana")
        body = json.dumps(follow(actor, site)).encode()
        headers = cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE)
        headers.pop("host", None)
        answer = run(in_two_writes(site.base, "/ap/inboxes/stories", headers, body, 3))
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


@pytest.mark.parametrize(("path", "content_type", "body", "status"), [
    ("/ap/inboxes/stories", ACTIVITY_JSON, b"[" * 100_000 + b"]" * 100_000, 400),
    ("/ap/inboxes/" + "a" * 300, ACTIVITY_JSON, b"{}", 404),
    ("/ap/inboxes/stories", "application/activity+jsonEVIL", b"{}", 415),
    ("/ap/inboxes/stories", "application/ld+json", b"{}", 415),  # without the AS profile
    ("/ap/inboxes/stories", "application/json", b"{}", 415),
])
def test_hostile_inputs_get_a_4xx(site: Site, victim: Documents, path: str,
                                  content_type: str, body: bytes, status: int) -> None:
    actor = victim.actor("/users/ana")
    if body == b"{}":
        body = json.dumps(follow(actor, site)).encode()
    headers = {**cavage(site.base + path, body, f"{actor}#main-key", VICTIM_PRIVATE),
               "content-type": content_type}
    assert run(post(site.base + path, body, headers)) == status
    assert site.store.follower_count("stories") == 0


def test_an_activity_streams_ld_json_body_is_accepted(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    headers = {**cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE),
               "content-type": 'application/ld+json; '
                               'profile="https://www.w3.org/ns/activitystreams"'}
    assert run(post(site.inbox(), body, headers)) == 202


@pytest.mark.parametrize("signature_input", [
    'sig1=("@method");keyid="x"', "garbage", 'sig1=();created=abc', "a=1, b=2", "",
    'sig1=("@method" "@target-uri" "content-digest");keyid="http://[::1"',
    'sig1=("@method" "@target-uri" "content-digest");keyid="http://[::1#main-key"',
])
def test_odd_signature_input_headers_are_401(site: Site, victim: Documents,
                                             signature_input: str) -> None:
    actor = victim.actor("/users/ana")
    body = json.dumps(follow(actor, site)).encode()
    headers = {**cavage(site.inbox(), body, f"{actor}#main-key", VICTIM_PRIVATE),
               "signature-input": signature_input}
    assert run(post(site.inbox(), body, headers)) == 401


@pytest.mark.parametrize("in_reply_to", ["/../../../etc/passwd", "/es/..", "//etc/passwd",
                                         "/es/agua\x00", "/es/" + "a" * 300, "/ñ/ü"])
def test_replies_to_paths_outside_the_stories_are_ignored(
        site: Site, victim: Documents, in_reply_to: str) -> None:
    actor = victim.actor("/users/ana")
    note = {**reply(actor, site, "x"), "inReplyTo": f"{site.base}/ap/objects{in_reply_to}"}
    create = {"type": "Create", "id": f"{actor}/create/1", "actor": actor, "object": note}
    assert send(site.inbox(), create, f"{actor}#main-key") == 202
    assert site.store.replies() == []


def test_long_actor_names_in_activities_are_not_a_crash(site: Site, victim: Documents) -> None:
    actor = victim.actor("/users/" + "n" * 300)
    assert send(site.inbox(), follow(actor, site), f"{actor}#main-key") == 202
    undo = {"type": "Undo", "id": f"{actor}/undo", "actor": actor,
            "object": {**follow(actor, site), "object": site.base + "/ap/actors/" + "a" * 300}}
    assert send(site.inbox(), undo, f"{actor}#main-key") == 202


def closed_by_the_server(connections: list[socket.socket], seconds: float) -> int:
    """How many of ``connections`` the server has closed, waiting up to ``seconds``."""
    closed: set[int] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(closed) < len(connections):
        for number, connection in enumerate(connections):
            if number not in closed:
                try:
                    if connection.recv(1) == b"":
                        closed.add(number)
                except BlockingIOError:  # nothing to read: still open
                    pass
                except ConnectionResetError:  # reset by the server: closed too
                    closed.add(number)
        time.sleep(0.1)
    return len(closed)


def half_sent(base: str, count: int) -> list[socket.socket]:
    """``count`` connections that send half a request and then nothing."""
    port = urlsplit(base).port
    connections = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(b"POST /ap/inboxes/stories HTTP/1.1\r\nhost: x\r\n")
        connection.setblocking(False)
        connections.append(connection)
    return connections


async def get_status(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(
            url, timeout=aiohttp.ClientTimeout(total=5)) as response:
        return response.status


@contextmanager
def served_with_limits(mini_site: MiniSite, **limits: Any) -> Iterator[str]:
    """The site as `serve` runs it: with the runner and limits of milpa_inbox.server."""
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    with serving(mini_site.served_with_inbox,
                 lambda app: runner(app, limits)) as base:
        yield base


def test_headers_that_never_end_are_cut_off(mini_site: MiniSite) -> None:
    with served_with_limits(mini_site, MILPA_INBOX_HEADER_TIMEOUT=1) as base:
        connections = half_sent(base, 50)
        try:
            assert closed_by_the_server(connections, 4) == 50
            assert run(get_status(f"{base}/")) == 200
        finally:
            for connection in connections:
                connection.close()


def test_eleven_hundred_half_sent_requests_do_not_stop_the_server(
        mini_site: MiniSite) -> None:
    with served_with_limits(mini_site, MILPA_INBOX_MAX_CONNECTIONS=100,
                            MILPA_INBOX_HEADER_TIMEOUT=60) as base:
        connections = half_sent(base, 1100)
        try:
            # Past the limit the oldest went; a new client is answered at once.
            assert closed_by_the_server(connections, 5) >= 1000
            assert run(get_status(f"{base}/")) == 200
        finally:
            for connection in connections:
                connection.close()
