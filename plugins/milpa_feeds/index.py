"""Every stream a reader can follow, with where its Atom and RSS feeds live."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from milpa.settings import setting
from milpa_i18n import site_translations


@dataclass
class Feed:
    kind: str  # site, territory, tag, author or language
    title: str
    page_url: str  # relative, as Pelican's URLs are
    atom: str  # relative output paths, which are also the URLs
    rss: str
    lang: str
    # Pages show the stories themselves, never from here (milpa_site.memo leaves it out).
    stories: list[Any] = field(default_factory=list, metadata={"in_pages": False})


@dataclass
class FeedIndex:
    """All feeds of the site; templates ask it which feeds match a page."""

    site: Feed
    territories: dict[str, Feed]
    tags: dict[str, Feed]
    authors: dict[str, Feed]
    languages: dict[str, Feed]

    def all(self) -> list[Feed]:
        return [self.site, *self.languages.values(), *self.territories.values(),
                *self.authors.values(), *self.tags.values()]

    def for_story(self, story: Any) -> list[Feed]:
        found = [self.site]
        if getattr(story, "category", None) and story.category.slug in self.territories:
            found.append(self.territories[story.category.slug])
        if story.lang in self.languages:
            found.append(self.languages[story.lang])
        found += [self.authors[a.slug] for a in getattr(story, "authors", [])
                  if a.slug in self.authors]
        found += [self.tags[t.slug] for t in getattr(story, "tags", []) if t.slug in self.tags]
        return found

    def for_territory(self, territory: Any) -> list[Feed]:
        return [self.site, self.territories[territory.slug]]

    def for_tag(self, tag: Any) -> list[Feed]:
        return [self.site, self.tags[tag.slug]]

    def for_author(self, author: Any) -> list[Feed]:
        return [self.site, self.authors[author.slug]]

    def for_language(self, language: Any) -> list[Feed]:
        return [self.site, self.languages[language.code]]


def _feeds(kind: str, groups: Iterable[tuple[Any, list[Any]]], settings: dict[str, Any],
           title: str, slug_of: str = "slug") -> dict[str, Feed]:
    prefix = f"MILPA_FEED_{kind.upper()}"
    feeds = {}
    for wrapper, stories in groups:
        slug = getattr(wrapper, slug_of)
        feeds[slug] = Feed(
            kind, title.format(site=settings.get("SITENAME", ""), name=wrapper), wrapper.url,
            setting(settings, f"{prefix}_ATOM").format(slug=slug),
            setting(settings, f"{prefix}_RSS").format(slug=slug),
            getattr(wrapper, "code", settings["DEFAULT_LANG"]), list(stories))
    return feeds


def feed_index(context: dict[str, Any], settings: dict[str, Any]) -> FeedIndex:
    """From Pelican's context: the stories it lists, grouped as its pages group them."""
    sitename = settings.get("SITENAME", "")
    words = site_translations(settings)
    named = words.gettext("{site}: {name}")
    site = Feed("site", sitename, "", setting(settings, "MILPA_FEED_ALL_ATOM"),
                setting(settings, "MILPA_FEED_ALL_RSS"), settings["DEFAULT_LANG"],
                list(context.get("articles", [])))
    languages = [(language, language.articles) for language in context.get("languages", [])]
    return FeedIndex(
        site=site,
        territories=_feeds("territory", context.get("categories", []), settings, named),
        tags=_feeds("tag", context.get("tags", []), settings,
                    words.gettext("{site}: #{name}")),
        authors=_feeds("author", context.get("authors", []), settings,
                       words.gettext("{site}: stories by {name}")),
        languages=_feeds("language", languages, settings, named, slug_of="code"),
    )
