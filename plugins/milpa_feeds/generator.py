"""Write every feed once the site's context is complete."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from milpa.feeds import FeedItem, FeedSpec, atom_feed, rss_feed
from milpa.outputs import write_output
from milpa.settings import setting, site_url

from .index import Feed, FeedIndex, feed_index
from .items import feed_item

logger = logging.getLogger(__name__)
# The whole site and each language are the big feeds whose content is a setting.
_BIG = frozenset({"site", "language"})


class FeedsGenerator:
    """Puts ``FEEDS`` (a FeedIndex) in the context, then writes Atom and RSS for each."""

    def __init__(self, context: dict[str, Any], settings: dict[str, Any], output_path: str,
                 **_: Any) -> None:
        self.context = context
        self.settings = settings
        self.output = Path(output_path)
        self.index: FeedIndex | None = None
        # A story is in up to six feeds; its entry is made once.
        self._items: dict[tuple[int, bool], FeedItem] = {}

    def generate_context(self) -> None:
        self.index = feed_index(self.context, self.settings)
        self.context["FEEDS"] = self.index

    def spec(self, feed: Feed) -> FeedSpec:
        base = site_url(self.settings)
        newest = sorted(feed.stories, key=lambda story: story.date, reverse=True)
        full = feed.kind not in _BIG or setting(self.settings, "MILPA_FEED_SITE_CONTENT") == "full"
        items = tuple(self.item(story, base, full)
                      for story in newest[: setting(self.settings, "MILPA_FEED_MAX_ITEMS")])
        return FeedSpec(
            title=feed.title, subtitle=self.settings.get("SITESUBTITLE", ""), lang=feed.lang,
            page_url=urljoin(base + "/", feed.page_url), atom_url=urljoin(base + "/", feed.atom),
            rss_url=urljoin(base + "/", feed.rss), items=items,
            hub=setting(self.settings, "MILPA_WEBSUB_HUB"),
        )

    def item(self, story: Any, base: str, full: bool) -> FeedItem:
        key = (id(story), full)
        if key not in self._items:
            self._items[key] = feed_item(story, base, full)
        return self._items[key]

    def generate_output(self, writer: Any) -> None:
        assert self.index is not None, "generate_context runs first"
        for feed in self.index.all():
            spec = self.spec(feed)
            for path, document in ((feed.atom, atom_feed(spec)), (feed.rss, rss_feed(spec))):
                write_output(writer, self.output, path, document)
        logger.info("Wrote %d feeds", 2 * len(self.index.all()))
