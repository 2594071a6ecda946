"""Delivering the queue: one signed POST per queued inbox, the outcome kept in the queue.

The one way anything we send leaves: stories, profile changes, moves, Accepts and Rejects.
Each POST carries ``Digest: SHA-256=…`` (the form Mastodon sends and strict verifiers
want), signed with the digest, never follows a redirect (a 3xx is a failed delivery), and
connects only where the address guard allows. A delivery of an activity addressed to its
sender's followers also carries, signed, FEP-8fcf's ``Collection-Synchronization`` for
the inbox's server (``milpa.sync``; digests made once per run). Each answer is written to
the queue's journal at once: done, or the next try (backoff from a minute to a day, or what
the server asks), so whoever runs the queue next — this process later, `publish.py
announce` — picks up exactly what is left.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from bovine.clients.signed_http import legacy_digest_method_uppercase
from bovine.clients.utils import host_target_from_url
from bovine.crypto.http_signature import build_signature
from bovine.crypto.types import CryptographicSecret

from milpa.activitypub import ACTIVITY_JSON, ApUrls
from milpa.logs import service_logger
from milpa.settings import setting, site_url
from milpa.signing import Signer
from milpa.state import DataStore
from milpa.sync import FollowerDigests, addressed_to, server_prefix, sync_header
from milpa_delivery.guard import guarded_session, refused_by_guard
from milpa_delivery.queue import DeliveryQueue, Entry, Slot

logger = service_logger(__name__)
NOT_FOUND_LIMIT = 3  # a follower whose inbox answers 404 this many times is removed
HELD_AT_ONCE = 100  # queued activities delivered together (each holds its lock file open)


@dataclass
class Outcome:
    delivered: int = 0
    retried_later: int = 0
    gave_up: int = 0
    removed_followers: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (f"Delivered {self.delivered}, retried later {self.retried_later}, gave up "
                f"{self.gave_up}, removed {self.removed_followers} followers, in "
                f"{self.seconds:.1f} s.")


# The longest a delivery waits between two tries, whatever a server asks (Retry-After):
# a hostile one must not hold a Delete for years, nor name a date too large to compute.
MAX_WAIT = timedelta(days=1)
# Later than this from now, a next try was not set by this clock (backoff's jitter adds a
# fifth): the data folder came from a clock that was ahead, and the delivery is due now.
LONGEST_WAIT = MAX_WAIT * 1.25


def retry_delay(attempts: int, retry_after: str | None) -> timedelta:
    """Exponential backoff with jitter (1 min, 2, 4… up to a day), or what the server asks
    (a day at most)."""
    if retry_after:
        try:
            seconds = int(retry_after)
            return timedelta(seconds=min(max(0, seconds), MAX_WAIT.total_seconds()))
        except ValueError:
            try:
                asked = parsedate_to_datetime(retry_after) - datetime.now(UTC)
                return min(max(timedelta(0), asked), MAX_WAIT)
            except (TypeError, ValueError):
                pass
    base = min(60 * 2 ** attempts, MAX_WAIT.total_seconds())
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def body_digest(body: bytes) -> str:
    """The Digest header's value, ``SHA-256=<base64>``, in the case RFC 3230 registers."""
    return legacy_digest_method_uppercase(body)[1]


@dataclass
class Deliverer:
    store: DataStore
    urls: ApUrls
    private_key: Any
    allow_loopback: bool
    max_attempts: int
    concurrency: int
    per_host: int
    max_days: float = 14.0
    read_timeout: float = 10.0  # Mastodon's: 5 s to connect, 10 s to read
    on_progress: Callable[[], None] = lambda: None
    outcome: Outcome = field(default_factory=Outcome)

    def __post_init__(self) -> None:
        self.queue = DeliveryQueue(self.store.folder)
        self.limit = asyncio.Semaphore(self.concurrency)
        self.hosts: dict[str, asyncio.Semaphore] = {}
        self.down: set[str] = set()  # hosts that did not answer in this run

    async def post(self, http: aiohttp.ClientSession, secret: CryptographicSecret, inbox: str,
                   body: bytes, digest: str, sync: str | None = None
                   ) -> aiohttp.ClientResponse:
        """The body and its digest are made once per activity; the signature per inbox."""
        host, target = host_target_from_url(inbox)
        date = formatdate(usegmt=True)
        signature = (build_signature(host, "post", target).with_field("date", date)
                     .with_field("digest", digest).with_field("content-type", ACTIVITY_JSON))
        if sync is not None:  # signed, as Mastodon signs it: the receiver can believe it
            signature.with_field("collection-synchronization", sync)
        headers = {**signature.headers, "signature": signature.sign_for_http_draft(secret)}
        return await http.post(inbox, data=body, headers=headers, allow_redirects=False)

    async def deliver_item(self, http: aiohttp.ClientSession, secret: CryptographicSecret,
                           body: bytes, digest: str, entry: Entry, slot: Slot,
                           item: dict[str, Any], sync: str | None = None) -> None:
        inbox = item["inbox"]
        host = urlsplit(inbox).netloc
        semaphore = self.hosts.setdefault(host, asyncio.Semaphore(self.per_host))
        status, retry_after, reason = None, None, ""
        # The host's turn first, then a slot of the global limit: waiting for a busy host
        # must not hold a slot that another host's delivery could use.
        async with semaphore, self.limit:
            if host in self.down:  # one timeout is enough to know: the rest waits
                self.outcome.retried_later += 1
                self.on_progress()
                return
            try:
                async with await self.post(http, secret, inbox, body, digest,
                                           sync) as response:
                    status, retry_after = response.status, response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = str(error) or type(error).__name__
                if refused_by_guard(error):
                    status = 400  # never to be sent there: give up
                else:
                    self.down.add(host)
        self.store.mark_available(host, status is not None)
        self.settle(entry, slot, item, status, retry_after, reason)
        self.on_progress()

    def settle(self, entry: Entry, slot: Slot, item: dict[str, Any], status: int | None,
               retry_after: str | None, reason: str) -> None:
        inbox, attempts = item["inbox"], item["attempts"] + 1
        first_try = item.get("first_try") or datetime.now(UTC).isoformat()
        too_old = datetime.now(UTC) - datetime.fromisoformat(first_try) > timedelta(
            days=self.max_days)
        if status is not None and 200 <= status < 300:
            entry.finish(slot)
            self.outcome.delivered += 1
        elif status == 410 or (status == 404 and attempts >= NOT_FOUND_LIMIT):
            entry.finish(slot)
            self.outcome.removed_followers += self.store.remove_followers_at(inbox)
            logger.info("delivery: %s answered %s; its followers are removed", inbox, status)
        elif status is not None and 300 <= status < 500 and status not in (404, 408, 429):
            entry.finish(slot)  # refused, or sent elsewhere: never followed
            self.outcome.gave_up += 1
            logger.warning("delivery: %s refused the activity (%s %s)", inbox, status, reason)
        elif attempts >= self.max_attempts or too_old:
            entry.finish(slot)
            self.outcome.gave_up += 1
            logger.warning("delivery: gave up on %s after %d tries", inbox, attempts)
        else:
            later = datetime.now(UTC) + retry_delay(attempts, retry_after)
            entry.postpone(slot, {**item, "attempts": attempts, "next_try": later.isoformat(),
                                  "first_try": first_try})
            self.outcome.retried_later += 1
            logger.info("delivery: %s: %s; trying again after %s", inbox,
                        status or reason, later.isoformat(timespec="seconds"))

    def sync_value(self, digests: FollowerDigests, sender: str, inbox: str) -> str | None:
        """FEP-8fcf's header for one delivery: ``sender``'s followers on ``inbox``'s server."""
        prefix = server_prefix(inbox)
        if prefix is None:
            return None
        return sync_header(self.urls.followers(sender), self.urls.followers_sync(sender),
                           digests.digest(sender, prefix))

    async def run(self, only: Collection[str] | None = None,
                  http: aiohttp.ClientSession | None = None) -> Outcome:
        """Deliver what is due: the whole queue, or the activities whose ids are ``only``.

        Activities another process is delivering right now are left to it. ``http``: a
        guarded session to reuse (the inbox keeps one open, so each Accept does not open a
        new connection); by default one is opened for this run.
        """
        started = time.perf_counter()
        self.outcome, self.down = Outcome(), set()
        moment = datetime.now(UTC)
        now, horizon = moment.isoformat(), (moment + LONGEST_WAIT).isoformat()
        timeout = aiohttp.ClientTimeout(total=3 * self.read_timeout, sock_connect=5,
                                        sock_read=self.read_timeout)
        folders = self.queue.folders(only)
        digests = FollowerDigests(lambda name: [f.id for f in self.store.followers(name)])
        async with AsyncExitStack() as opened:
            if http is None:
                http = await opened.enter_async_context(
                    guarded_session(self.allow_loopback, timeout))
            for start in range(0, len(folders), HELD_AT_ONCE):
                with ExitStack() as held:
                    work = []
                    for folder in folders[start:start + HELD_AT_ONCE]:
                        entry = held.enter_context(self.queue.claimed(folder))
                        if entry is None:
                            continue
                        body = json.dumps(entry.activity).encode()
                        digest = body_digest(body)
                        secret = CryptographicSecret(self.urls.key(entry.sender),
                                                     self.private_key)
                        synced = addressed_to(entry.activity, self.urls.followers(entry.sender))
                        for slot, item in entry.items:
                            if item["next_try"] and now < item["next_try"] <= horizon:
                                self.outcome.retried_later += 1
                                continue
                            sync = self.sync_value(digests, entry.sender, item["inbox"]) \
                                if synced else None
                            work.append((secret, body, digest, entry, slot, item, sync))
                    await asyncio.gather(*(self.deliver_item(http, *job) for job in work))
        self.queue.tidy(None if only is None else folders)
        self.outcome.seconds = time.perf_counter() - started
        return self.outcome


def deliverer(settings: dict[str, Any], store: DataStore,
              on_progress: Callable[[], None] = lambda: None, base: str | None = None
              ) -> Deliverer:
    """The site's deliverer; ``base`` is the site's address when it is not its SITEURL."""
    signer = Signer.for_site(settings, base)
    return Deliverer(
        store, ApUrls(base or site_url(settings)),
        CryptographicSecret.from_pem(signer.key_id, signer.private_key).private_key,
        setting(settings, "MILPA_INBOX_ALLOW_LOOPBACK"),
        setting(settings, "MILPA_DELIVERY_MAX_ATTEMPTS"),
        setting(settings, "MILPA_DELIVERY_CONCURRENCY"),
        setting(settings, "MILPA_DELIVERY_PER_HOST"), setting(settings, "MILPA_DELIVERY_MAX_DAYS"),
        setting(settings, "MILPA_DELIVERY_READ_TIMEOUT"), on_progress=on_progress)
