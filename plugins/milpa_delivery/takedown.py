"""Take-down: the Deletes of every story, then of every actor, through the durable queue.

The record (``milpa.takedown.TakeDown``, in the data folder) says which phase runs and
whether its Deletes are queued yet. Each step writes the record after it is done, so a
run killed at any moment, run again, continues: Deletes queued before the record says so
are queued again (the queue keeps one file per inbox, and nothing was delivered before
the record said they were queued); a phase ends only when the queue holds none of its
Deletes (delivered, or given up after the queue's retries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from milpa.activitypub import ApUrls
from milpa.announce import published_documents
from milpa.settings import site_url
from milpa.state import DataStore
from milpa.takedown import ACTORS, DONE, OBJECTS, Gone, TakeDown, deletes, take_down_record
from milpa_delivery.announce import inboxes_of
from milpa_delivery.deliverer import Deliverer, Outcome
from milpa_delivery.queue import DeliveryQueue


@dataclass
class Reach:
    """Who a take-down reaches: deliveries per actor (by its followers' inboxes)."""

    deletes: Counter[str] = field(default_factory=Counter)  # our actor → Deletes it signs
    deliveries: Counter[str] = field(default_factory=Counter)  # our actor → POSTs
    inboxes: set[str] = field(default_factory=set)

    @property
    def servers(self) -> set[str]:
        return {urlsplit(inbox).netloc for inbox in self.inboxes}


def followers_in_all(store: DataStore) -> int:
    """Distinct followers of any of our actors."""
    return len({follower.id for name in store.actors_with_followers()
                for follower in store.followers(name)})


def new_record(settings: dict[str, Any], store: DataStore, moment: str) -> TakeDown:
    """What the take-down deletes: from the ledger and the last build."""
    output = Path(settings["OUTPUT_PATH"])
    built = (output / "ap" / "objects").is_dir()
    return take_down_record(published_documents(output, "objects") if built else {},
                            published_documents(output, "actors") if built else {},
                            store.ledger(), ApUrls(site_url(settings)), moment)


def _inboxes(store: DataStore) -> Callable[[Gone], set[str]]:
    """The inboxes of a Gone's audience, each audience's read from the data folder once
    (thousands of stories share a handful of audiences)."""
    known: dict[frozenset[str], set[str]] = {}

    def of(gone: Gone) -> set[str]:
        audience = frozenset((gone.sender, *gone.audience))
        if audience not in known:
            known[audience] = inboxes_of(store, tuple(sorted(audience)))
        return known[audience]

    return of


def reach(record: TakeDown, store: DataStore, urls: ApUrls) -> Reach:
    """Both phases' deliveries, from the followers as they are now."""
    found = Reach()
    inboxes_for = _inboxes(store)
    for phase in (OBJECTS, ACTORS):
        for _, gone in deletes(replace(record, phase=phase), urls):
            inboxes = inboxes_for(gone)
            found.deletes[gone.sender] += 1
            found.deliveries[gone.sender] += len(inboxes)
            found.inboxes |= inboxes
    return found


def queue_phase(record: TakeDown, store: DataStore, urls: ApUrls) -> TakeDown:
    """The phase's Deletes into the queue, then the record says they are there."""
    queue = DeliveryQueue(store.folder)
    inboxes_for = _inboxes(store)
    for activity, gone in deletes(record, urls):
        queue.enqueue(activity, gone.sender, inboxes_for(gone))
    record = replace(record, queued=True)
    store.record_take_down(record.to_dict())
    return record


def waiting(record: TakeDown, store: DataStore, urls: ApUrls) -> int:
    """Deliveries of the phase's Deletes still in the queue."""
    queue = DeliveryQueue(store.folder)
    ids = {activity["id"] for activity, _ in deletes(record, urls)}
    return sum(len(queue.read(folder).items) for folder in queue.folders(ids))


def record_deleted(record: TakeDown, store: DataStore) -> None:
    """The ledger says what followers were told: these ids were deleted. Should the site
    ever come back, its stories then take new ids (``milpa.announce.returning_slug``), as
    servers refuse a deleted id for ever."""
    ledger = store.ledger()
    for gone in record.objects:
        if gone.told and gone.key in ledger:
            store.record_ledger(gone.key, {**ledger[gone.key], "state": "deleted"})


@dataclass
class Progress:
    phase: str
    outcome: Outcome
    waiting: int  # deliveries of this phase left for a later run (retries not due yet)


async def run_take_down(store: DataStore, urls: ApUrls, sender: Deliverer,
                        on_phase: Callable[[str, int], None] = lambda phase, count: None
                        ) -> list[Progress]:
    """Queue and deliver the current phase; when none of its Deletes wait any more, the
    next. Stops with deliveries waiting (a server down: the queue tries again later)."""
    stored = store.take_down()
    if stored is None:  # nothing begun: the command writes the record first
        return []
    record = TakeDown.from_dict(stored)
    done: list[Progress] = []
    while record.phase != DONE:  # ends: each pass moves a phase on, or returns
        if not record.queued:
            record = queue_phase(record, store, urls)
        ids = {activity["id"] for activity, _ in deletes(record, urls)}
        on_phase(record.phase, waiting(record, store, urls))
        outcome = await sender.run(only=ids)
        left = waiting(record, store, urls)
        done.append(Progress(record.phase, outcome, left))
        if left:
            return done
        if record.phase == OBJECTS:
            record_deleted(record, store)
        record = replace(record, phase=ACTORS if record.phase == OBJECTS else DONE,
                         queued=False)
        store.record_take_down(record.to_dict())
    return done
