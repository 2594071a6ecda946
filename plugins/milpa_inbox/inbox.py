"""The inbox: where trust is decided. Every POST is checked, then handled by its type.

Checks, in order, each with a 4xx and a log line: the actor exists (404), the body is read
whole within a time limit (408) and is not too big (413), is ActivityPub JSON by its exact
media type (415), parses and is not nested absurdly deep (400), is an activity with an
actor (400), and carries a valid HTTP signature (draft-cavage or RFC 9421, see
``signatures``) made with a key its actor owns (``keys``) and never seen before (401, 409).
What an activity does to an object is then allowed only to that object's author.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.helpers import parse_mimetype

from milpa.activitypub import ACTIVITY_JSON, ApUrls, follow_answer, to_json
from milpa.blocks import is_blocked
from milpa.bridge import BRIDGED, REFUSED, answers_our_follow, follows_back
from milpa.logs import service_logger
from milpa.replies import Reply, edited, reply_from_note, story_key
from milpa.settings import setting
from milpa.signing import Signer
from milpa.stamps import StampStore
from milpa.state import DataStore, Follower, FollowRequest
from milpa_delivery.deliverer import Deliverer, deliverer
from milpa_delivery.queue import DeliveryQueue
from milpa_delivery.remote import RemoteActors, RemoteRefused

from .keys import KeyOwners, origin, own_document
from .quotes import QuoteDesk, QuoteRefused
from .signatures import BadSignature, ReplayCache, SignedRequest, Verifier

logger = service_logger(__name__)
ACTIVITY_STREAMS = "https://www.w3.org/ns/activitystreams"
MAX_DEPTH = 32
MAX_NAME = 100  # longer actor names and story path parts are not ours (and not paths)
READ_CHUNK = 64 * 1024


class Refused(web.HTTPException):
    """A request we turn down, with its status and a short reason for the sender."""

    def __init__(self, status: int, reason: str) -> None:
        self.status_code = status
        super().__init__(text=f"{reason}\n", content_type="text/plain")


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests, counting no further than ``limit`` + 1."""
    stack, deepest = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def safe_part(name: str) -> bool:
    """Whether ``name`` can be one part of a path under our folders and nothing more."""
    return 0 < len(name) <= MAX_NAME and not name.startswith(".") and not any(
        character in name for character in "/\\\0")


def is_activity_json(content_type: str) -> bool:
    """Exactly ActivityPub's media type (parameters allowed, nothing appended)."""
    media = parse_mimetype(content_type)
    if (media.type, media.subtype, media.suffix) == ("application", "activity", "json"):
        return True
    return (media.type, media.subtype, media.suffix) == ("application", "ld", "json") and \
        ACTIVITY_STREAMS in media.parameters.get("profile", "").split()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def object_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


@dataclass
class Inbox:
    """The inbox service: its state, the site's actors, and how it reaches others."""

    store: DataStore
    urls: ApUrls
    actors_folder: Path  # output/ap/actors: the actors that exist are the ones built
    remote: RemoteActors
    max_body: int = 256 * 1024
    blocked_domains: tuple[str, ...] = ()  # from the settings; the data folder adds more
    blocked_actors: tuple[str, ...] = ()
    manually_approves: bool = False  # follows wait for `publish.py moderate`
    held_per_actor: int = 20  # held replies kept per actor, and in all (over that: dropped)
    held_total: int = 2000
    # The Host values signatures must be made for: the site's own, and the public host
    # when the inbox runs behind a proxy under another name.
    hosts: frozenset[str] = frozenset()
    body_timeout: float = 10.0  # seconds to receive a whole body
    # MILPA_BRIDGE_ACTOR: its follow back of an actor of ours that opted in is not held.
    bridge_actor: str | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    deliverer: Deliverer = field(kw_only=True)  # sends what this inbox queues (Accepts)
    stamps_per_actor: int = 200  # quote stamps kept per quoting account, and in all
    stamps_total: int = 10_000
    verifier: Verifier = field(init=False)
    quotes: QuoteDesk = field(init=False)

    def __post_init__(self) -> None:
        self.verifier = Verifier(KeyOwners(self.remote), self.hosts, ReplayCache())
        self.quotes = QuoteDesk(self.urls, self.actors_folder.parent / "objects", self.store,
                                StampStore(self.store.folder), self.remote,
                                self.stamps_per_actor, self.stamps_total)

    def blocked(self, actor_id: str) -> bool:
        """Blocked in the data folder or the settings, after normalising both (milpa.blocks)."""
        stored = self.store.blocks()
        return is_blocked(actor_id, {
            "domains": [*stored["domains"], *self.blocked_domains],
            "actors": [*stored["actors"], *self.blocked_actors]})

    def actor_exists(self, name: str) -> bool:
        return safe_part(name) and (self.actors_folder / name).is_file()

    def our_story(self, object_url: str | None) -> str | None:
        """``LANG/SLUG`` of the story ``object_url`` names, if it is one of ours."""
        prefix = self.urls.story("", "").rstrip("/")
        if not object_url or not object_url.startswith(prefix + "/"):
            return None
        # Only LANG/SLUG with safe characters: nothing else may become a path in data/.
        key = story_key(object_url[len(prefix) + 1:])
        exists = key is not None and (self.actors_folder.parent / "objects" / key).is_file()
        return key if exists else None

    def our_actor(self, actor_id: str | None) -> str | None:
        """The name of ours that ``actor_id`` is, if it is one of ours."""
        prefix = self.urls.actor("")
        if actor_id and actor_id.startswith(prefix):
            name = actor_id[len(prefix):]
            return name if self.actor_exists(name) else None
        return None

    async def read_body(self, request: web.Request) -> bytes:
        """The whole body, however it arrives (in pieces, chunked), or Refused."""
        if request.content_length is not None and request.content_length > self.max_body:
            raise Refused(413, f"body over {self.max_body} bytes")
        chunks, total = [], 0
        try:
            async with asyncio.timeout(self.body_timeout):
                async for chunk in request.content.iter_chunked(READ_CHUNK):
                    total += len(chunk)
                    if total > self.max_body:
                        raise Refused(413, f"body over {self.max_body} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise Refused(408, f"body not received within {self.body_timeout:g} s") from None
        return b"".join(chunks)

    async def read_activity(self, request: web.Request) -> tuple[dict[str, Any], bytes]:
        body = await self.read_body(request)
        if not is_activity_json(request.headers.get("Content-Type", "")):
            raise Refused(415, "send application/activity+json")
        try:
            activity = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting beyond Python's stack
            raise Refused(400, "body is not JSON") from None
        if depth(activity) > MAX_DEPTH:
            raise Refused(400, "JSON nested too deep")
        if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
            raise Refused(400, "not an activity")
        if origin(object_id(activity.get("actor"))) is None:
            raise Refused(400, "activity has no actor")
        return activity, body

    async def verified_owner(self, request: web.Request, body: bytes) -> str:
        """The owner of the key that signed the request, or Refused(401 or 409)."""
        scheme = urlsplit(self.urls.base).scheme
        signed = SignedRequest(f"{scheme}://{request.host}{request.raw_path}",
                               request.raw_path, request.headers, body)
        try:
            return await self.verifier.owner(signed)
        except BadSignature as error:
            raise Refused(error.status, str(error)) from None

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name")
        try:
            if self.store.take_down() is not None:  # `publish.py take-down`: no one is here
                raise Refused(410, "this site was taken down")
            if name is not None and not self.actor_exists(name):
                raise Refused(404, "no such actor")
            activity, body = await self.read_activity(request)
            if self.blocked(object_id(activity["actor"])):
                raise Refused(403, "blocked")
            owner = await self.verified_owner(request, body)
            if owner != object_id(activity.get("actor")):
                raise Refused(401, "the signing key's owner is not the activity's actor")
            handler = HANDLERS.get(activity["type"])
            if handler is not None:
                await handler(self, activity)
        except Refused as refusal:
            logger.warning("inbox: refused %s from %s: %s", request.path, request.remote,
                           refusal.text.strip())
            raise
        return web.Response(status=202, text="accepted\n")

    def in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def deliver_with_retries(self, activity_id: str) -> None:
        """Deliver one queued activity, and again when its next try is due, until the
        queue no longer holds it. Tries are recorded in the queue: if this process stops,
        `publish.py announce` delivers what is left."""
        queue = self.deliverer.queue
        while True:
            await self.deliverer.run(only={activity_id}, http=self.remote.session)
            due = queue.next_try(activity_id)
            if due is None:
                return
            # At least a second: another process may be delivering it right now.
            await asyncio.sleep(max(1.0, (due - datetime.now(UTC)).total_seconds()))


async def on_follow(inbox: Inbox, activity: dict[str, Any]) -> None:
    """Record the follower, then answer with a signed Accept (in the background)."""
    name = inbox.our_actor(object_id(activity.get("object")))
    if name is None:
        raise Refused(404, "Follow of an actor that is not here")
    follower_id = object_id(activity["actor"])
    try:
        actor, follower_inbox = await inbox.remote.with_inbox(follower_id)
    except RemoteRefused as error:
        raise Refused(400, f"cannot read the follower: {error}") from None
    shared = (actor.get("endpoints") or {}).get("sharedInbox")
    username = actor.get("preferredUsername")
    follower = Follower(id=follower_id, inbox=follower_inbox,
                        shared_inbox=shared if isinstance(shared, str) else None,
                        since=now_iso(), follow_id=object_id(activity),
                        acct=f"{username}@{urlsplit(follower_id).hostname}"
                        if isinstance(username, str) else None)
    # The bridge following back an actor that asked it to (`publish.py bridge on`) is the
    # editors' own request answered: not held. Its signature was checked like anyone's.
    from_bridge = follows_back(await asyncio.to_thread(inbox.store.bridging, name),
                               follower_id, inbox.bridge_actor)
    # The bridge following an actor that did not ask (or opted out) would put its stories
    # on Bluesky without the editors' say: held for an editor even where follows are open.
    if (inbox.manually_approves or follower_id == inbox.bridge_actor) and not from_bridge:
        inbox.store.save_follow_request(FollowRequest(name, follower, activity))
        logger.info("inbox: %s asks to follow %s (held for moderation)", follower_id, name)
        return
    # Each write waits for the disk (fsync): in a thread, so other requests go on meanwhile.
    await asyncio.to_thread(inbox.store.record_follower, name, follower)
    logger.info("inbox: %s now follows %s", follower_id, name)
    answer = follow_answer("Accept", inbox.urls, name, activity)
    # Queued before we answer 202: a crash from here on loses no Accept.
    await asyncio.to_thread(inbox.deliverer.queue.enqueue, answer, name, [follower_inbox])
    inbox.in_background(inbox.deliver_with_retries(answer["id"]))


async def answer_follow_requests(settings: dict[str, Any], base: str,
                                 decisions: list[tuple[FollowRequest, bool]]) -> str:
    """Accept or reject held follows (for `publish.py moderate`): each answer is queued,
    then delivered at once; what could not be is left for `publish.py announce`. Returns
    the outcome, to show."""
    urls = ApUrls(base)
    store = DataStore(Path(setting(settings, "MILPA_DATA_PATH")))
    queue = DeliveryQueue(store.folder)
    answers = []
    for request, accepted in decisions:
        if accepted:
            store.record_follower(request.actor, request.follower)
        answer = follow_answer("Accept" if accepted else "Reject", urls, request.actor,
                               request.activity)
        queue.enqueue(answer, request.actor, [request.follower.inbox])
        store.remove_follow_request(request)  # only once its answer is queued
        answers.append(answer["id"])
    return str(await deliverer(settings, store, base=base).run(only=answers))


def record_bridge_answer(store: DataStore, activity: dict[str, Any]) -> str | None:
    """The bridge's Accept or Reject of our Follow: the actor it names is bridged (or
    refused). Under the lock `bridge on|off` write with. Returns the actor's name, or None
    when the activity answers no Follow of ours."""
    status = BRIDGED if activity["type"] == "Accept" else REFUSED
    with store.locked("bridge"):
        for name, bridging in store.bridgings().items():
            if answers_our_follow(bridging, activity):
                store.record_bridging(name, replace(bridging, status=status, since=now_iso()))
                return name
    return None


async def on_answer(inbox: Inbox, activity: dict[str, Any]) -> None:
    """An Accept or Reject: only the bridge's answer to our Follow of it means anything."""
    name = await asyncio.to_thread(record_bridge_answer, inbox.store, activity)
    if name is not None:
        logger.info("inbox: the bridge answered %s's Follow: %s", name, activity["type"])


REACTIONS = {"Like": "likes", "Announce": "boosts"}


async def on_reaction(inbox: Inbox, activity: dict[str, Any]) -> None:
    """A like or a boost of one of our stories is counted (once per actor)."""
    story = inbox.our_story(object_id(activity.get("object")))
    if story is not None:
        inbox.store.record_reaction(REACTIONS[activity["type"]], story,
                                    object_id(activity["actor"]), object_id(activity) or "")


async def on_undo(inbox: Inbox, activity: dict[str, Any]) -> None:
    """Undo of a Follow, a Like or a boost, by whoever made it: it no longer counts."""
    undone = activity.get("object")
    actor = object_id(activity["actor"])
    if not isinstance(undone, dict) or object_id(undone.get("actor")) != actor:
        return
    if undone.get("type") in REACTIONS:
        story = inbox.our_story(object_id(undone.get("object")))
        if story is not None:
            inbox.store.remove_reaction(REACTIONS[undone["type"]], story, actor)
    elif undone.get("type") == "Follow":
        name = inbox.our_actor(object_id(undone.get("object")))
        if name and inbox.store.remove_follower(name, actor):
            logger.info("inbox: %s no longer follows %s", actor, name)


async def reply_from(inbox: Inbox, note: Any, actor: str) -> Reply | None:
    """A reply to one of our stories, checked field by field (milpa.replies); None for
    anything else."""
    story = inbox.our_story(object_id(note.get("inReplyTo"))) if isinstance(note, dict) \
        else None
    if story is None or object_id(note.get("attributedTo")) != actor:
        return None
    try:
        author = await inbox.remote.document(actor)
    except RemoteRefused:
        author = {}
    return reply_from_note(note, author, actor, story, now_iso())


async def on_create(inbox: Inbox, activity: dict[str, Any]) -> None:
    """A reply to one of our stories is kept, held until an editor approves it, unless its
    actor (or everyone) already has as many held as the settings allow."""
    reply = await reply_from(inbox, activity.get("object"), object_id(activity["actor"]))
    if reply is None:
        return
    # Files are read and written in a thread: the event loop keeps answering meanwhile.
    if await asyncio.to_thread(inbox.store.find_reply, reply.id) is not None:
        return
    refused = await asyncio.to_thread(inbox.store.hold_reply, reply, inbox.held_per_actor,
                                      inbox.held_total)
    if refused:
        logger.warning("inbox: reply %s not kept: %s", reply.id, refused)
    else:
        logger.info("inbox: reply %s to %s held for moderation", reply.id, reply.story)


async def on_update(inbox: Inbox, activity: dict[str, Any]) -> None:
    """An edited reply takes the new text; if an editor approved other words (or another
    story), it is held again for them to see."""
    reply = await reply_from(inbox, activity.get("object"), object_id(activity["actor"]))
    kept = await asyncio.to_thread(inbox.store.find_reply, reply.id) if reply else None
    if reply is None or kept is None or kept.actor != reply.actor:
        return
    if kept.status == "approved" and edited(kept, reply):
        refused = await asyncio.to_thread(inbox.store.hold_reply, reply, inbox.held_per_actor,
                                          inbox.held_total)
        if refused:  # the approved words stay rather than unreviewed ones
            logger.warning("inbox: edit of reply %s not kept: %s", reply.id, refused)
        else:
            logger.info("inbox: reply %s was edited: held for moderation again", reply.id)
        return
    await asyncio.to_thread(inbox.store.save_reply, replace(reply, status=kept.status))


async def on_delete(inbox: Inbox, activity: dict[str, Any]) -> None:
    """An actor deleting itself leaves every followers list; a deleted reply goes."""
    actor = object_id(activity["actor"])
    deleted = object_id(activity.get("object"))
    if deleted != actor:
        reply = await asyncio.to_thread(inbox.store.find_reply, deleted) if deleted else None
        if reply is not None and reply.actor == actor:
            await asyncio.to_thread(inbox.store.remove_reply, reply)
        return
    for name in inbox.store.actors_followed_by(actor):
        inbox.store.remove_follower(name, actor)
        logger.info("inbox: %s deleted itself; removed from %s", actor, name)


async def on_move(inbox: Inbox, activity: dict[str, Any]) -> None:
    """A follower moving to a new account: the new one follows in its place.

    Only when the new account names the old one in ``alsoKnownAs``, as Mastodon checks.
    """
    old = object_id(activity["actor"])
    new = object_id(activity.get("target"))
    if object_id(activity.get("object")) != old or not new:
        raise Refused(400, "Move must move its own actor to a target")
    try:  # from the target's own origin, as it is now: it may have just added the alias
        target = await own_document(inbox.remote, new, fresh=True)
    except RemoteRefused as error:
        raise Refused(400, f"cannot read the move's target: {error}") from None
    aliases = target.get("alsoKnownAs") or []
    if old not in (aliases if isinstance(aliases, list) else [aliases]):
        raise Refused(400, "the target does not list the old account in alsoKnownAs")
    new_inbox = target.get("inbox")
    if not isinstance(new_inbox, str):
        raise Refused(400, "the target has no inbox")
    shared = (target.get("endpoints") or {}).get("sharedInbox")
    with inbox.store.locked("followers"):
        for name in inbox.store.actors_followed_by(old):
            inbox.store.record_follower(name, Follower(
                id=new, inbox=new_inbox,
                shared_inbox=shared if isinstance(shared, str) else None,
                since=now_iso()))
            inbox.store.remove_follower(name, old)
            logger.info("inbox: %s moved to %s; %s follows the new account", old, new, name)


async def on_quote_request(inbox: Inbox, activity: dict[str, Any]) -> None:
    """A request to quote one of our stories (FEP-044f): answered by the story's policy
    (``milpa_inbox.quotes``), the answer queued before we answer 202, then delivered."""
    try:
        answer = await inbox.quotes.answer(activity)
    except QuoteRefused as error:
        raise Refused(error.status, str(error)) from None
    logger.info("inbox: %s asks to quote %s: %s", object_id(activity["actor"]),
                object_id(activity.get("object")), answer.activity["type"])
    await asyncio.to_thread(inbox.deliverer.queue.enqueue, answer.activity, answer.sender,
                            [answer.inbox])
    inbox.in_background(inbox.deliver_with_retries(answer.activity["id"]))


# What the inbox does with each activity type; every other type is accepted and ignored.
HANDLERS: dict[str, Callable[[Inbox, dict[str, Any]], Awaitable[None]]] = {
    "Follow": on_follow,
    "Undo": on_undo,
    "Create": on_create,
    "Update": on_update,
    "Delete": on_delete,
    "Like": on_reaction,
    "Announce": on_reaction,
    "Move": on_move,
    "Accept": on_answer,
    "Reject": on_answer,
    "QuoteRequest": on_quote_request,
}


INBOX = web.AppKey("inbox", Inbox)


def add_inbox_routes(app: web.Application, make_inbox: Callable[[], Inbox]) -> None:
    """Every actor's inbox and the shared inbox; the Inbox lives as long as the app."""

    async def handle(request: web.Request) -> web.Response:
        return await request.app[INBOX].handle(request)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        app[INBOX] = make_inbox()
        async with app[INBOX].remote:
            yield
            for task in list(app[INBOX].tasks):
                task.cancel()
            await asyncio.gather(*app[INBOX].tasks, return_exceptions=True)

    async def stamp(request: web.Request) -> web.Response:
        """A quote stamp we gave, while its story still allows it (milpa_inbox.quotes)."""
        document = await asyncio.to_thread(request.app[INBOX].quotes.stamp_document,
                                           request.match_info["actor"],
                                           request.match_info["stamp"])
        if document is None:
            raise web.HTTPNotFound(text="no such stamp\n")
        return web.Response(body=to_json(document), headers={
            "Content-Type": ACTIVITY_JSON, "Access-Control-Allow-Origin": "*"})

    app.router.add_post("/ap/inboxes/{name}", handle)
    app.router.add_post("/ap/inbox", handle)
    app.router.add_get("/ap/stamps/{actor}/{stamp}", stamp)
    app.cleanup_ctx.append(lifetime)


def site_hosts(base: str, extra: Iterable[str]) -> frozenset[str]:
    """The Host values signed requests may name: the site URL's, and any configured."""
    return frozenset(host.lower() for host in (urlsplit(base).netloc, *extra) if host)


def inbox_from_settings(settings: dict[str, Any], output: Path, base: str
                        ) -> Callable[[], Inbox]:
    """How an app makes its Inbox from the site's settings (the key is read once, here)."""
    urls = ApUrls(base)
    signer = Signer.for_site(settings, base)

    def make() -> Inbox:  # in the running app: the remote's session needs its loop
        remote = RemoteActors(signer, setting(settings, "MILPA_INBOX_ALLOW_LOOPBACK"))
        store = DataStore(Path(setting(settings, "MILPA_DATA_PATH")))
        return Inbox(store, urls,
                     output / "ap" / "actors", remote, setting(settings, "MILPA_INBOX_MAX_BODY"),
                     tuple(setting(settings, "MILPA_BLOCKED_DOMAINS")),
                     tuple(setting(settings, "MILPA_BLOCKED_ACTORS")),
                     setting(settings, "MILPA_MANUALLY_APPROVES_FOLLOWERS"),
                     hosts=site_hosts(base, setting(settings, "MILPA_INBOX_HOSTS")),
                     body_timeout=setting(settings, "MILPA_INBOX_BODY_TIMEOUT"),
                     held_per_actor=setting(settings, "MILPA_REPLIES_HELD_PER_ACTOR"),
                     held_total=setting(settings, "MILPA_REPLIES_HELD_TOTAL"),
                     bridge_actor=setting(settings, "MILPA_BRIDGE_ACTOR"),
                     deliverer=deliverer(settings, store, base=base),
                     stamps_per_actor=setting(settings, "MILPA_QUOTE_STAMPS_PER_ACTOR"),
                     stamps_total=setting(settings, "MILPA_QUOTE_STAMPS_TOTAL"))

    return make
