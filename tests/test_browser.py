"""The demo in a real headless browser (Debian's chromium), served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from milpa_inbox.web import site_app

from .conftest import require_tool
from .servers import serving

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
# Without these, chromium phones home at start-up (and this machine has no internet).
QUIET_CHROMIUM = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-default-apps"]


@pytest.fixture
def demo_server(demo_output: Path) -> Iterator[str]:
    with serving(site_app(demo_output)) as base:
        yield base


def test_a_story_renders_with_its_images_and_no_other_host(demo_server: str) -> None:
    require_tool("chromium")
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{demo_server}/stories/feria-de-semillas-nativas-en-el-valle/",
                      wait_until="load", timeout=20_000)
            assert page.locator("h1").inner_text() == "Feria de semillas nativas en el Valle"
            page.locator("figure:not(.cover) img").scroll_into_view_if_needed()
            page.wait_for_function(
                "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)",
                timeout=10_000)
            # The story's own photos (the header's logo is the site's, a PNG).
            images = page.evaluate("Array.from(document.querySelectorAll('main img'))"
                                   ".map(i => [i.currentSrc, i.naturalWidth])")
            assert len(images) == 2
            assert all(source.endswith(".avif") and width > 0 for source, width in images)
            page.goto(f"{demo_server}/stories/our-community-radio-goes-on-air/",
                      wait_until="load", timeout=20_000)
            assert page.locator("video").get_attribute("preload") == "none"
        finally:
            browser.close()
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {urlsplit(demo_server).netloc}
    assert not any(url.endswith(".mp4") for url in requested)
