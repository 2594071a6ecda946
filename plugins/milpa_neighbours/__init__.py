"""Each story knows the story published before it and the one after, so a page can go on.

Pelican gives a story page no neighbours; finding them in the template would walk the whole
list on every page. Here they are found once per build, from the final list of stories.
"""

from __future__ import annotations

from typing import Any

from pelican import signals


def link_neighbours(generator: Any) -> None:
    """``older`` and ``newer`` on every published story and its translations (None at the
    ends). Translations point to the originals next to their own original."""
    stories = sorted(generator.articles, key=lambda story: story.date)
    for index, story in enumerate(stories):
        older = stories[index - 1] if index > 0 else None
        newer = stories[index + 1] if index + 1 < len(stories) else None
        for page in (story, *story.translations):
            page.older = older
            page.newer = newer


def register() -> None:
    # Finalized: expired stories are gone and the list is the one the site shows.
    signals.article_generator_finalized.connect(link_neighbours)
