"""Outbound safety over loopback: the address guard at connect time, redirects, whole reads,
and the Digest header strict servers want.

Refused targets are 0.0.0.0, [::] and [::ffff:127.0.0.1] on the port of a listener this
test runs on 127.0.0.1 and ::1: connecting to any of them would reach it, so "refused"
is proven by that listener never seeing a connection (and no packet leaves loopback).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from bovine.crypto import build_validate_http_signature_raw
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret

from milpa.activitypub import ACTIVITY_JSON, ApUrls
from milpa.addresses import refusal
from milpa.keys import read_private_key, read_public_key
from milpa.signing import Signer
from milpa.state import DataStore
from milpa_delivery.deliverer import Deliverer, Outcome
from milpa_delivery.guard import guarded_session, refused_by_guard
from milpa_delivery.queue import DeliveryQueue
from milpa_delivery.remote import MAX_DOCUMENT_BYTES, RemoteActors, RemoteRefused

from .conftest import TEST_KEYS, MiniSite
from .servers import serving
from .test_inbox import PEER_PUBLIC, post_signed, run, site_with_inbox, wait_for

SITE = "https://stories.example.org"
KEY = CryptographicSecret.from_pem("x", read_private_key(TEST_KEYS)).private_key
ACTIVITY = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{SITE}/ap/actors/"
            "stories#announces/es/guard", "type": "Announce", "actor": f"{SITE}/ap/actors/stories",
            "object": f"{SITE}/ap/objects/es/guard"}
REFUSED_HOSTS = ("0.0.0.0", "[::ffff:127.0.0.1]", "[::]")


# The classifier: every special range, and the IPv4 each IPv6 form carries.

@pytest.mark.parametrize("address", [
    "0.0.0.0", "::", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "192.0.2.1", "224.0.0.1", "255.255.255.255", "fe80::1", "fc00::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::", "2002:7f00:1::", "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254 (bits flipped)
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
])
def test_special_purpose_addresses_are_refused_even_with_loopback_allowed(address: str
                                                                          ) -> None:
    assert refusal(address) is not None
    assert refusal(address, allow_loopback=True) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.4.5", "::1"])
def test_plain_loopback_passes_only_when_allowed(address: str) -> None:
    assert refusal(address) is not None
    assert refusal(address, allow_loopback=True) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808",
                                     "2002:808:808::1", "::ffff:8.8.8.8"])
def test_public_addresses_and_their_wrapped_forms_pass(address: str) -> None:
    assert refusal(address) is None


# Loopback peers.

class Listener:
    """A port open on 127.0.0.1 and ::1 that only counts who connects to it."""

    def __init__(self) -> None:
        self.v4 = socket.create_server(("127.0.0.1", 0))
        self.port = self.v4.getsockname()[1]
        self.v6 = socket.create_server(("::1", self.port), family=socket.AF_INET6)
        self.contacts = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped.is_set():
            ready, _, _ = select.select([self.v4, self.v6], [], [], 0.05)
            for listener in ready:
                connection, _ = listener.accept()
                self.contacts += 1
                connection.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.v4.close()
        self.v6.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    probe = Listener()
    yield probe
    probe.close()


def peer_app(received: list[dict[str, Any]]) -> web.Application:
    """Answers what its query says: ``?status=307&to=URL`` redirects; GET /chunked?size=N
    sends a document of about N bytes in 1 KB pieces with pauses; POST /strict checks the
    Digest header like a strict verifier and records what it accepted."""

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=int(request.query["status"]),
                            headers={"Location": request.query["to"]})

    async def document(request: web.Request) -> web.Response:
        return web.json_response({"id": str(request.url)}, content_type=ACTIVITY_JSON)

    async def chunked(request: web.Request) -> web.StreamResponse:
        size, pause = int(request.query["size"]), float(request.query.get("pause", "0.05"))
        text = json.dumps({"id": str(request.url), "padding": "x" * size}).encode()
        response = web.StreamResponse(headers={"Content-Type": ACTIVITY_JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(text), 1024):
            await response.write(text[start:start + 1024])
            if start < 8 * 1024:  # a few pauses are enough to split the reads
                await asyncio.sleep(pause)
        await response.write_eof()
        return response

    async def strict(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if request.headers.get("Digest") != expected:  # case-sensitive, like strict servers
            return web.Response(status=401, text="bad digest\n")

        async def our_key(key_id: str) -> CryptographicIdentifier:
            return CryptographicIdentifier.from_public_key({
                "id": key_id, "owner": f"{SITE}/ap/actors/stories",
                "publicKeyPem": read_public_key(TEST_KEYS)})

        async def body_bytes() -> bytes:
            return body

        headers = {name.lower(): value for name, value in request.headers.items()}
        owner = await build_validate_http_signature_raw(our_key)(
            "post", request.path, headers, body_bytes)
        if owner is None or "digest" not in headers["signature"]:
            return web.Response(status=401, text="bad signature\n")
        received.append({"digest": request.headers["Digest"], "activity": json.loads(body)})
        return web.Response(status=202)

    app = web.Application()
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/document", document)
    app.router.add_get("/chunked", chunked)
    app.router.add_post("/strict", strict)
    return app


@pytest.fixture
def peer() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    with serving(peer_app(received)) as base:
        yield base, received


def deliver(tmp_path: Path, inbox: str, allow_loopback: bool = True) -> Outcome:
    store = DataStore(tmp_path / "data")
    DeliveryQueue(store.folder).enqueue(ACTIVITY, "stories", [inbox])
    return run(Deliverer(store, ApUrls(SITE), KEY, allow_loopback, max_attempts=3,
                         concurrency=4, per_host=2).run())


# POSTs: never to a refused address, never after a redirect.

@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_an_inbox_at_a_refused_address_is_never_contacted(
        tmp_path: Path, listener: Listener, host: str) -> None:
    outcome = deliver(tmp_path, f"http://{host}:{listener.port}/inbox")
    assert (outcome.delivered, outcome.gave_up, listener.contacts) == (0, 1, 0)
    assert DeliveryQueue(tmp_path / "data").pending() == 0  # refused: not retried


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_a_redirecting_inbox_never_gets_the_post_to_a_refused_address(
        tmp_path: Path, listener: Listener, peer: tuple[str, Any], host: str,
        status: int) -> None:
    inbox = f"{peer[0]}/redirect?status={status}&to=http://{host}:{listener.port}/inbox"
    outcome = deliver(tmp_path, inbox)
    assert (outcome.delivered, outcome.gave_up, listener.contacts) == (0, 1, 0)


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_post_never_follows_a_redirect_even_to_an_allowed_address(
        tmp_path: Path, listener: Listener, peer: tuple[str, Any], status: int) -> None:
    inbox = f"{peer[0]}/redirect?status={status}&to=http://127.0.0.1:{listener.port}/inbox"
    outcome = deliver(tmp_path, inbox)
    assert (outcome.delivered, outcome.gave_up, listener.contacts) == (0, 1, 0)


def test_a_follow_from_an_actor_whose_inbox_redirects_gets_no_accept_there(
        mini_site: MiniSite, listener: Listener, peer: tuple[str, Any]) -> None:
    """The Accept leaves through the same queue and deliverer: the same rules hold."""
    redirecting = f"{peer[0]}/redirect?status=307&to=http://0.0.0.0:{listener.port}/inbox"

    def actor_app(base: str) -> web.Application:
        async def actor(request: web.Request) -> web.Response:
            return web.json_response({
                "id": f"{base}/users/1", "type": "Person", "inbox": redirecting,
                "publicKey": {"id": f"{base}/users/1#main-key", "owner": f"{base}/users/1",
                              "publicKeyPem": PEER_PUBLIC}}, content_type=ACTIVITY_JSON)

        app = web.Application()
        app.router.add_get("/users/1", actor)
        return app

    with serving(actor_app) as base:
        for site in site_with_inbox(mini_site):
            activity = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Follow",
                        "id": f"{base}/follows/1", "actor": f"{base}/users/1",
                        "object": site.actor()}
            assert run(post_signed(site.inbox(), activity, f"{base}/users/1#main-key")) == 202
            wait_for(lambda: DeliveryQueue(mini_site.base / "data").pending() == 0)  # a 3xx
    assert listener.contacts == 0


# GETs: redirects followed by hand, each hop checked; bodies read whole.

async def fetch(url: str, allow_loopback: bool = True, fresh: bool = True) -> Any:
    async with RemoteActors(Signer("https://stories.example.org/ap/actors/stories#main-key",
                                   read_private_key(TEST_KEYS)), allow_loopback) as remote:
        return await remote.fetch(url, fresh)


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_a_get_redirected_to_a_refused_address_is_not_followed(
        listener: Listener, peer: tuple[str, Any], host: str) -> None:
    with pytest.raises(RemoteRefused, match="refused"):
        run(fetch(f"{peer[0]}/redirect?status=302&to=http://{host}:{listener.port}/x"))
    assert listener.contacts == 0


def test_a_get_redirect_to_an_allowed_address_is_followed_and_the_final_url_kept(
        peer: tuple[str, Any]) -> None:
    final = f"{peer[0]}/document"
    fetched = run(fetch(f"{peer[0]}/redirect?status=301&to={final}"))
    assert fetched.url == final and fetched.document == {"id": final}


def test_redirects_stop_after_a_few_hops(peer: tuple[str, Any]) -> None:
    url = f"{peer[0]}/document"
    for _ in range(4):
        url = f"{peer[0]}/redirect?status=302&to={aiohttp.helpers.quote(url, safe='')}"
    with pytest.raises(RemoteRefused, match="redirects"):
        run(fetch(url))


def test_a_redirect_to_another_scheme_is_refused(peer: tuple[str, Any]) -> None:
    with pytest.raises(RemoteRefused, match="not an http"):
        run(fetch(f"{peer[0]}/redirect?status=302&to=file:///etc/passwd"))


def test_a_document_sent_in_pieces_with_pauses_is_read_whole(peer: tuple[str, Any]) -> None:
    fetched = run(fetch(f"{peer[0]}/chunked?size=6000&pause=0.1"))
    assert len(fetched.document["padding"]) == 6000


def test_a_chunked_document_past_the_limit_is_refused(peer: tuple[str, Any]) -> None:
    with pytest.raises(RemoteRefused, match="larger than"):
        run(fetch(f"{peer[0]}/chunked?size={MAX_DOCUMENT_BYTES}&pause=0"))


# The resolver: the answers checked are the answers connected to.

class Rebinding(AbstractResolver):
    """A name server that answers an address we refuse, counting how often it is asked."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.asked = 0

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked += 1
        return [{"hostname": host, "host": self.address, "port": port, "family": family,
                 "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


async def get_status(url: str, allow_loopback: bool, resolver: AbstractResolver | None = None
                     ) -> int | BaseException:
    async with guarded_session(allow_loopback, resolver=resolver) as http:
        try:
            async with http.get(url) as response:
                return response.status
        except aiohttp.ClientError as error:
            return error


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(listener: Listener) -> None:
    error = run(get_status(f"http://localhost:{listener.port}/", allow_loopback=False))
    assert refused_by_guard(error) and listener.contacts == 0


def test_the_connection_uses_the_one_checked_lookup(listener: Listener) -> None:
    rebinding = Rebinding("0.0.0.0")  # would reach the listener if connected to
    error = run(get_status(f"http://rebind.test:{listener.port}/", True, rebinding))
    assert refused_by_guard(error) and listener.contacts == 0
    assert rebinding.asked == 1  # no second lookup that could answer differently
    allowed = Rebinding("127.0.0.1")
    run(get_status(f"http://rebind.test:{listener.port}/", True, allowed))
    # The listener hangs up at once and aiohttp tries the GET again: a lookup per connection.
    assert allowed.asked == listener.contacts >= 1


# The Digest header.

def test_every_post_says_digest_sha_256_and_a_strict_server_accepts_it(
        tmp_path: Path, peer: tuple[str, list[dict[str, Any]]]) -> None:
    outcome = deliver(tmp_path, f"{peer[0]}/strict")
    assert outcome.delivered == 1
    [arrived] = peer[1]
    body = json.dumps(ACTIVITY).encode()
    assert arrived["digest"] == "SHA-256=" + base64.b64encode(
        hashlib.sha256(body).digest()).decode()
    assert arrived["activity"]["id"] == ACTIVITY["id"]

