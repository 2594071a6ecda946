"""Listings cut from the oldest story: a new story leaves older pages as they were."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pelican.settings import read_settings

from milpa_stories.pagination import StablePage, StablePaginator

from .conftest import ROOT, TEST_KEYS, MiniSite, settings_file, story
from .test_build import soup, story_titles
from .test_incremental import (
    assert_same_as_full_build,
    rendered_templates,
    stamps,
    two_pages_of_stories,
)

SETTINGS = read_settings(str(ROOT / "pelicanconf.py"))


def pages_of(count: int, per_page: int = 10) -> list[StablePage]:
    """The pages of a listing of ``count`` stories (numbered by age, newest first)."""
    paginator = StablePaginator("index.html", "", list(range(count, 0, -1)), SETTINGS,
                                per_page)
    return [page for page, _, _ in paginator.pages()]


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 19, 20, 21, 45, 100])
def test_each_story_is_on_one_page_and_the_pages_go_from_newest_to_oldest(
        count: int) -> None:
    pages = {page.number: page for page in pages_of(count)}
    front, page = pages[1], pages[1]
    walked = []
    while True:
        walked += page.object_list
        if not page.has_next():
            break
        older = pages[page.next_page_number()]
        assert older.previous_page_number() == page.number
        page = older
    assert walked == list(range(count, 0, -1))  # every story once, newest first
    assert not front.has_previous() and front.total == count
    assert len(front.object_list) == count if count < 20 else 10 <= len(front.object_list) < 20
    assert all(len(page.object_list) == 10 and page.total is None
               for number, page in pages.items() if number > 1)
    # Page 2 holds the oldest stories.
    assert count < 20 or pages[2].object_list == list(range(10, 0, -1))


@pytest.mark.parametrize("count", range(10, 41))
def test_a_new_story_changes_the_front_page_and_at_most_one_link(count: int) -> None:
    before = {page.number: page for page in pages_of(count)}
    after = {page.number: page for page in pages_of(count + 1)}
    changed = [number for number, page in before.items() if number > 1 and (
        page.page_fingerprint() != after[number].page_fingerprint())]
    assert all(before[n].object_list == after[n].object_list for n in before if n > 1)
    # Once in ten stories a sheet leaves the front page: its older neighbour links it.
    assert changed == ([len(before)] if len(after) > len(before) and len(before) > 1 else [])


def test_a_new_story_leaves_every_older_listing_page_as_it_was(mini_site: MiniSite,
                                                              monkeypatch) -> None:
    two_pages_of_stories(mini_site)  # fourteen on each front page, ten on its page 2
    mini_site.build()
    before = stamps(mini_site.output)
    rendered = rendered_templates(monkeypatch)
    mini_site.add("stories/new.md", story("New", Date="2026-05-30", Tags="agua, t0",
                                          Slug="new"))
    assert_same_as_full_build(mini_site, "added")
    # The rebuild renders each listing's front page alone, the full build both pages.
    assert rendered.count("index.html") == rendered.count("language.html") == 1 + 2
    after = stamps(mini_site.output)
    written = {path for path in after if after[path] != before.get(path)}
    assert {"index.html", "tag/agua/index.html", "lang/es/index.html",
            "territory/sierra-norte/index.html"} <= written
    assert not [path for path in written if "/page/" in path or path.startswith("page/")]
    assert not [path for path in written if path.startswith("ap/outbox-pages/")
                and not path.endswith("/2")]
    assert story_titles(soup(mini_site, "page/2/index.html")) == [
        f"Story {number}" for number in range(9, -1, -1)]
    # An older page says when its stories were told, never how many pages there are.
    label = soup(mini_site, "page/2/index.html").select_one("nav.pages").get_text(" ")
    assert "May 1, 2026 to May 10, 2026" in label and " of " not in label
    assert soup(mini_site, "index.html").select_one("nav.pages a[rel=next]")["href"] \
        .endswith("page/2/")


def test_a_full_sheet_gets_its_address_and_its_older_neighbour_links_it(
        mini_site: MiniSite) -> None:
    two_pages_of_stories(mini_site)
    for number in range(24, 29):
        mini_site.add(f"stories/s{number}.md", story(f"Story {number}", Slug=f"s{number}",
                                                     Date=f"2026-05-{number + 1:02d}"))
    mini_site.build()
    page_2 = mini_site.read("page/2/index.html")
    mini_site.add("stories/s29.md", story("Story 29", Slug="s29", Date="2026-05-30"))
    assert_same_as_full_build(mini_site, "thirty")
    assert story_titles(soup(mini_site, "page/3/index.html")) == [
        f"Story {number}" for number in range(19, 9, -1)]
    assert story_titles(soup(mini_site, "index.html")) == [
        f"Story {number}" for number in range(29, 19, -1)]
    newer = soup(mini_site, "page/2/index.html").select_one("nav.pages a[rel=prev]")["href"]
    assert newer.endswith("page/3/") and mini_site.read("page/2/index.html") != page_2


def test_only_the_front_page_shows_the_listings_profile(mini_site: MiniSite) -> None:
    for number in range(25):
        mini_site.add(f"stories/s{number}.md", story(
            f"Story {number}", Slug=f"s{number}", Authors="Ana",
            Date=f"2026-05-{number + 1:02d}"))
    mini_site.build()
    assert soup(mini_site, "author/ana/index.html").select_one("section.profile")
    assert "25" in soup(mini_site, "author/ana/index.html").select_one(
        "section.profile").get_text()
    assert soup(mini_site, "author/ana/page/2/index.html").select_one("section.profile") \
        is None


def test_plain_pelican_cuts_pages_the_same_way(mini_site: MiniSite) -> None:
    for number in range(7):
        mini_site.add(f"stories/s{number}.md", story(f"Story {number}", Slug=f"s{number}",
                                                     Date=f"2026-05-{number + 1:02d}"))
    settings = mini_site.base / "pelicanconf.py"
    settings.write_text(settings_file(
        DEFAULT_PAGINATION=3, CACHE_PATH=str(mini_site.base / "plain-cache"),
        MILPA_DATA_PATH=str(mini_site.base / "data"), MILPA_KEYS_PATH=str(TEST_KEYS)))
    plain = mini_site.base / "plain"
    subprocess.run([sys.executable, "-m", "pelican", str(mini_site.content), "-s",
                    str(settings), "-o", str(plain), "--fatal", "errors"],
                   cwd=mini_site.base, check=True, capture_output=True)
    mini_site.build(DEFAULT_PAGINATION=3)
    for page in ("index.html", "page/2/index.html"):
        assert (plain / page).read_text(encoding="utf-8") == mini_site.read(page), page
    assert story_titles(soup(mini_site, "page/2/index.html")) == [
        "Story 2", "Story 1", "Story 0"]
    assert not (plain / "page/3").exists()


@pytest.mark.parametrize(("shown", "page"), [
    ("articles_page.paginator.count", "page/2/index.html"),  # page 3 is between
    ("articles_previous_page.total if articles_previous_page", "page/3/index.html"),
])
def test_a_theme_that_shows_the_count_on_older_pages_renders_them_again(
        mini_site: MiniSite, tmp_path: Path, shown: str, page: str) -> None:
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    index = theme / "templates/index.html"
    index.write_text(index.read_text() + f"{{% block intro %}}Of {{{{ {shown} }}}}"
                     "{% endblock %}\n")
    for number in range(34):  # the front page, page 3, page 2
        mini_site.add(f"stories/s{number}.md", story(
            f"Story {number}", Slug=f"s{number}", Date=f"2026-{number // 28 + 4:02d}-"
            f"{number % 28 + 1:02d}"))
    mini_site.build(THEME=str(theme))
    mini_site.add("stories/new.md", story("New", Date="2026-05-30", Slug="new"))
    assert_same_as_full_build(mini_site, "added", THEME=str(theme))
    assert "Of 35" in mini_site.read(page)
