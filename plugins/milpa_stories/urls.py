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

Before that, while stories are read, the one part that cannot change from the start (the
source's path relative to the content folder) is kept from the moment the object exists:
Pelican works it out again for every address it formats.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pelican.contents import Article, Page

# Every list a generator keeps its stories or pages in (milpa_site.build leaves out from
# the same lists).
ARTICLE_LISTS = ("articles", "translations", "hidden_articles", "hidden_translations",
                  "drafts", "drafts_translations")
PAGE_LISTS = ("pages", "translations", "hidden_pages", "hidden_translations", "draft_pages",
               "draft_translations")
_made: dict[tuple[type, str], type] = {}


def _subclass(kind: type, marker: str, members: dict[str, Any]) -> type:
    """``kind`` with ``members`` in place, under the same name (Pelican and the templates
    go by a content object's class name), made once per kind. It is also a name of this
    module, so that pickle (Pelican's generator-level content cache) finds it."""
    if (kind, marker) not in _made:
        qualname = f"{marker}_{kind.__module__}_{kind.__qualname__}".replace(".", "_")
        body = {"__module__": __name__, "__qualname__": qualname, "__doc__": kind.__doc__,
                marker: True, **members}
        made = _made[(kind, marker)] = globals()[qualname] = type(kind.__name__, (kind,), body)
        return made
    return _made[(kind, marker)]


def _settled_class(kind: type) -> type:
    """``kind`` whose ``url`` and ``save_as`` are kept once worked out."""
    return _subclass(kind, "_milpa_urls_settled",
                     {name: cached_property(getattr(kind, name).fget)
                      for name in ("url", "save_as")})


def _source_path_kept_class(kind: type) -> type:
    """``kind`` answering its own relative source path from what it kept."""
    original = kind.get_relative_source_path

    def get_relative_source_path(self: Any, source_path: str | None = None) -> str | None:
        # Pelican's own answer, given again while the object's source path is the same.
        kept = vars(self).get("_milpa_source_path")
        if not source_path and kept is not None and kept[0] == self.source_path:
            return kept[1]
        return original(self, source_path)

    return _subclass(kind, "_milpa_source_path_kept",
                     {"get_relative_source_path": get_relative_source_path})


def keep_source_path(instance: Any) -> None:
    """content_object_init handler: a story's or page's relative source path, as Pelican
    has just worked it out, is kept."""
    kind = type(instance)
    if getattr(kind, "_milpa_source_path_kept", False) or \
            not isinstance(instance, Article | Page):
        return
    instance.__class__ = _source_path_kept_class(kind)
    vars(instance)["_milpa_source_path"] = (instance.source_path,
                                           instance.relative_source_path)


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
        for name in (*ARTICLE_LISTS, *PAGE_LISTS):
            for item in getattr(generator, name, None) or []:
                settle(item)


# Made now, so that a cached object can be unpickled before any story is read.
for _kind in (Article, Page):
    _settled_class(_kind)
    _settled_class(_source_path_kept_class(_kind))
