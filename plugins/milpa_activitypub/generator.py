"""Write the site's Fediverse presence as static files: actors, discovery, stories, outboxes."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any

from milpa.activitypub import (
    ApUrls,
    actor_document,
    announce_activity,
    create_activity,
    object_type_for,
    ordered_collection,
    paged_collection,
    shared_story,
    story_object,
    to_json,
    without_context,
)
from milpa.announce import body_hash, edit_time, returning_slug, told_of
from milpa.bridge import ATPROTO_DID_PATH, atproto_did_problem
from milpa.discovery import (
    JRD_FOLDER,
    host_meta,
    host_of,
    nodeinfo_document,
    nodeinfo_links,
    webfinger_document,
)
from milpa.keys import KeyMissing, read_public_key
from milpa.outputs import OutputMemo, copy_output, settle_output, write_output
from milpa.quotes import quote_approval, quote_policy
from milpa.settings import now, setting, site_url
from milpa.state import DataStore
from milpa_site.memo import Unmemoizable

from .actors import Actor, ActorMedia, family_actor, site_actor
from .posts import story_id, story_post

logger = logging.getLogger(__name__)


class Fediverse:
    """The actors and stories of one build, as the templates and the writer need them."""

    def __init__(self, base: str, site: Actor, actors: list[Actor],
                 author_of: dict[str, Actor], territory_of: dict[str, Actor],
                 followers: dict[str, int] | None = None) -> None:
        self.base = base
        self.urls = ApUrls(base)
        self.site = site
        self.actors = actors
        self.author_of = author_of  # author slug → actor
        self.territory_of = territory_of  # territory slug → actor
        self.followers = followers or {}  # actor name → followers when the build began

    def page_fingerprint(self) -> tuple[Any, ...]:
        """All that pages can show of it (milpa_site.memo: pages not rendered again)."""
        return (self.base, self.actors, {slug: a.name for slug, a in self.author_of.items()},
                {slug: a.name for slug, a in self.territory_of.items()}, self.followers)

    def follower_count(self, actor: Actor) -> int:
        return self.followers.get(actor.name, 0)

    def handle(self, actor: Actor) -> str:
        return f"@{actor.name}@{host_of(self.base)}"

    def actor_id(self, actor: Actor) -> str:
        return self.urls.actor(actor.name)

    def for_author(self, author: Any) -> Actor | None:
        return self.author_of.get(author.slug)

    def for_territory(self, territory: Any) -> Actor | None:
        return self.territory_of.get(territory.slug)

    def writer_of(self, story: Any) -> Actor:
        """Who a story is attributed to: its first author's actor, else the site."""
        for author in getattr(story, "authors", []):
            if author.slug in self.author_of:
                return self.author_of[author.slug]
        return self.site

    def sharers_of(self, story: Any) -> list[Actor]:
        """Actors whose outbox shares the story without having written it."""
        sharers = [self.site]
        territory = getattr(story, "category", None)
        if territory is not None and territory.slug in self.territory_of:
            sharers.append(self.territory_of[territory.slug])
        return [actor for actor in sharers if actor is not self.writer_of(story)]


class StoryDocument:
    """Where a story's document is this build: the first of ``folders`` that has it (the
    build's output, where it is written when it changed, then the previous output, whose
    file has the same bytes when it did not). Read and parsed only for an outbox page that
    is built: holding every story's document through the build would cost 1–6 KB a story
    at the build's peak."""

    def __init__(self, relative: str, folders: tuple[Path, ...]) -> None:
        self.relative, self.folders = relative, folders

    @property
    def document(self) -> dict[str, Any]:
        for folder in self.folders:
            try:
                return json.loads((folder / self.relative).read_bytes())
            except FileNotFoundError:
                continue
        raise FileNotFoundError(f"{self.relative} in none of {self.folders}")


class FediverseGenerator:
    """Puts FEDIVERSE in the context (templates link actors and objects), then writes."""

    def __init__(self, context: dict[str, Any], settings: dict[str, Any], output_path: str,
                 **_: Any) -> None:
        self.context = context
        self.settings = settings
        self.output = Path(output_path)
        self.fediverse: Fediverse | None = None
        self.public_key = ""
        self._writer: Any = None
        # What followers were told, by story (read only): ids and edit times.
        self.ledger: dict[str, Any] = {}
        self.atproto_did: str | None = None
        self.quote_policy = "author"  # the site's, for stories that name none
        self.original_of: dict[int, Any] = {}  # translation → its original
        self.memo: OutputMemo | None = None
        self.moment = ""  # this build's time: an edit's, until followers are told

    def generate_context(self) -> None:
        self.read_atproto_did()
        keys = Path(setting(self.settings, "MILPA_KEYS_PATH"))
        try:
            self.public_key = read_public_key(keys)
        except KeyMissing:
            logger.error("no actor key in %s: run `python publish.py keys` to create one",
                         keys)
            return
        try:
            self.quote_policy = quote_policy(str(setting(self.settings, "MILPA_QUOTE_POLICY")))
        except ValueError as error:
            logger.error("MILPA_QUOTE_POLICY: %s", error)
            return
        originals = list(self.context.get("articles", []))
        stories = originals + [t for story in originals for t in story.translations]
        self.original_of = {id(t): story for story in originals for t in story.translations}
        base = site_url(self.settings)
        media = ActorMedia(self.settings, base)
        try:
            site = site_actor(self.settings, base, stories, media)
            authors, territories = {}, {}
            if setting(self.settings, "MILPA_AUTHOR_ACTORS"):
                for author, written in self.context.get("authors", []):
                    authors[author.slug] = family_actor("author", author, written,
                                                        self.settings, base, media, site)
            if setting(self.settings, "MILPA_TERRITORY_ACTORS"):
                for territory, told in self.context.get("categories", []):
                    territories[territory.slug] = family_actor(
                        "territory", territory, told, self.settings, base, media, site)
        except FileNotFoundError as error:
            logger.error("%s", error)
            return
        actors = [site, *authors.values(), *territories.values()]
        names = [actor.name for actor in actors]
        clashes = sorted({name for name in names if names.count(name) > 1})
        if clashes:
            logger.error("two actors would be @%s: rename an author or a territory, or turn a "
                         "family off (MILPA_AUTHOR_ACTORS, MILPA_TERRITORY_ACTORS)", clashes[0])
            return
        # Read only, like the ledger below: profiles show how many follow each actor.
        store = DataStore(Path(setting(self.settings, "MILPA_DATA_PATH")))
        followers = {actor.name: store.follower_count(actor.name) for actor in actors}
        self.fediverse = Fediverse(base, site, actors, authors, territories, followers)
        # Translations belong to the same actors as their originals.
        for actor in actors:
            actor.stories = list(chain(actor.stories, (
                t for story in actor.stories for t in story.translations)))
        site.stories = stories
        # Read only: a story that comes back after its id was deleted takes a new one.
        ledger = store.ledger()
        for story in stories:
            story.ap_slug = returning_slug(story.lang, story.slug, ledger)
            story.ap_id = story_id(story, self.fediverse.urls)
        self.ledger = ledger
        self.context["FEDIVERSE"] = self.fediverse

    def write(self, url_or_path: str, data: bytes | str) -> None:
        relative = self.fediverse.urls.path_of(url_or_path) if self.fediverse else url_or_path
        # Through the build's writer: a rebuild writes only the documents that changed.
        write_output(self._writer, self.output, relative,
                     data if isinstance(data, bytes) else data.encode())

    def generate_output(self, writer: Any) -> None:
        if self.fediverse is None:
            return
        self._writer = writer
        self.memo = OutputMemo(writer, "activitypub", Unmemoizable)
        self.moment = now(self.settings).isoformat(timespec="seconds")
        fediverse = self.fediverse
        # One document per story (its Create and replies are parts of it), built once per
        # build, or not at all when the memo has it.
        documents = {id(story): self.write_story(story) for story in fediverse.site.stories}
        settle_output(writer)  # the outboxes read the documents back
        for actor in fediverse.actors:
            self.write_actor(actor, documents)
        self.write_discovery()
        self.memo.report()
        logger.info("Wrote %d actors and %d stories for the Fediverse", len(fediverse.actors),
                    len(documents))

    def write_story(self, story: Any) -> StoryDocument:
        fediverse, urls = self.fediverse, self.fediverse.urls
        writer = fediverse.writer_of(story)
        audience = tuple(urls.followers(a.name) for a in [writer, *fediverse.sharers_of(story)])
        kind = object_type_for(setting(self.settings, "MILPA_OBJECT_TYPE"),
                               story.content_warning)
        approvers = tuple(quote_approval(self.policy_of(story), urls.actor(writer.name),
                                         urls.followers(writer.name)))
        relative = urls.path_of(story.ap_id)
        told = self.ledger.get(f"{story.lang}/{story.ap_slug}")
        inputs = self.memo.inputs(self.memo.digest(story), fediverse.base,
                                  urls.actor(writer.name), audience, kind, approvers)

        def same_edit_time(entry: dict[str, Any]) -> bool:
            """Served with the same ``updated`` as then (followers may have been told)."""
            if entry["has_updated"]:
                return True  # its own Modified: the story's digest covers it
            if told_of(told) and entry["body"] is None:
                return False  # followers told since: its body's hash was never made
            return entry["updated"] == edit_time(told, lambda: entry["body"], self.moment)

        previous = (self.memo.output,) if self.memo.enabled else ()
        if self.memo.kept(relative, inputs, same_edit_time):
            return StoryDocument(relative, previous)
        post = replace(story_post(story, fediverse.base, urls.actor(writer.name), audience,
                                  kind), quote_approvers=approvers)
        built = story_object(post, urls, kind)
        # Its body's hash costs a dump: made only when followers were told of the story.
        body = body_hash(built) if told_of(told) and "updated" not in built else None
        updated = None if "updated" in built else edit_time(told, lambda: body, self.moment)
        document = {**built, "updated": updated} if updated else built
        data = to_json(document)
        self.memo.record(relative, inputs, data, body=body, has_updated="updated" in built,
                         updated=updated)
        write_output(self._writer, self.output, relative, data)
        return StoryDocument(relative, (self.output, *previous))

    def policy_of(self, story: Any) -> str:
        """Who may quote a story: its own Quote-Policy, else its original's, else the site's."""
        original = self.original_of.get(id(story))
        return getattr(story, "quote_policy", None) or \
            getattr(original, "quote_policy", None) or self.quote_policy

    def write_actor(self, actor: Actor, documents: dict[int, StoryDocument]) -> None:
        fediverse, urls, name = self.fediverse, self.fediverse.urls, actor.name
        store = DataStore(Path(setting(self.settings, "MILPA_DATA_PATH")))
        profile = replace(actor.profile, moved_to=store.moved_to(name))
        self.write(urls.actor(name), to_json(actor_document(profile, urls, self.public_key)))
        newest = sorted(actor.stories, key=lambda story: story.date, reverse=True)
        wrote = [fediverse.writer_of(story) is actor for story in newest]
        page_size = setting(self.settings, "MILPA_OUTBOX_PAGE_SIZE")
        # Each page's shape, listing the places of its stories in ``newest``.
        collection, *shapes = paged_collection(
            urls.outbox(name), lambda number: urls.outbox_page(name, number),
            list(range(len(newest))), page_size)
        self.write(collection["id"], to_json(collection))
        for shape in shapes:
            # A page is its place and its stories' documents: reused when they are.
            relative, indexes = urls.path_of(shape["id"]), shape["orderedItems"]
            shas = [self.memo.sha_of(documents[id(newest[i])].relative) for i in indexes]
            inputs = None if None in shas else self.memo.inputs(
                {**shape, "orderedItems": None}, name,
                [[wrote[i], sha] for i, sha in zip(indexes, shas, strict=True)])
            if self.memo.kept(relative, inputs):
                continue
            items = [without_context(self.activity(actor, newest[i], wrote[i], documents))
                     for i in indexes]
            data = to_json({**shape, "orderedItems": items})
            self.memo.record(relative, inputs, data)
            write_output(self._writer, self.output, relative, data)
        pinned = [newest[i].ap_id for i in range(len(newest)) if getattr(newest[i], "pinned",
                                                                            False)]
        self.write(urls.featured(name), to_json(ordered_collection(
            urls.featured(name), len(pinned), items=pinned)))
        # The count only: who follows whom is not published.
        self.write(urls.followers(name), to_json(ordered_collection(
            urls.followers(name), store.follower_count(name))))
        self.write(urls.following(name), to_json(ordered_collection(
            urls.following(name), 0, items=[])))
        self.write(f"{JRD_FOLDER}/{name}.json", to_json(webfinger_document(
            name, fediverse.base, urls.actor(name), actor.profile.page_url)))
        media_folder = setting(self.settings, "MILPA_MEDIA_PATH")
        for cached, file_name in actor.media_files:
            copy_output(self._writer, self.output, f"{media_folder}/{file_name}", Path(cached))

    def activity(self, actor: Actor, story: Any, wrote: bool,
                 documents: dict[int, StoryDocument]) -> dict[str, Any]:
        """A story in an actor's outbox: its Create if the actor wrote it, else a share.
        A share names the story, its author and its date, taken from the story: its
        document is read only for its author's outbox."""
        urls = self.fediverse.urls
        if wrote:
            return create_activity(documents[id(story)].document, urls, story.lang,
                                   story.ap_slug)
        shared = shared_story(story.ap_id, story.date,
                              urls.actor(self.fediverse.writer_of(story).name))
        return announce_activity(actor.name, shared, urls, story.lang, story.ap_slug)

    def write_discovery(self) -> None:
        base = self.fediverse.base
        self.write(".well-known/host-meta", host_meta(base))
        self.write(".well-known/nodeinfo", to_json(nodeinfo_links(base)))
        self.write("nodeinfo/2.1", to_json(nodeinfo_document(
            len(self.fediverse.site.stories), len(self.fediverse.actors),
            self.settings.get("SITENAME", ""))))
        if self.atproto_did:  # the site's domain as a Bluesky handle
            self.write(ATPROTO_DID_PATH, self.atproto_did)

    def read_atproto_did(self) -> None:
        """Before anything is written: `check` and `build` refuse a bad DID first, and
        plain `pelican content` stops on this error before writing."""
        did = setting(self.settings, "MILPA_ATPROTO_DID")
        problem = None if did is None else atproto_did_problem(did)
        if problem:
            logger.error("MILPA_ATPROTO_DID: %s", problem)
        else:
            self.atproto_did = did
