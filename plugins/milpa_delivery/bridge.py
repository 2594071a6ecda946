"""Joining and leaving the Bluesky bridge: our Follow, or our Undo and Block, through the queue.

Each step is written so that a kill at any moment leaves something a rerun finishes: the
opt-in is recorded (with its Follow) before the Follow is queued, so a rerun sends the same
Follow again; the opt-out is queued before it is recorded, and its activities' ids follow
from the Follow's, so a rerun queues the same two. The bridge's answers (its Accept, its
follow back) come to the inbox (`milpa_inbox.inbox`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from milpa.activitypub import ApUrls
from milpa.bridge import (
    BRIDGED,
    OFF,
    PENDING,
    Bridging,
    bluesky_handle,
    follow_activity,
    host_name,
    opt_out_activities,
    unblock_activity,
)
from milpa.settings import setting, site_url
from milpa.state import DataStore
from milpa_delivery.announce import resolve_target
from milpa_delivery.deliverer import Outcome, deliverer
from milpa_delivery.queue import DeliveryQueue
from milpa_delivery.remote import RemoteRefused


@dataclass(frozen=True)
class Switched:
    """What `bridge on|off` did: the record now, and the delivery (None: nothing to send)."""

    bridging: Bridging | None
    outcome: Outcome | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def handle_of(settings: dict[str, Any], name: str) -> str | None:
    return bluesky_handle(name, host_name(site_url(settings)),
                          setting(settings, "MILPA_BRIDGE_HANDLE_DOMAIN"))


async def _deliver(settings: dict[str, Any], store: DataStore, ids: list[str]) -> Outcome:
    """One after the other, so the bridge reads them in order (an unblock before a Follow)."""
    total = Outcome()
    for activity_id in ids:
        done = await deliverer(settings, store).run(only={activity_id})
        total.delivered += done.delivered
        total.retried_later += done.retried_later
        total.gave_up += done.gave_up
        total.seconds += done.seconds
    return total


async def opt_in(settings: dict[str, Any], store: DataStore, name: str) -> Switched:
    """Follow the bridge from our actor ``name``; nothing is sent if it is already bridged.

    Raises RemoteRefused when the bridge's actor cannot be read or is not the one the
    settings name."""
    configured = setting(settings, "MILPA_BRIDGE_ACTOR")
    current = store.bridging(name)
    if current is not None and current.bridge == configured and current.status == BRIDGED:
        return Switched(current, None)
    urls = ApUrls(site_url(settings))
    queue = DeliveryQueue(store.folder)
    first: list[dict[str, Any]] = []
    if current is not None and current.bridge == configured and current.status == PENDING:
        bridging = current  # asked before and not answered yet: the same Follow again
    else:
        document = await resolve_target(settings, configured)
        inbox = document.get("inbox")
        if document.get("id") != configured or not isinstance(inbox, str):
            raise RemoteRefused(f"{configured} does not describe itself (its id is "
                                f"{document.get('id')!r}, its inbox {inbox!r}): "
                                "MILPA_BRIDGE_ACTOR must be the bridge actor's own URL")
        if current is not None and current.status == OFF and current.bridge == configured:
            # Bridgy Fed: a blocked bridge stays off until the block is undone.
            first.append(unblock_activity(urls, name, current))
        bridging = Bridging(PENDING, configured, inbox,
                            follow_activity(urls, name, configured),
                            handle_of(settings, name) or "", _now())
        with store.locked("bridge"):
            store.record_bridging(name, bridging)
    for activity in [*first, bridging.follow]:
        queue.enqueue(activity, name, [bridging.bridge_inbox])
    outcome = await _deliver(settings, store, [a["id"] for a in [*first, bridging.follow]])
    return Switched(bridging, outcome)


async def opt_out(settings: dict[str, Any], store: DataStore, name: str) -> Switched:
    """Undo our Follow and block the bridge (Bridgy Fed's opt-out); the bridge stops being
    a follower. Run again, it delivers what is still queued and sends nothing new."""
    current = store.bridging(name)
    if current is None:
        return Switched(None, None)
    queue = DeliveryQueue(store.folder)
    if current.status == OFF:
        waiting = [i for i in current.opt_out if (queue.folder(i) / "activity.json").is_file()]
        return Switched(current, await _deliver(settings, store, waiting) if waiting else None)
    undo, block = opt_out_activities(ApUrls(site_url(settings)), name, current)
    for activity in (undo, block):
        queue.enqueue(activity, name, [current.bridge_inbox])
    with store.locked("bridge"):
        bridging = replace(store.bridging(name) or current, status=OFF, since=_now(),
                           opt_out=(undo["id"], block["id"]))
        store.record_bridging(name, bridging)
    store.remove_follower(name, current.bridge)
    return Switched(bridging, await _deliver(settings, store, [undo["id"], block["id"]]))
