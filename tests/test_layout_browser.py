"""Every page type in headless chromium at phone and desktop widths: layout and axe-core."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from milpa_inbox.web import site_app

from .conftest import ROOT, MiniSite, photo_with_secrets, require_tool, story
from .servers import serving
from .test_browser import CHROMIUM, QUIET_CHROMIUM

pytestmark = [pytest.mark.slow, pytest.mark.browser]
AXE = ROOT / "node_modules/axe-core/axe.min.js"
WIDTHS = (320, 360, 1280)
PHONE = {"width": 360, "height": 800}
# One page of each type the theme has.
PAGE_TYPES = {
    "home": "/",
    "story": "/stories/water-returns/",
    "story-kiche": "/stories/ri-ja-pa-ri-juyub/",
    "story-warning": "/stories/the-assembly-defends-the-hillside-forest/",
    "translation": "/stories/water-returns/en/",
    "page": "/about/",
    "follow": "/follow/",
    "territory": "/territory/valle-del-rio-verde/",
    "territories": "/territory/",
    "author": "/author/rosa-ventura/",
    "authors": "/author/",
    "tag": "/tag/agua/",
    "topics": "/tag/",
    "language": "/lang/quc/",
    "languages": "/lang/",
    "archive": "/archive/",
}
# Measured in the page: what scrolls sideways, how tall the header and the menu are.
LAYOUT = """() => {
  const root = document.documentElement;
  const nav = document.querySelector("header.site nav ul");
  const link = nav.querySelector("li");
  const tallest = Math.max(0, ...[...document.querySelectorAll("main img, main video")]
    .map(e => e.getBoundingClientRect().height));
  return {overflow: root.scrollWidth - root.clientWidth,
          header: document.querySelector("header.site").getBoundingClientRect().height,
          navLines: Math.round(nav.getBoundingClientRect().height
                               / link.getBoundingClientRect().height),
          tallest: tallest, viewport: window.innerHeight};
}"""


@pytest.fixture(scope="module")
def demo_site(demo_output: Path) -> Iterator[str]:
    with serving(site_app(demo_output)) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[Any]:
    """Started after the sites are served: playwright's loop then owns this thread."""
    require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


def loopback_only(page: Any, requested: list[str]) -> None:
    """Every request is recorded, and any to another host is stopped before it is sent."""
    def route(found: Any) -> None:
        requested.append(found.request.url)
        if urlsplit(found.request.url).hostname == "127.0.0.1":
            found.continue_()
        else:
            found.abort()
    page.route("**/*", route)


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_type_scrolls_sideways_and_the_header_stays_small(
        demo_site: str, browser: Any, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": PHONE["height"]})
    page = context.new_page()
    requested: list[str] = []
    loopback_only(page, requested)
    try:
        for name, path in PAGE_TYPES.items():
            page.goto(demo_site + path, wait_until="load")
            found = page.evaluate(LAYOUT)
            assert found["overflow"] <= 0, f"{name} scrolls sideways at {width}px: {found}"
            assert found["tallest"] <= found["viewport"], f"{name}: a photo is too tall"
            if width == PHONE["width"]:
                assert found["header"] <= PHONE["height"] / 6, f"{name}: header {found}"
                assert found["navLines"] == 1, f"{name}: the menu wraps: {found}"
            screenshots = os.environ.get("MILPA_SCREENSHOTS")
            if screenshots and width == PHONE["width"]:
                page.screenshot(path=str(Path(screenshots) / f"{name}-{width}.jpeg"),
                                type="jpeg", quality=45)
    finally:
        context.close()
    assert requested and all(urlsplit(url).hostname == "127.0.0.1" for url in requested)


def test_axe_finds_no_serious_or_critical_violation_on_any_page_type(
        demo_site: str, browser: Any) -> None:
    if not AXE.is_file():
        message = "needs axe-core: run `python3 dev.py test` or `npm install axe-core`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # The site's policy allows no script at all: axe is let in for the check only.
    context = browser.new_context(viewport=PHONE, bypass_csp=True)
    page = context.new_page()
    loopback_only(page, [])
    found = {}
    try:
        for name, path in PAGE_TYPES.items():
            page.goto(demo_site + path, wait_until="load")
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate("async () => (await axe.run(document)).violations")
            bad = [(v["id"], v["impact"], len(v["nodes"])) for v in violations
                   if v["impact"] in ("serious", "critical")]
            if bad:
                found[name] = bad
    finally:
        context.close()
    assert not found


@pytest.fixture
def tall_photo_site(mini_site: MiniSite) -> Iterator[str]:
    photo_with_secrets(mini_site.content / "photos/tall.jpg", (600, 1400))
    mini_site.add("stories/a.md", story("Tall", "![A tall cedar](photos/tall.jpg)", slug="a"))
    mini_site.build()
    with serving(site_app(mini_site.output)) as base:
        yield base


def test_a_portrait_photo_is_never_taller_than_the_screen(tall_photo_site: str,
                                                          browser: Any) -> None:
    for width, height in ((360, 640), (1280, 800)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        loopback_only(page, [])
        try:
            page.goto(f"{tall_photo_site}/stories/a/", wait_until="load")
            found = page.evaluate(LAYOUT)
        finally:
            context.close()
        assert 0 < found["tallest"] <= height, (width, found)
