"""Each story's and page's address worked out once per build, not on every use.

Pelican's ``url`` and ``save_as`` are properties that format the URL setting again on
every access (copying the metadata, making the source path relative, reading the author's
and category's slugs): templates, feeds, ActivityPub documents and page fingerprints read
them tens of thousands of times per build. Once every generator's context is final,
nothing a URL is made from (metadata, slug, language, date, status, category, author,
settings) changes any more, so from then on each object answers from the value its own
property gives at that point. Only the two properties change: each object keeps its
class's name, its behaviour and every other attribute. Static files are left alone: a
story's ``{attach}`` link may still move one while the story is written.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pelican.contents import Article, Page

_ARTICLE_LISTS = ("articles", "translations", "hidden_articles", "hidden_translations",
                  "drafts", "drafts_translations")
_PAGE_LISTS = ("pages", "translations", "hidden_pages", "hidden_translations", "draft_pages",
               "draft_translations")
_frozen: dict[type, type] = {}


def _settled_class(kind: type) -> type:
    """``kind`` whose ``url`` and ``save_as`` are kept once worked out."""
    if kind not in _frozen:
        body: dict[str, Any] = {"__module__": kind.__module__, "__qualname__": kind.__qualname__,
                                "__doc__": kind.__doc__, "_milpa_urls_settled": True}
        for name in ("url", "save_as"):
            body[name] = cached_property(getattr(kind, name).fget)
        _frozen[kind] = type(kind.__name__, (kind,), body)
    return _frozen[kind]


def settle(item: Any) -> None:
    """From now on ``item``'s url and save_as are the ones they are now."""
    kind = type(item)
    if getattr(kind, "_milpa_urls_settled", False) or not isinstance(item, Article | Page):
        return
    # Both, at once: every object then has the same attributes whatever reads it first
    # (page fingerprints digest an object's attributes).
    values = {"url": item.url, "save_as": item.save_as}
    item.__class__ = _settled_class(kind)
    vars(item).update(values)


def settle_urls(generators: list[Any]) -> None:
    """all_generators_finalized handler: every story and page (translations, drafts and
    hidden ones have lists of their own)."""
    for generator in generators:
        for name in (*_ARTICLE_LISTS, *_PAGE_LISTS):
            for item in getattr(generator, name, None) or []:
                settle(item)
