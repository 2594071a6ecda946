"""Taking the whole presence down: what is deleted, in which order, and what stays behind.

Pure: the ledger and the built documents in, a record out; the record in, activities and
tombstones out. The record (``TakeDown``) is the one thing the take-down keeps in the data
folder: what was published (so the build can answer every id with a Tombstone for ever)
and how far the Deletes got (so a rerun continues where a killed run stopped).

Two phases. First a Delete of every object followers were told about, signed by its
writer; only when those are delivered or given up, a Delete of each actor. An actor's
Delete goes last because a server that has deleted the actor drops everything it signs
afterwards, and because Mastodon removes an actor's posts with it only where it still
knows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .activitypub import AS_CONTEXT, PUBLIC, ApUrls

OBJECTS, ACTORS, DONE = "objects", "actors", "done"
# Under the output folder: a former document's Tombstone at the document's own path. Every
# server configuration answers that path with 410 Gone and this body.
GONE_FOLDER = "tombstones"


@dataclass(frozen=True)
class Gone:
    """One published document: a story or an actor."""

    id: str
    type: str  # its type while it was published: the Tombstone's formerType
    sender: str = ""  # our actor that deletes it (a story's writer; an actor itself)
    audience: tuple[str, ...] = ()  # our actors whose followers are told
    told: bool = True  # whether followers were ever told of it (else: no Delete to send)
    key: str = ""  # its ledger key (LANG/SLUG), when the ledger knows it


@dataclass
class TakeDown:
    """The take-down's record: when, what, and which phase's Deletes are queued."""

    deleted: str  # ISO 8601: when the take-down started (the tombstones' `deleted`)
    objects: list[Gone] = field(default_factory=list)
    actors: list[Gone] = field(default_factory=list)
    phase: str = OBJECTS
    queued: bool = False  # the phase's Deletes are all in the delivery queue

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TakeDown:
        def gone(item: Mapping[str, Any]) -> Gone:
            return Gone(**{**item, "audience": tuple(item.get("audience", ()))})

        return cls(data["deleted"], [gone(item) for item in data.get("objects", [])],
                   [gone(item) for item in data.get("actors", [])],
                   data.get("phase", OBJECTS), bool(data.get("queued", False)))


def take_down_record(stories: Mapping[str, dict[str, Any]],
                     actors: Mapping[str, dict[str, Any]],
                     ledger: Mapping[str, Mapping[str, Any]], urls: ApUrls, moment: str
                     ) -> TakeDown:
    """Everything published: what the ledger says followers were told (to delete), and
    what the last build published without telling anyone (a tombstone only)."""
    record = TakeDown(moment)
    told_ids = set()
    for key, entry in sorted(ledger.items()):
        if key.startswith("actors/"):
            continue
        # A story deleted before (expired, removed) keeps its tombstone; no second Delete.
        told = entry.get("state") == "published"
        record.objects.append(Gone(entry["id"], entry.get("type", "Note"),
                                   entry.get("sender", ""), tuple(entry.get("audience", ())),
                                   told, key))
        told_ids.add(entry["id"])
    for _, story in sorted(stories.items()):
        if story["id"] not in told_ids:
            record.objects.append(Gone(story["id"], story.get("type", "Note"), told=False))
    names = {key.removeprefix("actors/"): entry.get("type", "Person")
             for key, entry in ledger.items() if key.startswith("actors/")}
    names.update({name: actor.get("type", "Person") for name, actor in actors.items()})
    record.actors = [Gone(urls.actor(name), kind, name, (name,)) for name, kind
                     in sorted(names.items())]
    return record


def object_delete(gone: Gone, urls: ApUrls, moment: str) -> dict[str, Any]:
    """The Delete of a story, from its writer, as Mastodon reads it (Tombstone object)."""
    return {"@context": AS_CONTEXT, "id": f"{gone.id}#take-down", "type": "Delete",
            "actor": urls.actor(gone.sender), "to": [PUBLIC],
            "object": {"id": gone.id, "type": "Tombstone", "formerType": gone.type,
                       "deleted": moment}}


def actor_delete(gone: Gone) -> dict[str, Any]:
    """The Delete of an actor by itself: Mastodon deletes an account when the activity's
    actor and object are the same id and the signature verifies with the key it stored."""
    return {"@context": AS_CONTEXT, "id": f"{gone.id}#delete", "type": "Delete",
            "actor": gone.id, "to": [PUBLIC], "object": gone.id}


def deletes(record: TakeDown, urls: ApUrls) -> list[tuple[dict[str, Any], Gone]]:
    """The current phase's Deletes, each with what it deletes (its sender and audience)."""
    if record.phase == OBJECTS:
        return [(object_delete(gone, urls, record.deleted), gone) for gone in record.objects
                if gone.told and gone.sender]
    if record.phase == ACTORS:
        return [(actor_delete(gone), gone) for gone in record.actors]
    return []


def tombstone(gone: Gone, deleted: str) -> dict[str, Any]:
    """What an id answers after the take-down, with 410 Gone."""
    return {"@context": AS_CONTEXT, "id": gone.id, "type": "Tombstone",
            "formerType": gone.type, "deleted": deleted}
