"""The partial followers collection of FEP-8fcf: a server asks which of its users follow us.

A community's followers list must not leak: a server learns only the followers it hosts
itself, which it knows already (their Follows came from it). So the list is served only
to a GET signed, by the inbox's own rules (``signatures``, ``keys``), with a key whose
owner is on that server and is the server's own actor (not one of its users), and the
server is taken from that owner, never from the request: an unsigned or badly signed GET
gets 401, a user's 403, and nobody gets the whole list.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from aiohttp import web
from bovine.crypto.signature import Signature
from multidict import CIMultiDictProxy

from milpa.activitypub import ACTIVITY_JSON
from milpa.logs import service_logger
from milpa.sync import partial_followers, server_prefix
from milpa_delivery.remote import RemoteRefused

from .inbox import INBOX, Inbox, Refused
from .keys import origin
from .signatures import BadSignature, SignedRequest, signature_params

logger = service_logger(__name__)
PATH = "/ap/followers-sync/{name}"
SERVER_ACTOR = "Application"  # the type of a server's own actor (Mastodon's instance actor)


def claimed_key_id(headers: CIMultiDictProxy[str]) -> str | None:
    """The key id a request names, before anything is verified; None if unreadable."""
    try:
        if "signature-input" in headers:
            key_id = signature_params(headers["signature-input"]).get("keyid")
        else:
            key_id = Signature.from_signature_header(headers.get("signature", "")).key_id
    except (BadSignature, ValueError, KeyError, IndexError):  # bovine's parser raises these
        return None
    return key_id if origin(key_id) is not None else None


async def signer_of(inbox: Inbox, request: web.Request) -> str:
    """The owner of the key that signed this GET, or Refused (401, 409 for a replay)."""
    scheme = urlsplit(inbox.urls.base).scheme
    signed = SignedRequest(f"{scheme}://{request.host}{request.raw_path}", request.raw_path,
                           request.headers, b"", method="GET")
    try:
        return await inbox.verifier.owner(signed)
    except BadSignature as error:
        raise Refused(error.status, str(error)) from None


async def partial_collection(inbox: Inbox, request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if await asyncio.to_thread(inbox.store.take_down) is not None:  # as the inbox: gone
        raise Refused(410, "this site was taken down")
    if not inbox.actor_exists(name):
        raise Refused(404, "no such actor")
    claimed = claimed_key_id(request.headers)
    if claimed is not None and inbox.blocked(claimed):  # its server is not even asked
        raise Refused(403, "blocked")
    asker = await signer_of(inbox, request)
    if inbox.blocked(asker):
        raise Refused(403, "blocked")
    # The server, not its users: one of them (an informer among thousands on a big server)
    # must not learn which of the others follow us. A server signs these GETs with its own
    # actor, which Mastodon alone types Application; its users cannot take that type.
    try:
        kind = (await inbox.remote.document(asker)).get("type")  # read while verifying
    except RemoteRefused as error:
        raise Refused(401, f"cannot read the asker: {error}") from None
    if kind != SERVER_ACTOR:
        raise Refused(403, "only a server's own actor (type Application) reads this list")
    prefix = server_prefix(asker)  # a verified owner's URL is http(s): never None here
    followers = await asyncio.to_thread(inbox.store.followers, name)
    items = partial_followers((follower.id for follower in followers), prefix) \
        if prefix is not None else []
    logger.info("followers sync: %d followers of %s listed for %s", len(items), name, prefix)
    collection = {"@context": "https://www.w3.org/ns/activitystreams",
                  "id": inbox.urls.followers_sync(name), "type": "OrderedCollection",
                  "totalItems": len(items), "orderedItems": items}
    # Private: for this asker only, never kept by a shared cache or read by a page script.
    return web.Response(body=json.dumps(collection).encode(), content_type=ACTIVITY_JSON,
                        headers={"Cache-Control": "private, no-store"})


def add_followers_sync_route(app: web.Application) -> None:
    """The route, on an app that has the inbox (``add_inbox_routes``): it shares its keys,
    its replay cache and its data folder."""

    async def handle(request: web.Request) -> web.Response:
        try:
            return await partial_collection(request.app[INBOX], request)
        except Refused as refusal:
            logger.warning("followers sync: refused %s from %s: %s", request.path,
                           request.remote, refusal.text.strip())
            raise

    app.router.add_get(PATH, handle)
