"""A story as a feed entry: absolute links, the warning first, the cover as enclosure."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urljoin, urlsplit

from markupsafe import Markup

from milpa.feeds import Category, Enclosure, FeedItem
from milpa.markup import absolute_urls


def entry_id(story: Any, base: str) -> str:
    """A tag URI (RFC 4151): it names the story, not its text, so edits never change it."""
    host = urlsplit(base).hostname or "localhost"
    return f"tag:{host},{story.date:%Y-%m-%d}:/{story.url}"


def feed_item(story: Any, base: str, full: bool) -> FeedItem:
    link = urljoin(base + "/", story.url)
    warning = ""
    if story.content_warning:
        warning = ("<p><strong>Content warning: "
                   f"{escape(story.content_warning, quote=False)}</strong></p>")
    summary = f"{warning}<p>{escape(Markup(story.summary).striptags(), quote=False)}</p>"
    content = None
    if full:
        cover = f"<p>{story.cover.img()}</p>" if story.cover else ""
        content = absolute_urls(warning + cover + story.content, link)
    enclosure = None
    if story.cover:
        preview = story.cover.preview()
        enclosure = Enclosure(urljoin(link, story.cover.url(preview.name)), preview.size,
                              preview.media_type)
    categories = []
    if getattr(story, "category", None):
        categories.append(Category(story.category.slug, str(story.category),
                                   urljoin(base + "/", story.category.url)))
    categories += [Category(tag.slug, str(tag), urljoin(base + "/", tag.url))
                   for tag in getattr(story, "tags", [])]
    return FeedItem(
        id=entry_id(story, base), title=story.title, link=link,
        published=story.date, updated=getattr(story, "modified", None) or story.date,
        lang=story.lang, authors=tuple(str(a) for a in getattr(story, "authors", [])),
        categories=tuple(categories), summary=summary, content=content, enclosure=enclosure,
    )
