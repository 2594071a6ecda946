"""Inbox throughput: signed Follows verified and recorded per second, over loopback.

    python bench/inbox.py [--follows 1000] [--concurrency 50]

Starts the site (built in a temporary folder, inbox on) in a process of its own and a
peer server on 127.0.0.1, then sends signed Follows from distinct peer actors, as bovine's
client signs them. Each Follow costs the inbox a signed GET of the follower's actor (its
key), a signature check, an atomic write, and a signed Accept back. Prints follows per
second, how many were recorded, and the size of the follower files. Prints figures; never
fails on them (target: 300 a second, none lost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from bovine.clients.signed_http import legacy_digest_method
from bovine.clients.signed_http_methods import signed_post
from bovine.crypto.types import CryptographicSecret

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from milpa.activitypub import ACTIVITY_JSON  # noqa: E402
from tests.conftest import MiniSite, story  # noqa: E402
from tests.servers import serving  # noqa: E402
from tests.test_inbox import PEER_PRIVATE, Peer  # noqa: E402


async def flood(inbox: str, site_actor: str, peer: Peer, count: int, concurrency: int
                ) -> list[int]:
    limit = asyncio.Semaphore(concurrency)
    # Loading an RSA private key takes milliseconds: load it once, sign as many actors.
    key = CryptographicSecret.from_pem("unused", PEER_PRIVATE).private_key
    async with aiohttp.ClientSession() as http:
        async def one(number: int) -> int:
            follow = {"id": f"{peer.actor(number)}/follow", "type": "Follow",
                      "actor": peer.actor(number), "object": site_actor}
            async with limit:
                response = await signed_post(
                    http, CryptographicSecret(peer.key(number), key), inbox,
                    json.dumps(follow), legacy_digest_method, content_type=ACTIVITY_JSON)
                async with response:
                    return response.status
        return await asyncio.gather(*(one(n) for n in range(count)))


SITE_PROCESS = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from milpa_inbox.inbox import inbox_from_settings
from milpa_inbox.server import run
from milpa_inbox.web import site_app
from tests.conftest import MiniSite, story
site = MiniSite.__new__(MiniSite)
site.base = Path({base!r}); site.content = site.base / "content"; site.output = site.base / "output"
settings = site.settings(SITEURL={url!r}, MILPA_INBOX_ALLOW_LOOPBACK=True)
site.build(SITEURL={url!r})
run(site_app(site.output, {url!r}, inbox_from_settings(settings, site.output, {url!r})),
    "127.0.0.1", {port}, settings, None)  # as `serve` runs it, without an access log
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--follows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        site = MiniSite(Path(folder))
        site.add("stories/a.md", story("Agua"))
        peer = Peer(verify=False)  # the peer only counts the Accepts it receives
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # The site and its inbox run in a process of their own, as in production.
        server = subprocess.Popen([sys.executable, "-c", SITE_PROCESS.format(
            root=str(ROOT), base=str(site.base), url=base, port=port)])
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            with serving(peer.app):
                started = time.perf_counter()
                statuses = asyncio.run(flood(f"{base}/ap/inboxes/stories",
                                             f"{base}/ap/actors/stories", peer,
                                             arguments.follows, arguments.concurrency))
                seconds = time.perf_counter() - started
                deadline = time.monotonic() + 60
                while len(peer.received) < arguments.follows and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(10)
        recorded = len(list((site.base / "data/followers/stories").glob("*.json")))
        on_disk = sum(p.stat().st_size for p in (site.base / "data").rglob("*.json"))
    accepted = statuses.count(202)
    print(f"{arguments.follows} signed Follows, {arguments.concurrency} at a time: "
          f"{arguments.follows / seconds:.0f} a second ({seconds:.1f} s); {accepted} accepted, "
          f"{recorded} recorded, {arguments.follows - recorded} lost")
    print(f"{len(peer.received)} signed Accepts delivered back to the peer")
    print(f"Followers on file: {on_disk / 1024:.0f} KB")


if __name__ == "__main__":
    main()
