"""The bundled demo, built: structure, accessibility, weight budgets and privacy."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from .conftest import ROOT
from .privacy import digests, image_leaks, video_tags

pytestmark = pytest.mark.slow

STORY_BUDGET = 14 * 1024  # HTML + CSS, gzip-compressed: one TCP round trip
LISTING_BUDGET = 30 * 1024
# Attributes through which a page makes the browser fetch something.
FETCHING = {"img": ("src", "srcset"), "source": ("src", "srcset"), "video": ("src", "poster"),
            "audio": ("src",), "script": ("src",), "iframe": ("src",), "embed": ("src",),
            "object": ("data",), "link": ("href",), "input": ("src",)}


def pages(output: Path) -> Iterator[tuple[Path, BeautifulSoup]]:
    for path in sorted(output.rglob("*.html")):
        yield path, BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def fetched_urls(page: BeautifulSoup) -> Iterator[str]:
    for tag, attributes in FETCHING.items():
        for element in page.find_all(tag):
            if tag == "link" and not {"stylesheet", "icon", "preload", "prefetch",
                                      "manifest"} & set(element.get("rel", [])):
                continue
            for attribute in attributes:
                value = element.get(attribute)
                if value and attribute == "srcset":
                    yield from (candidate.split()[0] for candidate in value.split(","))
                elif value:
                    yield value
    for style in page.find_all("style"):
        yield from re.findall(r"url\(([^)]*)\)", style.get_text())


def story_pages(output: Path) -> list[Path]:
    return sorted((output / "stories").rglob("index.html"))


def test_the_demo_has_what_the_issue_asks_for(demo_output: Path) -> None:
    stories = {p: BeautifulSoup(p.read_text(), "html.parser") for p in story_pages(demo_output)}
    assert len(stories) >= 8
    langs = {page.article["lang"] for page in stories.values()}
    assert {"es", "en", "quc", "nah"} <= langs
    bylines = [page.select_one("article header p.meta") for page in stories.values()]
    assert len({a["href"] for meta in bylines for a in meta.select('a[href^="/author/"]')}) >= 3
    assert len({a["href"] for meta in bylines for a in meta.select('a[href^="/territory/"]')}) >= 3
    assert any(page.select_one("details.cw") for page in stories.values())
    assert any(page.select_one('header a[hreflang]') for page in stories.values()
               if "Also in" in page.get_text())
    assert any(page.select_one("video") for page in stories.values())
    home = BeautifulSoup((demo_output / "index.html").read_text(), "html.parser")
    assert home.select_one("ul.stories li").select_one(".pin")
    for slug in ("about", "rules", "follow"):
        assert (demo_output / slug / "index.html").is_file()


def test_every_page_is_accessible_in_structure(demo_output: Path) -> None:
    for path, page in pages(demo_output):
        where = path.relative_to(demo_output)
        assert page.html.get("lang"), where
        assert page.find("main", id="main"), where
        assert page.find("a", class_="skip")["href"] == "#main", where
        assert page.find("nav") and page.find("header") and page.find("footer"), where
        assert len(page.find_all("h1")) == 1, where
        for img in page.find_all("img"):
            # The logo beside the site's name says nothing the name does not (WCAG H2).
            decorative = img.find_parent("a", class_="brand") is not None
            assert img.get("alt", "").strip() or decorative, f"{where}: {img}"
            assert img.get("width") and img.get("height"), f"{where}: {img}"
        for element in page.select("[lang]"):
            assert re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", element["lang"]), where
    css = (ROOT / "theme/templates/milpa.css").read_text()
    assert "prefers-color-scheme:dark" in css and "@media print" in css
    assert ":focus-visible" in css


def test_story_pages_lazy_load_photos_and_never_preload_videos(demo_output: Path) -> None:
    for path in story_pages(demo_output):
        page = BeautifulSoup(path.read_text(), "html.parser")
        for img in page.select("article img"):
            in_cover = img.find_parent("figure", class_="cover") is not None
            assert in_cover or img.get("loading") == "lazy", path
            assert img["decoding"] == "async" and img["srcset"] and img["sizes"]
        for video in page.find_all("video"):
            assert video["preload"] == "none" and video["poster"]
            assert re.search(r"\(\d+ KB\)", video.find_parent("figure").figcaption.get_text())


def test_no_page_asks_for_anything_from_another_host(demo_output: Path) -> None:
    for path, page in pages(demo_output):
        assert page.find("script") is None, path
        for url in fetched_urls(page):
            parts = urlsplit(url)
            assert parts.scheme in ("", "data") and not parts.netloc, f"{path}: {url}"
            if not parts.scheme:
                assert (demo_output / parts.path.lstrip("/")).exists(), f"{path}: {url}"


def test_open_graph_previews_use_a_small_jpeg(demo_output: Path) -> None:
    page = BeautifulSoup((demo_output / "stories/water-returns/index.html").read_text(),
                         "html.parser")
    image = page.find("meta", property="og:image")["content"]
    assert image.endswith(".jpg") and (demo_output / image.lstrip("/")).stat().st_size < 100_000
    assert page.find("meta", property="og:image:alt")["content"]
    assert page.find("link", rel="alternate", hreflang="en")


def test_page_weight_budgets(demo_output: Path) -> None:
    """HTML and its (inline) CSS, gzip-compressed; nothing else is requested before images."""
    for path, page in pages(demo_output):
        weight = len(gzip.compress(path.read_bytes(), 9))
        budget = STORY_BUDGET if "stories" in path.parts else LISTING_BUDGET
        assert weight <= budget, f"{path}: {weight} bytes"
        assert not page.select('link[rel="stylesheet"]'), path


def test_no_metadata_survives_in_any_published_file(demo_output: Path) -> None:
    # What the demo's photo and video carried before they were cleaned (tests that need
    # tainted sources make their own: conftest.photo_with_secrets).
    secrets = (b"SN-4417-PRIVATE", b"PhoneMaker", b"17.0654", b"Model X12")
    leaks = {}
    for path in demo_output.rglob("*"):
        if path.suffix in (".jpg", ".webp", ".avif", ".png"):
            leaks[path] = image_leaks(path, secrets)
        elif path.is_file():
            data = path.read_bytes()
            leaks[path] = [s for s in secrets if s in data]
    assert {p: why for p, why in leaks.items() if why} == {}
    assert not [p for p in demo_output.rglob("*") if p.is_file() and b"PRIVATE KEY" in
                p.read_bytes()]
    videos = list(demo_output.rglob("*.mp4"))
    assert videos
    for video in videos:
        tags = video_tags(video)
        assert not {"location", "location-eng", "comment", "make", "model", "encoder",
                    "creation_time"} & set(tags), tags


def test_no_source_photo_or_video_is_published_as_it_was(demo_output: Path) -> None:
    sources = digests(ROOT / "content/photos") | digests(ROOT / "content/media")
    assert set(sources) & set(digests(demo_output)) == set()
