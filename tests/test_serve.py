"""`publish.py serve`'s app, over a real loopback socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from milpa_inbox.web import site_app


@pytest.fixture
def output(tmp_path: Path) -> Path:
    (tmp_path / "out/stories/a").mkdir(parents=True)
    (tmp_path / "out/index.html").write_text("<!doctype html><title>home</title>")
    (tmp_path / "out/stories/a/index.html").write_text("<!doctype html><title>a</title>")
    (tmp_path / "out/media").mkdir()
    (tmp_path / "out/media/p-1234-320.webp").write_bytes(b"RIFF....WEBP")
    (tmp_path / "out/media/p-1234-360.avif").write_bytes(b"....ftypavif")
    (tmp_path / "out/feeds").mkdir()
    (tmp_path / "out/feeds/all.atom.xml").write_text("<feed/>")
    (tmp_path / "out/feeds/all.rss.xml").write_text("<rss/>")
    (tmp_path / "secret.txt").write_text("outside the site")
    return tmp_path / "out"


async def served(output: Path) -> AsyncIterator[str]:
    runner = web.AppRunner(site_app(output))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the port the OS chose
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_clean_urls_content_types_and_caching(output: Path) -> None:
    async def scenario() -> None:
        async for base in served(output):
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                async with http.get(f"{base}/") as home:
                    assert home.status == 200
                    assert home.headers["Content-Type"] == "text/html; charset=utf-8"
                async with http.get(f"{base}/stories/a/") as story:
                    assert "<title>a</title>" in await story.text()
                async with http.get(f"{base}/stories/a", allow_redirects=False) as bare:
                    assert bare.status == 301 and bare.headers["Location"] == "/stories/a/"
                async with http.get(f"{base}/media/p-1234-320.webp") as photo:
                    assert photo.headers["Content-Type"] == "image/webp"
                    assert "immutable" in photo.headers["Cache-Control"]
                    etag = photo.headers["ETag"]
                async with http.get(f"{base}/media/p-1234-320.webp",
                                    headers={"If-None-Match": etag}) as again:
                    assert again.status == 304
                async with http.get(f"{base}/media/p-1234-360.avif") as avif:
                    assert avif.headers["Content-Type"] == "image/avif"
                    assert "immutable" in avif.headers["Cache-Control"]
                async with http.get(f"{base}/feeds/all.atom.xml") as atom:
                    assert atom.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
                    modified = atom.headers["Last-Modified"]
                async with http.get(f"{base}/feeds/all.atom.xml",
                                    headers={"If-Modified-Since": modified}) as polled:
                    assert polled.status == 304  # a feed reader polling an unchanged feed
                async with http.get(f"{base}/feeds/all.rss.xml") as rss:
                    assert rss.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
                async with http.get(f"{base}/nothing/") as missing:
                    assert missing.status == 404
                async with http.get(f"{base}/%2e%2e/secret.txt") as escape:
                    assert escape.status == 404

    asyncio.run(asyncio.wait_for(scenario(), 20))
