"""Nothing sent is lost: Accepts, Rejects and stories wait in one durable queue until
delivered, whatever process is killed when."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bovine.crypto.types import CryptographicSecret
from click.testing import CliRunner

import milpa_delivery.queue as queue_module
import publish
from milpa.activitypub import ApUrls
from milpa.keys import read_private_key
from milpa.state import DataStore
from milpa_delivery.deliverer import Deliverer
from milpa_delivery.queue import JOURNAL, SYNC_EVERY, DeliveryQueue

from .conftest import ROOT, TEST_KEYS, MiniSite, settings_file, story
from .servers import free_port, serving
from .test_inbox import Peer, Site, follow, post_signed, run, wait_for

ACTIVITY = {"id": "https://stories.example.org/ap/actors/stories#accepts/1", "type": "Accept"}


def test_an_inbox_is_queued_once_however_often_the_activity_is(tmp_path: Path) -> None:
    queue = DeliveryQueue(tmp_path)
    queue.enqueue(ACTIVITY, "stories", ["https://a.example/inbox", "https://b.example/inbox"])
    queue.enqueue(ACTIVITY, "stories", ["https://a.example/inbox"])
    assert queue.pending() == 2
    [folder] = queue.folders()
    assert queue.read(folder).activity == ACTIVITY and queue.read(folder).sender == "stories"


def test_an_activity_being_delivered_is_left_alone_by_everyone_else(tmp_path: Path) -> None:
    mine, theirs = DeliveryQueue(tmp_path), DeliveryQueue(tmp_path)
    mine.enqueue(ACTIVITY, "stories", ["https://a.example/inbox"])
    [folder] = mine.folders()
    with mine.claimed(folder) as entry:
        assert entry is not None and len(entry.items) == 1
        with theirs.claimed(folder) as other:
            assert other is None
        for slot, _ in entry.items:
            entry.finish(slot)
        theirs.tidy()  # cannot claim it: it stays
        assert folder.is_dir()
    theirs.tidy()
    assert not folder.exists() and theirs.pending() == 0


@dataclass
class Gate:
    """Stands before a peer's inboxes: holds POSTs while ``holding``, or answers the next
    statuses in ``answers`` (with Retry-After: 1) instead of the peer."""

    holding: threading.Event = field(default_factory=threading.Event)
    held: int = 0
    answers: list[int] = field(default_factory=list)

    def wrap(self, peer: Peer) -> Callable[[str], web.Application]:
        @web.middleware
        async def gate(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
            if request.method != "POST":
                return await handler(request)
            if self.holding.is_set():
                self.held += 1
                deadline = time.monotonic() + 60
                while self.holding.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                return web.Response(status=503)  # to a sender that is gone by now
            if self.answers:
                return web.Response(status=self.answers.pop(0), headers={"Retry-After": "1"})
            return await handler(request)

        def app(base: str) -> web.Application:
            made = peer.app(base)
            made.middlewares.append(gate)
            return made

        return app


def write_settings(mini_site: MiniSite, base: str, **values: object) -> None:
    (mini_site.base / "pelicanconf.py").write_text(settings_file(
        PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output), SITEURL=base,
        CACHE_PATH=str(mini_site.base / "cache"), MILPA_DATA_PATH=str(mini_site.base / "data"),
        MILPA_INBOX_ALLOW_LOOPBACK=True, **values))


def announce() -> str:
    sys.modules.pop("pelicanconf", None)
    result = CliRunner().invoke(publish.cli, ["announce"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def served_site(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[MiniSite, str]]:
    """A built site whose settings file is in the working directory, and its address."""
    mini_site.add("stories/a.md", story("Agua", Authors="Ixchel Tzoc", Slug="agua"))
    base = f"http://127.0.0.1:{free_port()}"
    write_settings(mini_site, base)
    mini_site.build(SITEURL=base)
    monkeypatch.chdir(mini_site.base)
    monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
    yield mini_site, base


def start_serving(base: str, log: Path) -> subprocess.Popen[bytes]:
    """`publish.py serve` (site and inbox in one process), once it accepts connections."""
    port = int(base.rsplit(":", 1)[1])
    with log.open("ab") as log_file:
        server = subprocess.Popen([sys.executable, str(ROOT / "publish.py"), "serve", "--port",
                                   str(port), "--no-build"], stdout=log_file,
                                  stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the inbox did not start: {log.read_text()}")
            time.sleep(0.05)
    server.kill()
    pytest.fail("the inbox did not start in 30 s")


def test_an_accept_survives_a_kill_9_of_the_inbox_and_arrives_exactly_once(
        served_site: tuple[MiniSite, str]) -> None:
    mini_site, base = served_site
    site = Site(base, DataStore(mini_site.base / "data"))
    queue = DeliveryQueue(site.store.folder)
    peer, gate = Peer(), Gate()
    gate.holding.set()  # the follower's server takes the Accept's connection, never answers
    log = mini_site.base / "inbox.log"
    with serving(gate.wrap(peer)):
        inbox = start_serving(base, log)
        try:
            assert run(post_signed(site.inbox(), follow(peer, 1, site), peer.key(1))) == 202
            wait_for(lambda: gate.held == 1)  # the Accept is in flight
            inbox.send_signal(signal.SIGKILL)
            inbox.wait(10)
        finally:
            inbox.kill()
            gate.holding.clear()
        [(_, item)] = queue.read(queue.folders()[0]).items
        assert item["attempts"] == 0  # the try in flight left no trace: it is still owed
        inbox = start_serving(base, log)  # the site again, so the peer can check our key
        try:
            announce()
            announce()  # and once more: nothing is sent twice
        finally:
            inbox.send_signal(signal.SIGTERM)
            inbox.wait(10)
    assert [(activity["type"], signed_by) for activity, signed_by in peer.received] == [
        ("Accept", site.actor())]
    assert queue.pending() == 0 and site.store.follower_count("stories") == 1


def test_the_inbox_retries_an_accept_when_it_is_due(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    peer, gate = Peer(), Gate(answers=[503])
    with serving(gate.wrap(peer)), serving(mini_site.served_with_inbox) as base:
        site = Site(base, DataStore(mini_site.base / "data"))
        queue = DeliveryQueue(site.store.folder)
        assert run(post_signed(site.inbox(), follow(peer, 2, site), peer.key(2))) == 202
        # The first try is answered 503 with Retry-After: 1, written to the queue file;
        # the inbox tries again when that is due, with no announce run.
        wait_for(lambda: bool(peer.received) and queue.pending() == 0, 15)
    assert gate.answers == [] and [a["type"] for a, _ in peer.received] == ["Accept"]


def test_moderate_queues_its_answers_and_announce_delivers_what_it_could_not(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    peer, gate = Peer(), Gate()

    def app(base: str) -> web.Application:
        return mini_site.served_with_inbox(base, MILPA_MANUALLY_APPROVES_FOLLOWERS=True)

    with serving(gate.wrap(peer)), serving(app) as base:
        site = Site(base, DataStore(mini_site.base / "data"))
        for number in (40, 41):
            assert run(post_signed(site.inbox(), follow(peer, number, site),
                                   peer.key(number))) == 202
        requests = {r.follower.id: site.store.request_short_id(r)
                    for r in site.store.follow_requests()}
        write_settings(mini_site, base, MILPA_MANUALLY_APPROVES_FOLLOWERS=True)
        monkeypatch.chdir(mini_site.base)
        monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
        gate.answers = [503, 503]  # the follower's server is down for now
        result = CliRunner().invoke(publish.cli, [
            "moderate", "--approve", requests[peer.actor(40)],
            "--reject", requests[peer.actor(41)]], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "retried later 2" in result.output
        assert site.store.follow_requests() == [] and peer.received == []
        assert DeliveryQueue(site.store.folder).pending() == 2
        queue = DeliveryQueue(site.store.folder)
        for folder in queue.folders():  # due now, not in a minute
            with queue.claimed(folder) as entry:
                assert entry is not None
                for slot, item in entry.items:
                    entry.postpone(slot, {**item, "next_try": ""})
        announce()
        announce()
    answers = sorted((activity["type"], activity["object"]["actor"])
                     for activity, _ in peer.received)
    assert answers == [("Accept", peer.actor(40)), ("Reject", peer.actor(41))]


HOLDING = """
import asyncio, resource, sys
from pathlib import Path
from bovine.crypto.types import CryptographicSecret
from milpa.activitypub import ApUrls
from milpa.keys import read_private_key
from milpa.state import DataStore
from milpa_delivery.deliverer import Deliverer
from milpa_delivery.queue import DeliveryQueue

store = DataStore(Path(sys.argv[1]))
queue = DeliveryQueue(store.folder)
for number in range(int(sys.argv[3])):  # refused by the guard: no packet leaves
    queue.enqueue({"id": f"https://example.org/a/{number}"}, "stories", ["http://0.0.0.0:9/"])
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[4]), int(sys.argv[4])))
key = CryptographicSecret.from_pem("k", read_private_key(Path(sys.argv[2]))).private_key
outcome = asyncio.run(Deliverer(store, ApUrls("https://example.org"), key, False, 3, 20, 2).run())
print(outcome.gave_up, queue.pending())
"""


def test_a_long_queue_is_delivered_without_running_out_of_open_files(tmp_path: Path) -> None:
    """Each activity being delivered holds its lock file open: they go in batches."""
    done = subprocess.run([sys.executable, "-c", HOLDING, str(tmp_path), str(TEST_KEYS),
                           "500", "400"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["500", "0"]


def deliver_all(data: Path) -> None:
    """One run of the real deliverer over the whole queue, signing with the test key."""
    key = CryptographicSecret.from_pem("k", read_private_key(TEST_KEYS)).private_key
    asyncio.run(Deliverer(DataStore(data), ApUrls("https://stories.example.org"), key,
                          allow_loopback=True, max_attempts=3, concurrency=4,
                          per_host=2).run())


def test_a_queue_left_by_the_one_file_per_inbox_format_is_delivered(tmp_path: Path) -> None:
    peer = Peer(verify=False)
    with serving(peer.app) as base:
        folder = DeliveryQueue(tmp_path).folder(ACTIVITY["id"])
        folder.mkdir(parents=True)
        (folder / "activity.json").write_text(json.dumps(
            {"sender": "stories", "activity": ACTIVITY}))
        for number in (1, 2):  # as the earlier version wrote them, one retried already
            (folder / f"{number:032x}.inbox").write_text(json.dumps(
                {"inbox": f"{base}/users/{number}/inbox", "attempts": number - 1,
                 "next_try": ""}))
        DeliveryQueue(tmp_path).enqueue(ACTIVITY, "stories", [f"{base}/users/1/inbox",
                                                              f"{base}/users/3/inbox"])
        assert DeliveryQueue(tmp_path).pending() == 3  # inbox 1 is not queued twice
        deliver_all(tmp_path)
    assert sorted(peer.paths) == [f"/users/{n}/inbox" for n in (1, 2, 3)]
    assert DeliveryQueue(tmp_path).pending() == 0 and not folder.exists()


def test_queueing_a_thousand_inboxes_writes_one_batch_and_syncs_a_few_times(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    queue = DeliveryQueue(tmp_path)
    queue.enqueue(ACTIVITY, "stories", [f"https://s{n}.example/inbox" for n in range(1000)])
    assert len(synced) <= 4  # the batch and activity.json, each with its folder
    assert queue.pending() == 1000 and len(list(queue.folders()[0].glob("*.batch"))) == 1
    synced.clear()
    queue.enqueue(ACTIVITY, "stories", [f"https://s{n}.example/inbox" for n in range(1000)])
    assert synced == []  # all waiting, the same activity: nothing to write
    [folder] = queue.folders()
    with queue.claimed(folder) as entry:
        assert entry is not None
        for slot, _ in entry.items:
            entry.finish(slot)
        journal = entry.journal
    assert 1000 // SYNC_EVERY <= len(synced) <= 1000 // SYNC_EVERY + 3
    assert journal.unsynced == 0 and journal.descriptor is None  # synced when released
    assert queue.pending() == 0


def test_a_journal_line_torn_by_a_power_cut_costs_only_that_line(tmp_path: Path) -> None:
    queue = DeliveryQueue(tmp_path)
    queue.enqueue(ACTIVITY, "stories", ["https://a.example/inbox", "https://b.example/inbox"])
    [folder] = queue.folders()
    (folder / JOURNAL).write_bytes(b'{"batch": "x", "inbox": "https://a.exa')
    with queue.claimed(folder) as entry:
        assert entry is not None and len(entry.items) == 2
        first, second = entry.items
        entry.finish(first[0])
        entry.postpone(second[0], {**second[1], "attempts": 1, "next_try": "2099-01-01"})
    [(_, item)] = queue.read(folder).items
    assert (item["inbox"], item["attempts"]) == ("https://b.example/inbox", 1)
    assert queue.next_try(ACTIVITY["id"]) == datetime.fromisoformat("2099-01-01")


def test_an_inbox_delivered_and_queued_again_is_sent_again(tmp_path: Path) -> None:
    queue = DeliveryQueue(tmp_path)
    queue.enqueue(ACTIVITY, "stories", ["https://a.example/inbox"])
    [folder] = queue.folders()
    with queue.claimed(folder) as entry:
        assert entry is not None
        entry.finish(entry.items[0][0])
    queue.enqueue(ACTIVITY, "stories", ["https://a.example/inbox"])
    assert queue.pending() == 1


def test_tidying_keeps_a_batch_queued_while_it_was_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = DeliveryQueue(tmp_path)
    queue.enqueue(ACTIVITY, "stories", ["https://a.example/inbox"])
    [folder] = queue.folders()
    with queue.claimed(folder) as entry:
        assert entry is not None
        entry.finish(entry.items[0][0])
    read = queue_module._items

    def read_then_queue(*arguments: Any) -> list[Any]:
        items = read(*arguments)  # the enqueue of another process lands right after
        monkeypatch.setattr(queue_module, "_items", read)
        queue.enqueue(ACTIVITY, "stories", ["https://b.example/inbox"])
        return items

    monkeypatch.setattr(queue_module, "_items", read_then_queue)
    queue.tidy()
    assert queue.pending() == 1
    [(_, item)] = queue.read(folder).items
    assert item["inbox"] == "https://b.example/inbox"


def test_a_slow_server_does_not_hold_the_slots_of_the_others(tmp_path: Path) -> None:
    """Four deliveries to a slow server, one at a time there, queued before one to a quick
    server: the quick one goes at once, not after the slow server's queue."""
    arrivals: list[str] = []

    async def inbox(request: web.Request) -> web.Response:
        arrivals.append(request.host)
        if request.match_info["speed"] == "slow":
            await asyncio.sleep(0.3)
        return web.Response(status=202)

    def app() -> web.Application:
        made = web.Application()
        made.router.add_post("/{speed}/inbox", inbox)
        return made

    queue = DeliveryQueue(tmp_path)
    with serving(app()) as slow, serving(app()) as quick:
        for number in range(4):  # batches are delivered in the order they were queued
            queue.enqueue({"id": f"{ACTIVITY['id']}{number}"}, "stories", [f"{slow}/slow/inbox"])
        queue.enqueue({"id": f"{ACTIVITY['id']}9"}, "stories", [f"{quick}/quick/inbox"])
        key = CryptographicSecret.from_pem("k", read_private_key(TEST_KEYS)).private_key
        asyncio.run(Deliverer(DataStore(tmp_path), ApUrls("https://stories.example.org"), key,
                              allow_loopback=True, max_attempts=3, concurrency=3,
                              per_host=1).run())
    quick_host = quick.removeprefix("http://")
    assert len(arrivals) == 5 and arrivals.index(quick_host) <= 1, arrivals


def loopback_deliverer(folder: Path) -> Deliverer:
    key = CryptographicSecret.from_pem("k", read_private_key(TEST_KEYS)).private_key
    return Deliverer(DataStore(folder), ApUrls("https://stories.example.org"), key,
                     allow_loopback=True, max_attempts=3, concurrency=3, per_host=1)


def test_a_servers_retry_after_waits_a_day_at_most_and_never_breaks_the_run(
        tmp_path: Path) -> None:
    """A hostile follower's server names a wait too large for a date (which would stop
    every run, the take-down's too) or of years (which would hold the delivery that long)."""
    async def inbox(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": request.match_info["wait"]})

    made = web.Application()
    made.router.add_post("/{wait}/inbox", inbox)
    queue = DeliveryQueue(tmp_path)
    with serving(made) as base:
        waits = ("9" * 30, str(10 * 365 * 86400), "Fri, 01 Jan 9999 00:00:00 GMT")
        queue.enqueue(ACTIVITY, "stories", [f"{base}/{wait}/inbox" for wait in waits])
        outcome = asyncio.run(loopback_deliverer(tmp_path).run())
    assert outcome.retried_later == 3
    latest = datetime.now(UTC) + timedelta(days=1, minutes=1)
    items = queue.read(queue.folders()[0]).items
    assert len(items) == 3 and all(
        datetime.fromisoformat(item["next_try"]) < latest for _, item in items)


def test_a_delivery_due_after_any_wait_this_clock_could_have_set_is_due_now(
        tmp_path: Path) -> None:
    """A journal from the future (a clock that was ahead, a copied data folder) does not
    hold a delivery for years: no wait is ever longer than about a day."""
    arrived: list[str] = []

    async def inbox(request: web.Request) -> web.Response:
        arrived.append(request.path)
        return web.Response(status=202)

    made = web.Application()
    made.router.add_post("/{name}/inbox", inbox)
    queue = DeliveryQueue(tmp_path)
    with serving(made) as base:
        queue.enqueue(ACTIVITY, "stories", [f"{base}/far/inbox", f"{base}/soon/inbox"])
        [folder] = queue.folders()
        with queue.claimed(folder) as entry:
            assert entry is not None
            for slot, item in entry.items:
                wait = timedelta(days=3650 if "far" in slot.inbox else 0.5)
                entry.postpone(slot, {**item, "attempts": 1,
                                      "first_try": datetime.now(UTC).isoformat(),
                                      "next_try": (datetime.now(UTC) + wait).isoformat()})
        outcome = asyncio.run(loopback_deliverer(tmp_path).run())
    assert arrived == ["/far/inbox"] and outcome.retried_later == 1
