"""Delivery rate of announce against the ceiling of this machine, over loopback.

    python bench/announce.py [--followers 10000] [--inboxes 1000] [--hosts 50]

Records FOLLOWERS followers spread over INBOXES shared inboxes on HOSTS loopback addresses
(127.0.0.2, 127.0.0.3, …, all served by one process of their own), and times announce's
two steps for one new story: queueing (`milpa_delivery.announce.enqueue`: the followers
read, the queue's batch and the ledger entry written and synced) and delivery (signed POSTs
with its global and per-host limits, each answer written to the queue's journal).
In the same run, alternating ROUNDS times, a bare loop sends the same number of signed
POSTs with the same HTTP client and the same concurrency: the ceiling. Prints both median
rates and their ratio (target: at least 0.8), the same without the followers' read (which
is not the queue's), and the followers per shared inbox found.
Prints figures; never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from bovine.clients.signed_http import legacy_digest_method_uppercase
from bovine.clients.utils import host_target_from_url
from bovine.crypto.http_signature import build_signature
from bovine.crypto.types import CryptographicSecret

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from milpa.activitypub import ACTIVITY_JSON, ApUrls  # noqa: E402
from milpa.announce import Change, LedgerEntry, Plan  # noqa: E402
from milpa.keys import create_key_pair, read_private_key  # noqa: E402
from milpa.state import DataStore, Follower  # noqa: E402
from milpa_delivery.announce import enqueue, inboxes_of  # noqa: E402
from milpa_delivery.deliverer import Deliverer  # noqa: E402

FLEET = """
import asyncio
from aiohttp import web
async def inbox(request):
    await request.read()
    return web.Response(status=202)
async def main():
    app = web.Application()
    app.router.add_post("/{{path:.*}}", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for host in {hosts!r}:
        await web.TCPSite(runner, host, {port}).start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
SITE = "https://stories.example.org"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def bare_loop(inboxes: list[str], body: str, key: object, concurrency: int) -> float:
    """The ceiling: the same signed POSTs, nothing else."""
    _, digest = legacy_digest_method_uppercase(body.encode())
    secret = CryptographicSecret(f"{SITE}/ap/actors/stories#main-key", key)
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=30, sock_connect=5, sock_read=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def one(inbox: str) -> None:
            host, target = host_target_from_url(inbox)
            signature = (build_signature(host, "post", target)
                         .with_field("date", time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                           time.gmtime()))
                         .with_field("digest", digest)
                         .with_field("content-type", ACTIVITY_JSON))
            headers = {**signature.headers, "signature": signature.sign_for_http_draft(secret)}
            async with limit, http.post(inbox, data=body.encode(), headers=headers) as r:
                await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(one(inbox) for inbox in inboxes))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--inboxes", type=int, default=1_000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    hosts = [f"127.0.0.{2 + n}" for n in range(arguments.hosts)]
    port = free_port()
    fleet = subprocess.Popen([sys.executable, "-c", FLEET.format(hosts=hosts, port=port)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert fleet.stdout is not None and fleet.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            create_key_pair(base / "keys")
            key = CryptographicSecret.from_pem("x", read_private_key(base / "keys")).private_key
            store = DataStore(base / "data")
            shared = [f"http://{hosts[n % len(hosts)]}:{port}/server{n}/inbox"
                      for n in range(arguments.inboxes)]
            started = time.perf_counter()
            for number in range(arguments.followers):
                inbox = shared[number % len(shared)]
                store.record_follower("stories", Follower(
                    f"{inbox.removesuffix('/inbox')}/users/{number}", f"{inbox}/{number}",
                    inbox, "2026-06-01T00:00:00+00:00"))
            recorded = time.perf_counter() - started
            inboxes = sorted(inboxes_of(store, ("stories",)))
            ours_rates, bare_rates, outcomes, queueing, reads = [], [], [], [], []
            for round_number in range(arguments.rounds):  # alternating, medians reported
                activity = {"@context": "https://www.w3.org/ns/activitystreams",
                            "id": f"{SITE}/ap/actors/stories#announces/es/{round_number}",
                            "type": "Announce", "actor": f"{SITE}/ap/actors/stories",
                            "object": f"{SITE}/ap/objects/es/bench"}
                entry = LedgerEntry(f"es/bench{round_number}", activity["object"], "hash",
                                    "published", sender="stories", audience=("stories",))
                reading = time.perf_counter()  # apart: how much of queueing is this read
                inboxes_of(store, ("stories",))
                reads.append(time.perf_counter() - reading)
                started = time.perf_counter()
                enqueue(Plan([Change(activity, "stories", ("stories",), entry)]), store)
                queueing.append(time.perf_counter() - started)
                deliverer = Deliverer(store, ApUrls(SITE), key, allow_loopback=True,
                                      max_attempts=16, concurrency=20, per_host=2)
                outcome = asyncio.run(deliverer.run())
                outcomes.append(outcome)
                ours_rates.append(outcome.delivered / (time.perf_counter() - started))
                seconds = asyncio.run(bare_loop(inboxes, json.dumps(activity), key, 20))
                bare_rates.append(len(inboxes) / seconds)
    finally:
        fleet.terminate()
        fleet.wait(10)
    ours, bare = statistics.median(ours_rates), statistics.median(bare_rates)
    outcome = outcomes[-1]
    print(f"{arguments.followers} followers on {len(inboxes)} shared inboxes "
          f"({arguments.followers / len(inboxes):.1f} followers per inbox) on "
          f"{len(hosts)} loopback hosts; recorded in {recorded:.1f} s")
    print(f"announce: {ours:.0f} deliveries/s (median of {arguments.rounds}; last round "
          f"{outcome.delivered} delivered, retried later {outcome.retried_later}, gave up "
          f"{outcome.gave_up})")
    print(f"bare loop, same client and signing: {bare:.0f}/s; ratio {ours / bare:.2f}")
    seconds = [len(inboxes) / rate for rate in ours_rates]
    delivering = statistics.median(len(inboxes) / (total - queued)
                                   for total, queued in zip(seconds, queueing, strict=True))
    writing = statistics.median(len(inboxes) / (total - read)
                                for total, read in zip(seconds, reads, strict=True))
    print(f"of which queueing {statistics.median(queueing):.3f} s a round (reading the "
          f"followers {statistics.median(reads):.3f} s, then the queue and the ledger written "
          f"and synced)")
    print(f"without reading the followers (the queue written, then delivered): {writing:.0f}/s, "
          f"ratio {writing / bare:.2f}; delivery alone {delivering:.0f}/s, ratio "
          f"{delivering / bare:.2f}")


if __name__ == "__main__":
    main()
