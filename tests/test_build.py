"""Real Pelican builds of miniature sites with the project's settings, plugins and theme."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pelican import Pelican

from milpa_site.build import BuildFailed
from milpa_stories.listing import StoryList

from .conftest import ROOT, TEST_KEYS, MiniSite, photo_with_secrets, story
from .privacy import digests


def soup(site: MiniSite, relative: str) -> BeautifulSoup:
    return BeautifulSoup(site.read(relative), "html.parser")


def story_titles(page: BeautifulSoup) -> list[str]:
    return [h2.a.get_text() for h2 in page.select("ul.stories h2")]


def test_every_configured_plugin_registers(mini_site: MiniSite) -> None:
    settings = mini_site.settings()
    pelican = Pelican(dict(settings))
    registered = [plugin.__name__ for plugin in pelican.plugins]
    assert registered == settings["PLUGINS"] == [
        "milpa_stories", "milpa_media", "milpa_feeds", "milpa_activitypub", "milpa_replies",
        "milpa_i18n", "milpa_neighbours", "milpa_brand"]


def test_a_plugin_that_fails_to_load_fails_the_build(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("A"))
    with pytest.raises(BuildFailed, match="did not register"):
        mini_site.build(PLUGINS=["milpa_stories", "milpa_media", "no_such_plugin"])
    assert not mini_site.output.exists()


def test_territory_tags_and_language_pages(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", Tags="agua, semillas", Lang="quc"))
    mini_site.add("stories/b.md", story("Seeds", Territory="Costa Chica", Lang="en"))
    summary = mini_site.build()
    assert summary.stories == 2
    territory = soup(mini_site, "territory/sierra-norte/index.html")
    assert story_titles(territory) == ["Agua"]
    assert story_titles(soup(mini_site, "tag/semillas/index.html")) == ["Agua"]
    k_iche = soup(mini_site, "lang/quc/index.html")
    assert story_titles(k_iche) == ["Agua"]
    assert k_iche.h1.span["lang"] == "quc"
    languages = soup(mini_site, "lang/index.html")
    assert {a["hreflang"]: a.get_text() for a in languages.select("main a")} == {
        "quc": "Kʼicheʼ", "en": "English"}


def test_a_languages_stories_are_paginated_like_a_territorys(mini_site: MiniSite) -> None:
    for day in range(1, 6):
        mini_site.add(f"stories/s{day}.md", story(f"Story {day}", Lang="quc",
                                                 Date=f"2026-03-0{day}"))
    mini_site.build(DEFAULT_PAGINATION=2)
    # Cut from the oldest: page 2 holds the two oldest; the front page the newest full
    # page of two and the one story not yet on a full page.
    pages = [story_titles(soup(mini_site, path))
             for path in ("lang/quc/index.html", "lang/quc/page/2/index.html")]
    assert pages == [["Story 5", "Story 4", "Story 3"], ["Story 2", "Story 1"]]
    assert not (mini_site.output / "lang/quc/page/3").exists()
    assert pages[0] == story_titles(soup(mini_site, "territory/sierra-norte/index.html"))
    mini_site.build(DEFAULT_PAGINATION=2, PAGINATED_TEMPLATES={
        "index": None, "tag": None, "category": None, "author": None, "language": 5})
    assert len(story_titles(soup(mini_site, "lang/quc/index.html"))) == 5
    assert not (mini_site.output / "lang/quc/page/2").exists()


def test_pinned_stories_lead_the_home_page_only(mini_site: MiniSite) -> None:
    mini_site.add("stories/old.md", story("Old pinned", Date="2026-01-01", Pinned="true"))
    mini_site.add("stories/new.md", story("Newest", Date="2026-05-20"))
    mini_site.add("stories/mid.md", story("Middle", Date="2026-03-01"))
    mini_site.build()
    home = soup(mini_site, "index.html")
    assert story_titles(home) == ["Old pinned", "Newest", "Middle"]
    assert home.select_one("ul.stories li .pin").get_text() == "Pinned"
    territory = soup(mini_site, "territory/sierra-norte/index.html")
    assert story_titles(territory) == ["Newest", "Middle", "Old pinned"]


def test_expired_stories_are_not_built_and_links_to_them_go(mini_site: MiniSite) -> None:
    # The build's clock (MILPA_NOW) is 2026-06-01 12:00 UTC.
    mini_site.add("stories/gone.md", story("Gone", Date="2026-05-30 10:00", Expires="24h",
                                           Slug="notice"))
    mini_site.add("stories/gone-en.md", story("Gone too", Date="2026-05-30 10:00", Lang="en",
                                              Slug="notice", Translation="true"))
    mini_site.add("stories/kept.md", story("Kept", Date="2026-05-31 10:00", Expires="2026-12-31"))
    mini_site.add("stories/orig.md", story("Original", Slug="pair"))
    mini_site.add("stories/tr.md", story("Translation", Slug="pair", Lang="en",
                                         Translation="true", Expires="1h"))
    summary = mini_site.build()
    assert summary.stories == 2
    assert not (mini_site.output / "stories/notice").exists()
    assert story_titles(soup(mini_site, "index.html")) == ["Kept", "Original"]
    original = soup(mini_site, "stories/pair/index.html")
    assert "Also in" not in original.get_text()
    assert not (mini_site.output / "stories/pair/en").exists()


def test_translations_link_both_ways_with_their_language(mini_site: MiniSite) -> None:
    mini_site.add("stories/es.md", story("El agua", Slug="water"))
    mini_site.add("stories/en.md", story("The water", Slug="water", Lang="en", Translation="true"))
    mini_site.build()
    original = soup(mini_site, "stories/water/index.html")
    translation = soup(mini_site, "stories/water/en/index.html")
    assert original.article["lang"] == "es" and translation.article["lang"] == "en"
    to_english = original.select_one('header a[hreflang="en"]')
    to_spanish = translation.select_one('header a[hreflang="es"]')
    assert to_english["href"] == "/stories/water/en/" and to_english["lang"] == "en"
    assert to_spanish["href"] == "/stories/water/" and to_spanish.get_text() == "Español"
    # Only the original is listed; both are listed under their language.
    assert story_titles(soup(mini_site, "index.html")) == ["El agua"]
    assert story_titles(soup(mini_site, "lang/en/index.html")) == ["The water"]


def test_a_content_warning_folds_the_story_and_hides_the_cover_in_lists(
        mini_site: MiniSite) -> None:
    photo_with_secrets(mini_site.content / "photos/hurt.jpg")
    mini_site.add("stories/cw.md", story(
        "Hard news", "Details.", Content_Warning="Violence", Cover="photos/hurt.jpg",
        Cover_Alt="A road block"))
    mini_site.build()
    page = soup(mini_site, "stories/hard-news/index.html")
    folded = page.select_one("article details.cw")
    assert "Violence" in folded.summary.get_text()
    assert folded.find("img")["alt"] == "A road block"
    assert folded.find("img")["loading"] == "lazy"
    assert "Details." in folded.get_text()
    assert page.find("meta", property="og:image") is None
    home = soup(mini_site, "index.html")
    assert home.select("ul.stories img") == []
    assert "Content warning: Violence" in home.select_one("ul.stories").get_text(" ", strip=True)


def test_photos_become_pictures_and_originals_are_never_copied(mini_site: MiniSite) -> None:
    source = photo_with_secrets(mini_site.content / "photos/field.jpg", (1500, 1000))
    mini_site.add("stories/p.md", story("Photo", """
        Before.

        ![Maize in rows](photos/field.jpg "The field in May")

        Inline ![a small maize](../photos/field.jpg) here.
    """))
    mini_site.build()
    page = soup(mini_site, "stories/photo/index.html")
    figure = page.select_one("article figure")
    assert figure.figcaption.get_text() == "The field in May"
    avif, webp = figure.picture.find_all("source")
    img = figure.picture.img
    assert (avif["type"], webp["type"]) == ("image/avif", "image/webp")
    for offer in (avif, webp, img):
        assert [c.split()[1] for c in offer["srcset"].split(", ")] == [
            "360w", "540w", "720w", "1080w"]
    assert (img["width"], img["height"], img["alt"]) == ("720", "480", "Maize in rows")
    assert img["loading"] == "lazy" and img["decoding"] == "async" and img["sizes"]
    inline = page.select("article p picture img")
    assert [i["alt"] for i in inline] == ["a small maize"]
    for url in [img["src"], *(c.split()[0] for offer in (avif, webp)
                              for c in offer["srcset"].split(", "))]:
        assert (mini_site.output / url.lstrip("/")).is_file(), url
    original = next(d for d, p in digests(mini_site.content).items() if p == source)
    assert original not in digests(mini_site.output)


def test_a_broken_story_is_left_out_and_the_rest_is_built(mini_site: MiniSite) -> None:
    mini_site.add("stories/good.md", story("Good"))
    mini_site.add("stories/bad.md", story("Bad", "![](photos/missing.jpg)"))
    reasons = mini_site.build().left_out
    assert any(r.endswith("bad.md:6: photos/missing.jpg has no alt text: write "
                          "![what it shows](photos/missing.jpg)") for r in reasons), reasons
    assert any("bad.md:6: photos/missing.jpg not found" in r for r in reasons), reasons
    assert (mini_site.output / "stories/good/index.html").is_file()
    assert not (mini_site.output / "stories/bad").exists()
    assert [p.name for p in mini_site.base.iterdir() if p.name.startswith(".")] == []


def test_a_rebuild_reuses_renditions_and_is_byte_identical(mini_site: MiniSite,
                                                           monkeypatch) -> None:
    photo_with_secrets(mini_site.content / "photos/a.jpg")
    mini_site.add("stories/a.md", story("A", "![x](photos/a.jpg)", Cover="photos/a.jpg",
                                        Cover_Alt="y"))
    mini_site.build()
    first = digests(mini_site.output)

    def must_not_render(*_args: object) -> None:
        raise AssertionError("re-encoded an unchanged photo")

    monkeypatch.setattr("milpa.images.render", must_not_render)
    mini_site.build()
    assert digests(mini_site.output) == first


@pytest.mark.slow
def test_pelican_itself_builds_the_same_site(demo_output: Path, tmp_path: Path) -> None:
    """`pelican content -s pelicanconf.py` and `publish.py build` agree, byte for byte."""
    output = tmp_path / "pelican-output"
    subprocess.run([sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py",
                    "-o", str(output), "--fatal", "errors",
                    "-e", f'MILPA_KEYS_PATH="{TEST_KEYS}"', f'CACHE_PATH="{tmp_path}/cache"',
                    f'MILPA_DATA_PATH="{tmp_path}/data"'],
                   cwd=ROOT, check=True, capture_output=True)
    ours = {p.relative_to(demo_output): p.read_bytes() for p in demo_output.rglob("*")
            if p.is_file()}
    theirs = {p.relative_to(output): p.read_bytes() for p in output.rglob("*") if p.is_file()}
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []


def test_the_lists_of_a_tag_territory_and_author_answer_membership_by_identity(
        mini_site: MiniSite) -> None:
    for day in range(1, 4):
        mini_site.add(f"stories/s{day}.md", story(f"Story {day}", Date=f"2026-03-0{day}",
                                                 Tags="agua" if day != 2 else "maíz",
                                                 Authors="Ana"))
    mini_site.build()
    assert story_titles(soup(mini_site, "tag/agua/index.html")) == ["Story 3", "Story 1"]
    assert story_titles(soup(mini_site, "author/ana/index.html")) == [
        "Story 3", "Story 2", "Story 1"]
    first, second = object(), object()
    listed = StoryList([first])
    assert first in listed and second not in listed and list(listed) == [first]
