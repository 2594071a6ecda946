"""Which stories are listed and in what order: expired and scheduled ones go, pinned ones
lead."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_STORY_LISTS = ("articles", "translations", "hidden_articles", "hidden_translations",
                "drafts", "drafts_translations")


def drop_expired(generator: Any) -> None:
    """article_generator_pretaxonomy handler: an expired or scheduled story is not built
    at all (not even as a draft page, which anyone could guess the address of).

    A translation without an expiry of its own goes with its original.
    """
    for name in ("articles", "hidden_articles", "drafts"):
        for original in getattr(generator, name):
            if getattr(original, "expired", False):
                for translation in original.translations:
                    if getattr(translation, "expires_at", None) is None:
                        translation.expired = True
    dropped = scheduled = 0
    for name in _STORY_LISTS:
        stories = getattr(generator, name)
        kept = [story for story in stories if not _left_out(story)]
        dropped += sum(1 for story in stories if getattr(story, "expired", False))
        scheduled += sum(1 for story in stories if getattr(story, "scheduled", False))
        stories[:] = kept
    for name in _STORY_LISTS:
        for story in getattr(generator, name):
            story.translations = [t for t in story.translations if not _left_out(t)]
    if dropped:
        logger.info("Not publishing %d expired stories", dropped)
    if scheduled:
        logger.info("Not publishing %d scheduled stories before their date", scheduled)


def _left_out(story: Any) -> bool:
    return getattr(story, "expired", False) or getattr(story, "scheduled", False)


def pinned_first(generator: Any) -> None:
    """article_generator_finalized handler: pinned stories lead the home page.

    The sort is stable, so each group keeps Pelican's newest-first order; territory, tag
    and author pages are built from their own lists and stay chronological.
    """
    generator.articles.sort(key=lambda story: not getattr(story, "pinned", False))


class StoryList(list):  # type: ignore[type-arg]
    """A tag's, territory's or author's stories, which say whether a story is among them
    in one step. Pelican finds each one's stories in date order by asking, for every story
    of the site, whether it is in the list: over a list, stories × tags × their length."""

    def __init__(self, stories: list[Any]) -> None:
        super().__init__(stories)
        self._ids = frozenset(map(id, stories))

    def __contains__(self, story: object) -> bool:
        return id(story) in self._ids


def lists_that_answer_at_once(generator: Any) -> None:
    """article_generator_finalized handler: each tag's, territory's and author's list of
    stories, now final, becomes a StoryList (what the pages are given as well)."""
    generator.tags = {tag: StoryList(stories) for tag, stories in generator.tags.items()}
    generator.categories = [(name, StoryList(stories)) for name, stories in generator.categories]
    generator.authors = [(name, StoryList(stories)) for name, stories in generator.authors]
    generator.context["tags"] = list(generator.tags.items())
    generator.context["categories"] = generator.categories
    generator.context["authors"] = generator.authors
