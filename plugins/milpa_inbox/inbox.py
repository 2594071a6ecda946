"""The inbox: where trust is decided. Every POST is checked, then handled by its type.

Checks, in order, each with a 4xx and a log line: the actor exists (404), the body is not
too big (413), is ActivityPub JSON (415), parses and is not nested absurdly deep (400), is
an activity with an actor (400), and carries a valid HTTP signature made with a key its
actor owns (401). The signature checker is bovine's; the key comes from the actor's
document, fetched with a signed GET, cached, and fetched again once if it no longer
verifies (the actor may have rotated it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from bovine.crypto import build_validate_http_signature_raw
from bovine.crypto.signature import Signature

from milpa.activitypub import ApUrls, follow_answer
from milpa.logs import service_logger
from milpa.settings import setting
from milpa.signing import Signer
from milpa.state import DataStore, Follower, FollowRequest, Reply, is_blocked
from milpa_delivery.deliverer import Deliverer, deliverer
from milpa_delivery.queue import DeliveryQueue
from milpa_delivery.remote import RemoteActors, RemoteRefused

logger = service_logger(__name__)
ACCEPTED_TYPES = ("application/activity+json", "application/ld+json")
REQUIRED_SIGNED = {"(request-target)", "host", "date"}
MAX_DEPTH = 32


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
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    deliverer: Deliverer = field(kw_only=True)  # sends what this inbox queues (Accepts)

    def blocked(self, actor_id: str) -> bool:
        stored = self.store.blocks()
        return is_blocked(actor_id, {
            "domains": [*stored["domains"], *self.blocked_domains],
            "actors": [*stored["actors"], *self.blocked_actors]})

    def actor_exists(self, name: str) -> bool:
        return "/" not in name and (self.actors_folder / name).is_file()

    def our_story(self, object_url: str | None) -> str | None:
        """``LANG/SLUG`` of the story ``object_url`` names, if it is one of ours."""
        prefix = self.urls.story("", "").rstrip("/")
        if not object_url or not object_url.startswith(prefix + "/"):
            return None
        key = object_url[len(prefix) + 1:]
        parts = key.split("/")
        exists = (self.actors_folder.parent / "objects" / key).is_file()
        return key if len(parts) == 2 and ".." not in parts and exists else None

    def our_actor(self, actor_id: str | None) -> str | None:
        """The name of ours that ``actor_id`` is, if it is one of ours."""
        prefix = self.urls.actor("")
        if actor_id and actor_id.startswith(prefix):
            name = actor_id[len(prefix):]
            return name if self.actor_exists(name) else None
        return None

    async def read_activity(self, request: web.Request) -> tuple[dict[str, Any], bytes]:
        if request.content_length is not None and request.content_length > self.max_body:
            raise Refused(413, f"body over {self.max_body} bytes")
        body = await request.content.read(self.max_body + 1)
        if len(body) > self.max_body:
            raise Refused(413, f"body over {self.max_body} bytes")
        if not request.content_type.startswith(ACCEPTED_TYPES):
            raise Refused(415, "send application/activity+json")
        try:
            activity = json.loads(body)
        except ValueError:
            raise Refused(400, "body is not JSON") from None
        if depth(activity) > MAX_DEPTH:
            raise Refused(400, "JSON nested too deep")
        if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
            raise Refused(400, "not an activity")
        if not object_id(activity.get("actor")):
            raise Refused(400, "activity has no actor")
        return activity, body

    async def verified_owner(self, request: web.Request, body: bytes) -> str:
        """The owner of the key that signed the request, or Refused(401)."""
        headers = {name.lower(): value for name, value in request.headers.items()}
        if "signature" not in headers:
            raise Refused(401, "request is not signed")
        try:
            signed = set(Signature.from_signature_header(headers["signature"]).fields)
        except Exception:  # bovine raises plain exceptions on a malformed header
            raise Refused(401, "malformed Signature header") from None
        missing = REQUIRED_SIGNED - signed
        if not {"digest", "content-digest"} & signed:
            missing.add("digest")
        if missing:
            raise Refused(401, f"signature must cover {', '.join(sorted(missing))}")

        async def body_bytes() -> bytes:
            return body

        cached_keys: list[str] = []

        async def key_for(key_id: str) -> Any:
            try:
                if self.remote.is_cached(key_id):
                    cached_keys.append(key_id)
                    # A cached key that fails is fetched again, once: it may have rotated.
                    return await self.remote.public_key(key_id, fresh=len(cached_keys) > 1)
                return await self.remote.public_key(key_id)
            except RemoteRefused as error:
                logger.warning("inbox: key %s refused: %s", key_id, error)
                return None

        validate = build_validate_http_signature_raw(key_for)
        owner = await validate("post", request.path, headers, body_bytes)
        if owner is None and cached_keys:
            owner = await validate("post", request.path, headers, body_bytes)
        if not owner:
            raise Refused(401, "signature does not verify")
        return owner

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name")
        try:
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
            await self.deliverer.run(only={activity_id})
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
        actor = await inbox.remote.document(follower_id)
    except RemoteRefused as error:
        raise Refused(400, f"cannot read the follower: {error}") from None
    follower_inbox = actor.get("inbox")
    if not isinstance(follower_inbox, str):
        raise Refused(400, "the follower has no inbox")
    shared = (actor.get("endpoints") or {}).get("sharedInbox")
    username = actor.get("preferredUsername")
    follower = Follower(id=follower_id, inbox=follower_inbox,
                        shared_inbox=shared if isinstance(shared, str) else None,
                        since=now_iso(), follow_id=object_id(activity),
                        acct=f"{username}@{urlsplit(follower_id).hostname}"
                        if isinstance(username, str) else None)
    if inbox.manually_approves:
        inbox.store.save_follow_request(FollowRequest(name, follower, activity))
        logger.info("inbox: %s asks to follow %s (held for moderation)", follower_id, name)
        return
    inbox.store.record_follower(name, follower)
    logger.info("inbox: %s now follows %s", follower_id, name)
    answer = follow_answer("Accept", inbox.urls, name, activity)
    inbox.deliverer.queue.enqueue(answer, name, [follower_inbox])  # before we answer 202
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
    """A reply to one of our stories, as we keep it; None for anything else."""
    if not isinstance(note, dict) or object_id(note.get("attributedTo")) != actor:
        return None
    story = inbox.our_story(object_id(note.get("inReplyTo")))
    note_id = object_id(note)
    if story is None or not note_id or urlsplit(note_id).netloc != urlsplit(actor).netloc:
        return None
    content = note.get("content")
    if not isinstance(content, str):
        return None
    try:
        author = await inbox.remote.document(actor)
    except RemoteRefused:
        author = {}
    username = author.get("preferredUsername") or actor.rsplit("/", 1)[-1]
    url = note.get("url") if isinstance(note.get("url"), str) else note_id
    return Reply(id=note_id, story=story, actor=actor,
                 author_name=str(author.get("name") or username), author_url=str(
                     author.get("url") if isinstance(author.get("url"), str) else actor),
                 author_handle=f"@{username}@{urlsplit(actor).netloc}", url=url,
                 published=str(note.get("published") or now_iso()), content=content[:20000])


async def on_create(inbox: Inbox, activity: dict[str, Any]) -> None:
    """A reply to one of our stories is kept, held until an editor approves it."""
    reply = await reply_from(inbox, activity.get("object"), object_id(activity["actor"]))
    if reply is not None and inbox.store.find_reply(reply.id) is None:
        inbox.store.save_reply(reply)
        logger.info("inbox: reply %s to %s held for moderation", reply.id, reply.story)


async def on_update(inbox: Inbox, activity: dict[str, Any]) -> None:
    """An edited reply keeps its moderation decision and takes the new text."""
    reply = await reply_from(inbox, activity.get("object"), object_id(activity["actor"]))
    kept = inbox.store.find_reply(reply.id) if reply else None
    if reply is not None and kept is not None and kept.actor == reply.actor:
        inbox.store.save_reply(replace(reply, status=kept.status))


async def on_delete(inbox: Inbox, activity: dict[str, Any]) -> None:
    """An actor deleting itself leaves every followers list; a deleted reply goes."""
    actor = object_id(activity["actor"])
    deleted = object_id(activity.get("object"))
    if deleted != actor:
        reply = inbox.store.find_reply(deleted) if deleted else None
        if reply is not None and reply.actor == actor:
            inbox.store.remove_reply(reply)
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
    try:
        target = await inbox.remote.document(new, fresh=True)
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

    app.router.add_post("/ap/inboxes/{name}", handle)
    app.router.add_post("/ap/inbox", handle)
    app.cleanup_ctx.append(lifetime)


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
                     deliverer=deliverer(settings, store, base=base))

    return make
