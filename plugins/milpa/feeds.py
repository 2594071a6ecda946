"""Atom and RSS documents, built with feedgen from plain descriptions of a feed.

Pure: a ``FeedSpec`` in, bytes out. Nothing here knows about Pelican; the ``milpa_feeds``
plugin turns stories into ``FeedItem``s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ATOM_NS = "http://www.w3.org/2005/Atom"
# A feed with no entries yet still needs a stable `updated`.
_NO_ENTRIES = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Enclosure:
    url: str
    length: int
    media_type: str


@dataclass(frozen=True)
class Category:
    term: str  # the slug
    label: str  # as shown
    scheme: str  # the page listing that category


@dataclass(frozen=True)
class FeedItem:
    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    lang: str
    authors: tuple[str, ...]
    categories: tuple[Category, ...]
    summary: str  # HTML
    content: str | None  # HTML; None for a summary-only feed
    enclosure: Enclosure | None = None


@dataclass(frozen=True)
class FeedSpec:
    title: str
    subtitle: str
    lang: str
    page_url: str  # the HTML page this feed follows
    atom_url: str
    rss_url: str
    items: tuple[FeedItem, ...]
    hub: str | None = None  # WebSub hub

    @property
    def updated(self) -> datetime:
        return max((item.updated for item in self.items), default=_NO_ENTRIES)


class _LanguageExtension(BaseExtension):
    """Feed-level half of the per-entry language extension: it adds nothing."""


class _AtomEntryFixes(BaseEntryExtension):
    """Each Atom entry says its own language (``xml:lang``): a site feed mixes several.

    It also writes the entry's links itself: feedgen 1.0 drops their ``rel``, ``type`` and
    ``length`` (a variable shadowed in ``FeedEntry.atom_entry``).
    """

    def __init__(self) -> None:
        self.lang: str | None = None
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self.lang:
            entry.set(_XML_LANG, self.lang)
        # feedgen names Atom elements without a namespace and serialises them under the
        # default one, so ours must do the same.
        for broken in entry.findall("link"):
            entry.remove(broken)
        for link in self.links:
            etree.SubElement(entry, "link", link)
        return entry


class _Hub(BaseExtension):
    """RSS has no link element of its own for a WebSub hub; Atom's is used, as is usual."""

    def __init__(self) -> None:
        self.hub: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"atom": _ATOM_NS}

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        if self.hub:
            channel = feed.find("channel")
            etree.SubElement(channel, f"{{{_ATOM_NS}}}link", rel="hub", href=self.hub)
        return feed


def _generator(spec: FeedSpec, self_url: str, rss: bool) -> FeedGenerator:
    feed = FeedGenerator()
    feed.register_extension("milpa_atom", _LanguageExtension, _AtomEntryFixes, rss=False)
    feed.load_extension("dc", atom=False, rss=True)
    feed.id(spec.atom_url)
    feed.title(spec.title)
    feed.subtitle(spec.subtitle or spec.title)
    feed.language(spec.lang)
    feed.link(href=self_url, rel="self",
              type="application/rss+xml" if rss else "application/atom+xml")
    if spec.hub:
        if rss:
            feed.register_extension("milpa_hub", _Hub, BaseEntryExtension, atom=False)
            feed.milpa_hub.hub = spec.hub
        else:
            feed.link(href=spec.hub, rel="hub")
    # Last, because feedgen makes the last link RSS's <link>.
    feed.link(href=spec.page_url, rel="alternate", type="text/html")
    # Fixed by the content, never by the clock: the same site gives the same bytes.
    feed.updated(spec.updated)
    feed.generator("Milpa")
    for item in spec.items:
        _add_entry(feed, item)
    return feed


def _add_entry(feed: FeedGenerator, item: FeedItem) -> None:
    entry = feed.add_entry(order="append")
    entry.id(item.id)
    entry.guid(item.id, permalink=False)
    entry.title(item.title)
    entry.link(href=item.link, rel="alternate", type="text/html")
    entry.published(item.published)
    entry.updated(item.updated)
    for name in item.authors:
        entry.author(name=name)
    for category in item.categories:
        entry.category(term=category.term, label=category.label, scheme=category.scheme)
    entry.summary(item.summary, type="html")
    if item.content is not None:
        entry.content(item.content, type="html")
    if item.enclosure:
        entry.enclosure(item.enclosure.url, str(item.enclosure.length),
                        item.enclosure.media_type)
    entry.milpa_atom.lang = item.lang
    entry.milpa_atom.links = [{"href": item.link, "rel": "alternate", "type": "text/html"}]
    if item.enclosure:
        entry.milpa_atom.links.append({
            "href": item.enclosure.url, "rel": "enclosure", "type": item.enclosure.media_type,
            "length": str(item.enclosure.length)})
    entry.dc.dc_language(item.lang)


def atom_feed(spec: FeedSpec) -> bytes:
    return _generator(spec, spec.atom_url, rss=False).atom_str(pretty=True)


def rss_feed(spec: FeedSpec) -> bytes:
    return _generator(spec, spec.rss_url, rss=True).rss_str(pretty=True)
