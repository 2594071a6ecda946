"""Announce: tell every follower's server about new, edited and removed stories, once.

Two steps, both safe to interrupt. First the plan (``milpa.announce``) becomes queue files
in the data folder, one per inbox still to reach, and each change is written to the
ledger right after its queue files: a rerun never plans the same change twice. Then the
queue is delivered: one signed POST per shared inbox, a file removed per delivery. Killed
at any point, a rerun sends what is left; only a POST that succeeded in the instant before
the kill can be sent again, with the same activity id, which servers recognise.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from bovine.clients.signed_http import legacy_digest_method
from bovine.clients.utils import host_target_from_url
from bovine.crypto.http_signature import build_signature
from bovine.crypto.types import CryptographicSecret

from milpa.activitypub import ACTIVITY_JSON, ApUrls
from milpa.announce import LedgerEntry, Plan, plan_changes, published_documents
from milpa.logs import service_logger
from milpa.settings import setting, site_url
from milpa.signing import Signer
from milpa.state import DataStore, write_atomically
from milpa_delivery.remote import RemoteActors, RemoteRefused, check_address

logger = service_logger(__name__)
NOT_FOUND_LIMIT = 3  # a follower whose inbox answers 404 this many times is removed


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
    for change in plan.changes:
        store.enqueue(change.activity, change.sender, inboxes_of(store, change.audience))
        store.record_ledger(change.entry.key, asdict(change.entry))
    for entry in plan.quiet:
        store.record_ledger(entry.key, asdict(entry))


def retry_delay(attempts: int, retry_after: str | None) -> timedelta:
    """Exponential backoff with jitter (1 min, 2, 4… up to a day), or what the server asks."""
    if retry_after:
        try:
            return timedelta(seconds=max(0, int(retry_after)))
        except ValueError:
            try:
                return max(timedelta(0), parsedate_to_datetime(retry_after) - datetime.now(UTC))
            except (TypeError, ValueError):
                pass
    base = min(60 * 2 ** attempts, 86400)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


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
    outcome: Outcome = field(default_factory=Outcome)
    on_progress: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.limit = asyncio.Semaphore(self.concurrency)
        self.hosts: dict[str, asyncio.Semaphore] = {}
        self.checked: dict[str, str | None] = {}  # host → why it is refused (None: fine)
        self.down: set[str] = set()  # hosts that did not answer in this run

    async def check(self, inbox: str) -> None:
        """The SSRF guard, once per host and run (resolving a name costs a thread)."""
        host = urlsplit(inbox).netloc
        if host not in self.checked:
            try:
                await check_address(inbox, self.allow_loopback)
                self.checked[host] = None
            except RemoteRefused as error:
                self.checked[host] = str(error)
        if self.checked[host] is not None:
            raise RemoteRefused(self.checked[host])

    async def post(self, http: aiohttp.ClientSession, secret: CryptographicSecret, inbox: str,
                   body: str, digest: str) -> aiohttp.ClientResponse:
        """The body and its digest are made once per activity; the signature per inbox."""
        host, target = host_target_from_url(inbox)
        date = formatdate(usegmt=True)
        signature = (build_signature(host, "post", target).with_field("date", date)
                     .with_field("digest", digest).with_field("content-type", ACTIVITY_JSON))
        headers = {**signature.headers, "signature": signature.sign_for_http_draft(secret)}
        return await http.post(inbox, data=body.encode(), headers=headers)

    async def deliver_item(self, http: aiohttp.ClientSession, secret: CryptographicSecret,
                           body: str, digest: str, item_file: Path, item: dict[str, Any]
                           ) -> None:
        inbox = item["inbox"]
        host = urlsplit(inbox).netloc
        semaphore = self.hosts.setdefault(host, asyncio.Semaphore(self.per_host))
        status, retry_after, reason = None, None, ""
        async with self.limit, semaphore:
            if host in self.down:  # one timeout is enough to know: the rest waits
                self.outcome.retried_later += 1
                self.on_progress()
                return
            try:
                await self.check(inbox)
                async with await self.post(http, secret, inbox, body, digest) as response:
                    status, retry_after = response.status, response.headers.get("Retry-After")
            except RemoteRefused as error:
                status, reason = 400, str(error)  # never to be sent there: give up
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = str(error) or type(error).__name__
                self.down.add(host)
        self.store.mark_available(host, status is not None)
        self.settle(item_file, item, status, retry_after, reason)
        self.on_progress()

    def settle(self, item_file: Path, item: dict[str, Any], status: int | None,
               retry_after: str | None, reason: str) -> None:
        inbox, attempts = item["inbox"], item["attempts"] + 1
        first_try = item.get("first_try") or datetime.now(UTC).isoformat()
        too_old = datetime.now(UTC) - datetime.fromisoformat(first_try) > timedelta(
            days=self.max_days)
        if status is not None and 200 <= status < 300:
            item_file.unlink(missing_ok=True)
            self.outcome.delivered += 1
        elif status == 410 or (status == 404 and attempts >= NOT_FOUND_LIMIT):
            item_file.unlink(missing_ok=True)
            self.outcome.removed_followers += self.store.remove_followers_at(inbox)
            logger.info("announce: %s answered %s; its followers are removed", inbox, status)
        elif status is not None and 400 <= status < 500 and status not in (404, 408, 429):
            item_file.unlink(missing_ok=True)
            self.outcome.gave_up += 1
            logger.warning("announce: %s refused the activity (%s %s)", inbox, status, reason)
        elif attempts >= self.max_attempts or too_old:
            item_file.unlink(missing_ok=True)
            self.outcome.gave_up += 1
            logger.warning("announce: gave up on %s after %d tries", inbox, attempts)
        else:
            later = datetime.now(UTC) + retry_delay(attempts, retry_after)
            write_atomically(item_file, json.dumps({
                **item, "attempts": attempts, "next_try": later.isoformat(),
                "first_try": first_try}).encode())
            self.outcome.retried_later += 1
            logger.info("announce: %s: %s; trying again after %s", inbox,
                        status or reason, later.isoformat(timespec="seconds"))

    async def run(self) -> Outcome:
        started = time.perf_counter()
        now = datetime.now(UTC).isoformat()
        timeout = aiohttp.ClientTimeout(total=3 * self.read_timeout, sock_connect=5,
                                        sock_read=self.read_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            work = []
            for _folder, queued, items in self.store.queued():
                body = json.dumps(queued["activity"])
                _, digest = legacy_digest_method(body.encode())
                secret = CryptographicSecret(self.urls.key(queued["sender"]), self.private_key)
                for item_file, item in items:
                    if item["next_try"] and item["next_try"] > now:
                        self.outcome.retried_later += 1
                        continue
                    work.append(self.deliver_item(http, secret, body, digest, item_file, item))
            await asyncio.gather(*work)
        list(self.store.queued())  # removes folders whose deliveries are all done
        self.outcome.seconds = time.perf_counter() - started
        return self.outcome


def pending_deliveries(store: DataStore) -> int:
    return sum(len(items) for _, _, items in store.queued())


def deliverer(settings: dict[str, Any], store: DataStore, on_progress: Callable[[], None]
              ) -> Deliverer:
    return Deliverer(
        store, ApUrls(site_url(settings)),
        CryptographicSecret.from_pem("loaded once", Signer.for_site(settings).private_key
                                     ).private_key,
        setting(settings, "MILPA_INBOX_ALLOW_LOOPBACK"),
        setting(settings, "MILPA_DELIVERY_MAX_ATTEMPTS"),
        setting(settings, "MILPA_DELIVERY_CONCURRENCY"),
        setting(settings, "MILPA_DELIVERY_PER_HOST"), setting(settings, "MILPA_DELIVERY_MAX_DAYS"),
        setting(settings, "MILPA_DELIVERY_READ_TIMEOUT"), on_progress=on_progress)


async def resolve_target(settings: dict[str, Any], target: str) -> dict[str, Any]:
    """The actor document of ``target``: an actor URL, or @user@host found by WebFinger."""
    from bovine.clients import lookup_uri_with_webfinger

    signer = Signer.for_site(settings)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        if not target.startswith(("http://", "https://")):
            handle = target.removeprefix("@")
            actor_url, _ = await lookup_uri_with_webfinger(http, f"acct:{handle}")
            if not actor_url:
                raise RemoteRefused(f"no account {target} (WebFinger found nothing)")
            target = actor_url
        remote = RemoteActors(http, signer, setting(settings, "MILPA_INBOX_ALLOW_LOOPBACK"))
        return await remote.document(target, fresh=True)
