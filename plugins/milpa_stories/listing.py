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
