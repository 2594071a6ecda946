"""What to tell followers: the difference between what the build published and the ledger.

Pure: published documents and the ledger in, a plan out. The build's output is the truth
(``output/ap/objects``, ``output/ap/actors``); the ledger in the data folder remembers what
followers were last told about each story and actor, by the hash of its document.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .activitypub import (
    AS_CONTEXT,
    PUBLIC,
    ApUrls,
    announce_activity,
    create_activity,
    to_json,
    without_context,
)

logger = logging.getLogger(__name__)


def returning_slug(lang: str, slug: str, ledger: Mapping[str, Mapping[str, Any]]) -> str:
    """The slug of a story's ActivityPub ids: its own, unless followers were told that id
    was deleted (expired, unpublished, removed). Servers keep a deleted id as a tombstone
    and refuse it for ever, so a story that comes back takes the first ``SLUG.N`` that
    was never deleted; the ledger keeps each deleted one."""
    def deleted(generation: int) -> bool:
        key = f"{lang}/{slug}.{generation}" if generation else f"{lang}/{slug}"
        return (ledger.get(key) or {}).get("state") == "deleted"

    generation = 0
    while deleted(generation):  # ends: each step passes one more entry of the ledger
        generation += 1
    return f"{slug}.{generation}" if generation else slug


def told_form(document: dict[str, Any]) -> dict[str, Any]:
    """A document as the ledger hashes it: an embedded replies collection counts as the
    address it had when it was a file of its own (``/ap/replies/LANG/SLUG``), so hashes
    recorded before it was embedded still hold, and a reply an editor approves is no edit
    to send followers (ids follow ``ApUrls.story``'s pattern, which never changes)."""
    replies = document.get("replies")
    if not isinstance(replies, dict):
        return document
    head, lang, slug = document["id"].rsplit("/", 2)
    return {**document, "replies": f"{head.removesuffix('/ap/objects')}/ap/replies/{lang}/{slug}"}


def document_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(to_json(told_form(document))).hexdigest()


def body_hash(document: dict[str, Any]) -> str:
    """The hash of what an edit changes: the document without its ``updated``."""
    return document_hash({key: value for key, value in document.items() if key != "updated"})


def with_edit_time(document: dict[str, Any], told: Mapping[str, Any] | None, moment: str
                   ) -> dict[str, Any]:
    """The story as served: with ``updated`` when it differs from what followers were told.

    Servers show an edit only when the object says when it was edited, and one that
    fetches the object later must see the same time as the Update delivered. A
    ``Modified:`` field wins; else the time of the first build that saw the edit, which
    the ledger keeps once it is announced.
    """
    if "updated" in document:
        return document
    updated = edit_time(told, lambda: body_hash(document), moment)
    return {**document, "updated": updated} if updated else document


def told_of(told: Mapping[str, Any] | None) -> bool:
    """Whether followers were told of a story (and its body's hash is then compared)."""
    return bool(told) and told.get("state") == "published"


def edit_time(told: Mapping[str, Any] | None, body: Callable[[], str], moment: str
              ) -> str | None:
    """The ``updated`` a story without a ``Modified:`` field is served with, given the
    hash of its body (``body_hash``, asked for only if followers were told of it): None
    while followers were told nothing else."""
    if not told_of(told):
        return None
    if (told.get("body_hash") or told.get("hash")) != body():
        return moment
    return told.get("updated") or None


@dataclass(frozen=True)
class LedgerEntry:
    """What followers were last told about one story or actor."""

    key: str  # LANG/SLUG for a story, actors/NAME for an actor
    id: str
    hash: str
    state: str  # published or deleted
    type: str = "Note"
    sender: str = ""  # the actor that wrote it (which deletes it, too)
    audience: tuple[str, ...] = ()  # the actors whose followers were told
    body_hash: str = ""  # the hash without `updated` (what an edit changes)
    updated: str = ""  # the edit time followers were told, served with the object


@dataclass
class Change:
    """One activity to deliver, from one of our actors, to the followers of some actors."""

    activity: dict[str, Any]
    sender: str  # our actor's name: it signs
    audience: tuple[str, ...]  # our actors whose followers receive it
    entry: LedgerEntry  # the ledger's new state once delivered


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    # Entries recorded without telling anyone: the first run on an existing site.
    quiet: list[LedgerEntry] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.activity["type"] == kind)


def published_documents(output: Path, folder: str) -> dict[str, dict[str, Any]]:
    """The documents under ``output/ap/FOLDER``, by their path inside it (LANG/SLUG, NAME)."""
    root = output / "ap" / folder
    return {path.relative_to(root).as_posix(): json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(root.rglob("*")) if path.is_file()}


def _name_of(actor_id: str, urls: ApUrls) -> str:
    return actor_id.removeprefix(urls.actor(""))


def story_audience(story: dict[str, Any], urls: ApUrls) -> tuple[str, ...]:
    """Our actors whose followers hear about a story: those its `cc` addresses."""
    prefix = urls.followers("")
    return tuple(address.removeprefix(prefix) for address in story.get("cc", [])
                 if address.startswith(prefix))


def plan_changes(stories: dict[str, dict[str, Any]], actors: dict[str, dict[str, Any]],
                 ledger: dict[str, LedgerEntry], urls: ApUrls, moment: str,
                 first_run: bool = False, backfill: int = 0,
                 imported: frozenset[str] = frozenset()) -> Plan:
    """Create for new stories, Update for changed ones and actors, Delete for gone ones.

    On the first run every story already published is recorded as announced, except the
    newest ``backfill`` ones: followers' timelines are not flooded with old posts.
    ``moment`` (ISO 8601) dates Deletes and Updates that carry no date of their own.
    """
    plan = Plan()
    newest = sorted(stories, key=lambda key: stories[key].get("published", ""), reverse=True)
    backfilled = set(newest[:backfill])
    for key in newest:
        story = stories[key]
        sender = _name_of(story["attributedTo"], urls)
        audience = story_audience(story, urls)
        entry = LedgerEntry(key, story["id"], document_hash(story), "published", story["type"],
                            sender, audience, body_hash(story), story.get("updated", ""))
        known = ledger.get(key)
        if known is not None and known.state == "deleted" and known.id == entry.id:
            # A tombstoned id: followers' servers would drop the Create. The build gives
            # a returning story a new id (returning_slug); this output predates that.
            logger.warning("%s: its id %s was deleted; build again before announcing", key,
                           entry.id)
            continue
        if known is None or known.state == "deleted":
            # Old posts brought from an archive are recorded, not sent, like a first run's.
            if (first_run and key not in backfilled) or (key in imported and known is None):
                plan.quiet.append(entry)
                continue
            lang, slug = key.split("/")
            plan.changes.append(Change(create_activity(story, urls, lang, slug), sender,
                                       (sender,), entry))
            # The site and the territory share it: their followers see it as a boost,
            # which is how Mastodon shows another account's post in a home timeline.
            for sharer in (name for name in audience if name != sender):
                plan.changes.append(Change(
                    announce_activity(sharer, story, urls, lang, slug), sharer, (sharer,),
                    entry))
        elif known.hash != entry.hash:
            updated = {**without_context(story), "updated": story.get("updated") or moment}
            activity = {"@context": story["@context"],
                        "id": f"{story['id']}#updates/{entry.hash[:16]}", "type": "Update",
                        "actor": story["attributedTo"], "to": story["to"], "cc": story["cc"],
                        "object": updated}
            plan.changes.append(Change(activity, sender, audience, entry))
    for key, known in sorted(ledger.items()):
        if key.startswith("actors/") or known.state != "published" or key in stories:
            continue
        # Gone from the build: removed, unpublished or expired. Its writer deletes it.
        activity = {"@context": AS_CONTEXT, "id": f"{known.id}#delete", "type": "Delete",
                    "actor": urls.actor(known.sender), "to": [PUBLIC],
                    "object": {"id": known.id, "type": "Tombstone", "formerType": known.type,
                               "deleted": moment}}
        plan.changes.append(Change(activity, known.sender, known.audience,
                                   replace(known, state="deleted")))
    for name, actor in sorted(actors.items()):
        key = f"actors/{name}"
        entry = LedgerEntry(key, actor["id"], document_hash(actor), "published", actor["type"])
        known = ledger.get(key)
        if known is None:
            plan.quiet.append(entry)  # a new actor has no followers to tell yet
        elif known.hash != entry.hash:
            activity = {"@context": actor["@context"],
                        "id": f"{actor['id']}#updates/{entry.hash[:16]}", "type": "Update",
                        "actor": actor["id"], "to": [PUBLIC], "object": without_context(actor)}
            plan.changes.append(Change(activity, name, (name,), entry))
    return plan

