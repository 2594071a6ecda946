"""Announce: tell every follower's server about new, edited and removed stories, once.

Two steps, both safe to interrupt. First the plan (``milpa.announce``) is queued in the
data folder, one batch of inboxes per activity, and each change is written to the ledger
right after it is queued: a rerun never plans the same change twice. Then the queue is
delivered (``milpa_delivery.deliverer``): one signed POST per shared inbox, each answer a
line in the queue's journal. Killed at any point, a rerun sends what is left; only a POST
that succeeded in the instant before the kill can be sent again, with the same activity
id, which servers recognise (see ``milpa_delivery.queue`` for a power cut).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from milpa.activitypub import ApUrls
from milpa.announce import LedgerEntry, Plan, plan_changes, published_documents
from milpa.settings import setting, site_url
from milpa.signing import Signer
from milpa.state import DataStore
from milpa_delivery.queue import DeliveryQueue
from milpa_delivery.remote import RemoteActors, RemoteRefused


@dataclass
class PlanSummary:
    activities: Counter[str] = field(default_factory=Counter)
    inboxes: set[str] = field(default_factory=set)
    deliveries: int = 0

    def __str__(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.activities.items()))
        servers = {urlsplit(inbox).netloc for inbox in self.inboxes}
        return (f"{sum(self.activities.values())} activities ({kinds or 'none'}): "
                f"{self.deliveries} deliveries to {len(self.inboxes)} inboxes on "
                f"{len(servers)} servers.")


def inboxes_of(store: DataStore, audience: tuple[str, ...]) -> set[str]:
    """One inbox per server where possible: the shared inbox, else the personal one."""
    return {follower.shared_inbox or follower.inbox
            for name in audience for follower in store.followers(name)}


def current_plan(settings: dict[str, Any], store: DataStore, backfill: int, moment: str
                 ) -> Plan:
    output = Path(settings["OUTPUT_PATH"])
    ledger = {key: LedgerEntry(**{**entry, "audience": tuple(entry.get("audience", ()))})
              for key, entry in store.ledger().items()}
    return plan_changes(published_documents(output, "objects"),
                        published_documents(output, "actors"), ledger,
                        ApUrls(site_url(settings)), moment, first_run=not ledger,
                        backfill=backfill, imported=frozenset(store.imported_keys()))


def summarise(plan: Plan, store: DataStore) -> PlanSummary:
    summary = PlanSummary()
    for change in plan.changes:
        inboxes = inboxes_of(store, change.audience)
        summary.activities[change.activity["type"]] += 1
        summary.inboxes |= inboxes
        summary.deliveries += len(inboxes)
    return summary


def enqueue(plan: Plan, store: DataStore) -> None:
    """Queue files first, then the ledger: a crash in between only queues them again."""
    queue = DeliveryQueue(store.folder)
    audiences: dict[tuple[str, ...], set[str]] = {}  # the followers are read once per audience
    for change in plan.changes:
        if change.audience not in audiences:
            audiences[change.audience] = inboxes_of(store, change.audience)
        queue.enqueue(change.activity, change.sender, audiences[change.audience])
        store.record_ledger(change.entry.key, asdict(change.entry))
    for entry in plan.quiet:
        store.record_ledger(entry.key, asdict(entry))


def pending_deliveries(store: DataStore) -> int:
    return DeliveryQueue(store.folder).pending()


async def resolve_target(settings: dict[str, Any], target: str) -> dict[str, Any]:
    """The actor document of ``target``: an actor URL, or @user@host found by WebFinger."""
    from bovine.clients import lookup_uri_with_webfinger

    async with RemoteActors(Signer.for_site(settings),
                            setting(settings, "MILPA_INBOX_ALLOW_LOOPBACK")) as remote:
        if not target.startswith(("http://", "https://")):
            handle = target.removeprefix("@")
            try:
                actor_url, _ = await lookup_uri_with_webfinger(remote.session, f"acct:{handle}")
            except aiohttp.ClientError as error:
                raise RemoteRefused(f"cannot look up {target}: {error}") from None
            if not actor_url:
                raise RemoteRefused(f"no account {target} (WebFinger found nothing)")
            target = actor_url
        return await remote.document(target, fresh=True)
