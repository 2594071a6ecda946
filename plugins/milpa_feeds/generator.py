"""Write every feed once the site's context is complete."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from milpa.feeds import FeedItem, FeedSpec, atom_feed, rss_feed
from milpa.outputs import OutputMemo, write_output
from milpa.settings import setting, site_url
from milpa_site.memo import Unmemoizable

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

    def entries(self, feed: Feed) -> tuple[list[Any], bool]:
        """The stories a feed shows, newest first, and whether with their whole text."""
        newest = sorted(feed.stories, key=lambda story: story.date, reverse=True)
        full = feed.kind not in _BIG or setting(self.settings, "MILPA_FEED_SITE_CONTENT") == "full"
        return newest[: setting(self.settings, "MILPA_FEED_MAX_ITEMS")], full

    def spec(self, feed: Feed) -> FeedSpec:
        base = site_url(self.settings)
        stories, full = self.entries(feed)
        items = tuple(self.item(story, base, full) for story in stories)
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
        memo = OutputMemo(writer, "feeds", Unmemoizable)
        for feed in self.index.all():
            # A feed is its stories (the page memo's digests) and its own fields: when
            # none changed, its files are the previous build's and feedgen is not run.
            stories, full = self.entries(feed)
            digests = [memo.digest(story) for story in stories]
            inputs = None if None in digests else memo.inputs(
                asdict(replace(feed, stories=[])), digests, [
                    full, site_url(self.settings), self.settings.get("SITESUBTITLE", ""),
                    setting(self.settings, "MILPA_WEBSUB_HUB")])
            spec: FeedSpec | None = None
            for path, build in ((feed.atom, atom_feed), (feed.rss, rss_feed)):
                if memo.kept(path, inputs):
                    continue
                spec = spec or self.spec(feed)
                document = build(spec)
                memo.record(path, inputs, document)
                write_output(writer, self.output, path, document)
        memo.report()
        logger.info("Wrote %d feeds", 2 * len(self.index.all()))
