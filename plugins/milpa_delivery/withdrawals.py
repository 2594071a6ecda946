"""Quote stamps withdrawn: each stamp that no longer stands gets a ``Delete``, queued.

Run by announce after a build: a story whose ``Quote-Policy`` narrowed, a follower who
left, a story taken down. The ``Delete`` is queued before the stamp's file goes, so a kill
in between only queues it again (the same id: the queue keeps it once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from milpa.activitypub import ApUrls
from milpa.quotes import stamp_withdrawal
from milpa.settings import site_url
from milpa.stamps import Stamp, StampStore, standing
from milpa.state import DataStore
from milpa_delivery.queue import DeliveryQueue


def fallen_stamps(settings: dict[str, Any], store: DataStore) -> list[Stamp]:
    """The stamps whose story is gone or no longer allows their requester."""
    urls = ApUrls(site_url(settings))
    objects = Path(settings["OUTPUT_PATH"]) / "ap" / "objects"
    return [stamp for stamp in StampStore(store.folder)
            if not standing(stamp, objects, urls, store)]


def withdraw_stamps(settings: dict[str, Any], store: DataStore) -> int:
    """Queue the ``Delete`` of every fallen stamp to its requester, then forget the stamp.
    Returns how many."""
    urls, stamps = ApUrls(site_url(settings)), StampStore(store.folder)
    queue = DeliveryQueue(store.folder)
    fallen = fallen_stamps(settings, store)
    for stamp in fallen:
        sender = stamp.author.removeprefix(urls.actor(""))
        queue.enqueue(stamp_withdrawal(urls.stamp(*stamp.parts), stamp.author), sender,
                      [stamp.inbox])
        stamps.remove(stamp)
    return len(fallen)
