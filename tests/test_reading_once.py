"""What Pelican would work out again and again is worked out once per build: stories' and
pages' addresses once every context is final, one territory, tag and author object per
name. The values are the ones Pelican's own code gives."""

from __future__ import annotations

import pickle
from datetime import datetime
from typing import Any

from pelican import signals
from pelican.contents import Article, Static
from pelican.settings import DEFAULT_CONFIG

from milpa_stories.urls import keep_source_path, settle

from .conftest import MiniSite, story

SETTINGS: dict[str, Any] = {**DEFAULT_CONFIG, "ARTICLE_URL": "stories/{slug}/",
                            "ARTICLE_SAVE_AS": "stories/{slug}/index.html"}


def test_a_settled_story_keeps_its_class_name_and_addresses() -> None:
    article = Article("<p>x</p>", {"title": "Agua", "date": datetime(2026, 5, 1)},
                      settings=SETTINGS, source_path="content/agua.md")
    url, save_as, kind = article.url, article.save_as, type(article)
    settle(article)
    # Both kept from the start, whatever reads them first: fingerprints see the same.
    assert vars(article)["url"] == url and vars(article)["save_as"] == save_as
    assert (article.url, article.save_as) == (url, save_as) == ("stories/agua/",
                                                                  "stories/agua/index.html")
    assert type(article).__name__ == "Article" and isinstance(article, Article)
    settle(article)  # twice is once
    # (Its class before: Article, or one keeping its source path if a build in this
    # process connected that handler.)
    assert type(article).__mro__[1] is kind


def test_a_static_file_is_not_settled() -> None:
    # A story's {attach} link may still move a static file while pages are written.
    static = Static("", {"title": "f"}, settings=SETTINGS, source_path="content/f.pdf")
    settle(static)
    assert type(static) is Static


def finished_objects(site: MiniSite) -> list[Any]:
    """Every story, translation, draft and page, as the build left them."""
    seen: list[Any] = []

    def look(generators: list[Any]) -> None:
        for generator in generators:
            for name in ("articles", "translations", "drafts", "pages"):
                seen.extend(getattr(generator, name, []))

    signals.all_generators_finalized.connect(look)
    try:
        site.build()
    finally:
        signals.all_generators_finalized.disconnect(look)
    return seen


def test_a_build_settles_every_story_translation_draft_and_page(mini_site: MiniSite) -> None:
    mini_site.add("stories/agua.md", story("Agua"))
    mini_site.add("stories/water.md", story("Water", Slug="agua", Lang="en",
                                            Translation="true"))
    mini_site.add("stories/draft.md", story("Draft", Status="draft"))
    mini_site.add("pages/about.md", "Title: About\nLang: es\n\nAbout us.\n")
    seen = finished_objects(mini_site)
    assert sorted(type(item).__name__ for item in seen) == ["Article"] * 3 + ["Page"]
    assert all("url" in vars(item) and "save_as" in vars(item) for item in seen)
    assert sorted(item.url for item in seen) == ["about/", "drafts/draft/", "stories/agua/",
                                                 "stories/agua/en/"]
    assert (mini_site.output / "stories/agua/en/index.html").is_file()


def test_stories_naming_the_same_tag_territory_or_author_share_one_object(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("A", Tags="agua, Semillas", Authors="Rosa"))
    mini_site.add("stories/b.md", story("B", Tags="agua, semillas", Authors="Rosa",
                                        Date="2026-05-02"))
    first, second = sorted(finished_objects(mini_site), key=lambda item: item.title)
    assert first.tags[0] is second.tags[0] and first.category is second.category
    assert first.authors[0] is second.authors[0]
    # Names that differ are different objects, each keeping its own name (they are equal
    # for Pelican, whose slugs ignore case, as they were before).
    assert first.tags[1] is not second.tags[1]
    assert (first.tags[1].name, second.tags[1].name) == ("Semillas", "semillas")


def test_a_story_keeps_its_relative_source_path_while_its_source_is_the_same() -> None:
    settings = {**SETTINGS, "PATH": "/site/content"}
    article = Article("<p>x</p>", {"title": "Agua", "date": datetime(2026, 5, 1)},
                      settings=settings, source_path="/site/content/stories/agua.md")
    plain = [article.get_relative_source_path(), article.get_relative_source_path("x/y.md"),
             article.url]
    keep_source_path(article)
    assert type(article).__name__ == "Article"
    assert [article.get_relative_source_path(), article.get_relative_source_path("x/y.md"),
            article.url] == plain == ["stories/agua.md", "x/y.md", "stories/agua/"]
    article.source_path = "/site/content/other/water.md"  # then Pelican works it out again
    assert article.get_relative_source_path() == "other/water.md"
    settle(article)  # both at once, each kept
    assert article.get_relative_source_path() == "other/water.md" and article.url == plain[2]


def test_kept_and_settled_stories_can_be_pickled_as_pelicans_generator_cache_does() -> None:
    article = Article("<p>x</p>", {"title": "Agua", "date": datetime(2026, 5, 1)},
                      settings=SETTINGS, source_path="content/agua.md")
    keep_source_path(article)
    again = pickle.loads(pickle.dumps(article))
    assert type(again) is type(article) and again.url == article.url
    settle(again)
    settled = pickle.loads(pickle.dumps(again))
    assert type(settled).__name__ == "Article" and settled.save_as == "stories/agua/index.html"
