"""Atom and RSS for every stream, built by real Pelican and read back with feedparser."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
from aiohttp import web
from bs4 import BeautifulSoup
from click.testing import CliRunner
from lxml import etree
from pelican.writers import Writer

import publish

from .conftest import MiniSite, photo_with_secrets, settings_file, story
from .servers import serving

BASE = "https://stories.example.org"
UNICODE_TITLE = "Kʼicheʼ: ¿Jas ub'ij? Tlazohcamati, señora 🌽"


@pytest.fixture
def site(mini_site: MiniSite) -> MiniSite:
    photo_with_secrets(mini_site.content / "photos/field.jpg", (1200, 800))
    mini_site.add("stories/a.md", story(
        UNICODE_TITLE, "Maltyox chi re ri ja'. Ñandú, ü, 🌽.\n\n[next](/stories/b/)",
        Lang="quc", Tags="agua, semillas", Authors="Ixchel Tzoc", Date="2026-05-03 09:30",
        Cover="photos/field.jpg", Cover_Alt="Maize field"))
    mini_site.add("stories/b.md", story(
        "Roads & <rivers> ]]> closed", '<div class="note">Raw & <b>bold</b> HTML</div>',
        Lang="en", Territory="Costa Chica", Authors="Tomás Xolo", Date="2026-05-02 10:00",
        Content_Warning="Police violence", Slug="b"))
    mini_site.add("stories/gone.md", story("Gone notice", Date="2026-05-30", Expires="24h"))
    return mini_site


def feeds_of(output: Path) -> list[Path]:
    return sorted((output / "feeds").rglob("*.xml"))


def parsed(path: Path) -> feedparser.FeedParserDict:
    document = feedparser.parse(path.read_bytes())
    assert not document.bozo, f"{path}: {document.get('bozo_exception')}"
    return document


def test_every_stream_has_an_atom_and_an_rss_feed_that_parse(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    relative = {p.relative_to(site.output).as_posix() for p in feeds_of(site.output)}
    for stem in ("feeds/all", "feeds/territory/sierra-norte", "feeds/territory/costa-chica",
                 "feeds/tag/agua", "feeds/tag/semillas", "feeds/author/ixchel-tzoc",
                 "feeds/author/tomas-xolo", "feeds/lang/quc", "feeds/lang/en"):
        assert {f"{stem}.atom.xml", f"{stem}.rss.xml"} <= relative
    assert len(relative) == 18
    for path in feeds_of(site.output):
        document = parsed(path)
        assert document.version == ("atom10" if path.name.endswith(".atom.xml") else "rss20")
        etree.fromstring(path.read_bytes())  # well-formed for a strict XML parser too
        self_link = next(link.href for link in document.feed.links if link.rel == "self")
        assert self_link == f"{BASE}/{path.relative_to(site.output).as_posix()}"
        for entry in document.entries:
            assert entry.id and entry.title and entry.link and entry.published_parsed


def test_entries_carry_what_a_reader_needs(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    atom = parsed(site.output / "feeds/all.atom.xml")
    first, second = atom.entries
    assert first.title == UNICODE_TITLE
    assert first.link == f"{BASE}/stories/kiche-jas-ubij-tlazohcamati-senora/"
    assert first.published == "2026-05-03T09:30:00-06:00"
    assert first.updated == "2026-05-03T09:30:00-06:00"
    assert [a.name for a in first.authors] == ["Ixchel Tzoc"]
    assert [t.term for t in first.tags] == ["sierra-norte", "agua", "semillas"]
    content = first.content[0].value
    assert 'src="https://stories.example.org/media/' in content
    assert f'href="{BASE}/stories/b/"' in content
    assert 'src="/' not in content and 'href="/' not in content
    enclosure = first.enclosures[0]
    rendition = site.output / enclosure.href.removeprefix(f"{BASE}/")
    assert enclosure.type == "image/jpeg" and int(enclosure.length) == rendition.stat().st_size
    warned = second.content[0].value
    assert warned.startswith("<p><strong>Content warning: Police violence</strong></p>")
    assert second.summary.startswith("<p><strong>Content warning: Police violence</strong></p>")
    raw = (site.output / "feeds/all.atom.xml").read_text(encoding="utf-8")
    assert '<entry xml:lang="quc">' in raw and '<entry xml:lang="en">' in raw
    rss = (site.output / "feeds/lang/quc.rss.xml").read_text(encoding="utf-8")
    assert "<language>quc</language>" in rss and "<dc:language>quc</dc:language>" in rss


def test_unicode_survives_byte_for_byte(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    for name in ("all.atom.xml", "all.rss.xml", "lang/quc.atom.xml", "lang/quc.rss.xml"):
        raw = (site.output / "feeds" / name).read_bytes()
        assert raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>"), name
        # As UTF-8 bytes, not as character references.
        assert f"<title>{UNICODE_TITLE}</title>".encode() in raw, name
        assert "Ñandú, ü, 🌽".encode() in raw, name


def test_markup_in_titles_and_bodies_stays_valid_xml(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    for path in (site.output / "feeds/all.atom.xml", site.output / "feeds/all.rss.xml"):
        etree.fromstring(path.read_bytes())
        entry = next(e for e in parsed(path).entries if e.title.startswith("Roads"))
        assert entry.title == "Roads & <rivers> ]]> closed"
        assert '<div class="note">Raw & <b>bold</b> HTML</div>' in entry.content[0].value


def test_ids_are_stable_across_builds_and_edits(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    before = {p.name: [e.id for e in parsed(p).entries] for p in feeds_of(site.output)}
    again = site.build(SITEURL=BASE)
    assert again.changed_feeds == ()
    story_file = site.content / "stories/a.md"
    story_file.write_text(story_file.read_text().replace("Maltyox", "Maltyox chik"))
    edited = site.build(SITEURL=BASE)
    assert "feeds/all.atom.xml" in edited.changed_feeds
    after = {p.name: [e.id for e in parsed(p).entries] for p in feeds_of(site.output)}
    assert after == before
    assert all(i.startswith("tag:stories.example.org,2026-05-0") for i in before["all.atom.xml"])


def test_expired_stories_are_in_no_feed(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    for path in feeds_of(site.output):
        assert b"Gone notice" not in path.read_bytes(), path


def test_feeds_are_capped_and_big_feeds_can_carry_summaries(mini_site: MiniSite) -> None:
    for day in range(1, 26):
        mini_site.add(f"stories/s{day}.md", story(f"Story {day}", f"Full text {day}.",
                                                  Date=f"2026-05-{day:02d}"))
    mini_site.build(SITEURL=BASE)
    capped = parsed(mini_site.output / "feeds/all.atom.xml")
    assert [e.title for e in capped.entries] == [f"Story {d}" for d in range(25, 5, -1)]
    mini_site.build(SITEURL=BASE, MILPA_FEED_MAX_ITEMS=5, MILPA_FEED_SITE_CONTENT="summary")
    site_feed = parsed(mini_site.output / "feeds/all.atom.xml")
    assert len(site_feed.entries) == 5
    assert all("content" not in entry for entry in site_feed.entries)
    assert all("content" not in e for e in parsed(mini_site.output / "feeds/lang/es.rss.xml")
               .entries)
    territory = parsed(mini_site.output / "feeds/territory/sierra-norte.atom.xml")
    assert territory.entries[0].content[0].value == "<p>Full text 25.</p>"


def test_pelican_writes_no_feed_of_its_own(site: MiniSite, monkeypatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Pelican's own feed writer was used")

    monkeypatch.setattr(Writer, "write_feed", refuse)
    site.build(SITEURL=BASE)


def test_pages_link_the_feeds_that_match_them(site: MiniSite) -> None:
    site.add("pages/follow.md", "Title: Follow\nSlug: follow\nTemplate: follow\n\nFeeds:\n")
    site.build()
    page = BeautifulSoup(site.read("stories/b/index.html"), "html.parser")
    linked = [link["href"] for link in page.find_all("link", type="application/atom+xml")]
    assert linked == ["/feeds/all.atom.xml", "/feeds/territory/costa-chica.atom.xml",
                      "/feeds/lang/en.atom.xml", "/feeds/author/tomas-xolo.atom.xml"]
    for href in linked:
        assert (site.output / href.lstrip("/")).is_file()
    tag_page = BeautifulSoup(site.read("tag/agua/index.html"), "html.parser")
    assert [link["href"] for link in tag_page.find_all("link", type="application/atom+xml")] \
        == ["/feeds/all.atom.xml", "/feeds/tag/agua.atom.xml"]
    follow = BeautifulSoup(site.read("follow/index.html"), "html.parser")
    # The site's feed first, the others folded in a list beneath it: every feed, once.
    listed = [a["href"] for a in follow.select("#feeds ~ p a, #feeds ~ details a")]
    assert len(listed) == len(set(listed)) and listed[:2] == ["/feeds/all.atom.xml",
                                                              "/feeds/all.rss.xml"]
    listed = set(listed)
    assert listed == {f"/{p.relative_to(site.output).as_posix()}" for p in
                      feeds_of(site.output)}


def test_websub_hub_is_named_and_told_about_changed_feeds(
        site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[dict[str, str]] = []

    async def hub(request: web.Request) -> web.Response:
        pings.append(dict(await request.post()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hub", hub)
    with serving(app) as base:
        (site.base / "pelicanconf.py").write_text(settings_file(
            PATH=str(site.content), OUTPUT_PATH=str(site.output),
            CACHE_PATH=str(site.base / "cache"), SITEURL=BASE,
            MILPA_WEBSUB_HUB=f"{base}/hub"))
        monkeypatch.chdir(site.base)
        monkeypatch.delitem(__import__("sys").modules, "pelicanconf", raising=False)
        first = CliRunner().invoke(publish.cli, ["build"], catch_exceptions=False)
        assert "Told the WebSub hub about 18 of 18 changed feeds." in first.output
        assert {p["hub.mode"] for p in pings} == {"publish"}
        assert f"{BASE}/feeds/all.atom.xml" in {p["hub.url"] for p in pings}
        pings.clear()
        again = CliRunner().invoke(publish.cli, ["build"], catch_exceptions=False)
        assert again.exit_code == 0 and pings == [] and "WebSub" not in again.output
    atom = (site.output / "feeds/all.atom.xml").read_text()
    rss = (site.output / "feeds/all.rss.xml").read_text()
    assert f'<link href="{base}/hub" rel="hub"/>' in atom
    assert f'<atom:link rel="hub" href="{base}/hub"/>' in rss
