"""What a listing shows of a story is made once per build, and only where it is the same."""

from __future__ import annotations

from milpa_stories.fragments import Once

from .conftest import MiniSite, story
from .test_build import soup


class Story:
    title = "Agua"


def test_a_storys_markup_is_made_once_per_language_and_site_address() -> None:
    once, story_a, made = Once(), Story(), []

    def caller() -> str:
        made.append(1)
        return f"<li>{len(made)}</li>"

    assert once(story_a, "es", "", caller=caller) == once(story_a, "es", "", caller=caller)
    assert len(made) == 1
    once(story_a, "en", "", caller=caller)  # another interface language
    once(story_a, "es", "../..", caller=caller)  # another page depth, relative addresses
    once(Story(), "es", "", caller=caller)  # another story
    once(story_a, "es", ["not", "comparable"], caller=caller)
    once(story_a, "es", ["not", "comparable"], caller=caller)
    assert len(made) == 6


def test_only_the_last_stories_shown_are_kept() -> None:
    once, made = Once(kept=2), []
    stories = [Story(), Story(), Story()]

    def caller() -> str:
        made.append(1)
        return "<li></li>"

    for story_ in [*stories, stories[2], stories[1], stories[0]]:
        once(story_, "es", "", caller=caller)
    assert len(made) == 4  # the third and second again from what was kept, the first made
    assert len(once._made) == 2


def test_relative_addresses_stay_right_on_every_listing(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", Slug="agua", Tags="semillas"))
    mini_site.build(RELATIVE_URLS=True)
    links = {path: soup(mini_site, path).select_one("ul.stories h2 a")["href"]
             for path in ("index.html", "tag/semillas/index.html")}
    assert links == {"index.html": "./stories/agua/",
                     "tag/semillas/index.html": "../../stories/agua/"}


def test_a_new_story_at_a_freed_storys_address_gets_its_own_markup() -> None:
    once, freed, new = Once(), Story(), Story()
    once(freed, "es", "", caller=lambda: "<li>freed</li>")
    # As if ``freed`` were gone and ``new`` had been given its id.
    once._made[(id(new), "es", "")] = once._made.pop((id(freed), "es", ""))
    assert once(new, "es", "", caller=lambda: "<li>new</li>") == "<li>new</li>"
