"""Listings whose pages stay put when a story is added.

Pelican numbers a listing's pages from the newest story, so one new story moves every
other story one place down and every page of every listing it is in changes. Here a
listing is cut into sheets of ``per_page`` stories counted from the oldest: the first
sheet holds the oldest stories and, once full, never changes. The front page (the
listing's own address) shows the stories not yet on a full sheet with the newest full
sheet under them: between ``per_page`` and ``2 × per_page − 1`` stories, or all of them
in a shorter listing. Only older sheets have an address of their own
(``PAGINATION_PATTERNS``, numbered from 2 for the oldest), so each story is on one page.

One new story changes the front page alone; every ``per_page`` new stories, the sheet
under the front page gets its address and its older neighbour's "newer" link follows it.
Pages are told their place and their neighbours, never how many pages or stories the
listing has: only the front page knows that (``total``), as only it may change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pelican.paginator import Page, Paginator
from pelican.plugins import signals
from pelican.utils import get_relative_path, path_to_url, sanitised_join
from pelican.writers import Writer

logger = logging.getLogger(__name__)

FRONT = 1  # the front page's number: PAGINATION_PATTERNS give it the listing's address


class StablePage(Page):
    """One page of a stable listing. ``number`` names its address: 1 for the front page,
    ``n + 1`` for the n-th sheet from the oldest. Its "next" page is the older one, as in
    Pelican; ``start_index`` and ``end_index`` count from the oldest story."""

    def __init__(self, paginator: StablePaginator, number: int, object_list: Sequence[Any],
                 oldest_place: int) -> None:
        super().__init__(paginator.name, paginator.url, object_list, number, paginator,
                         paginator.settings)
        self._oldest_place = oldest_place
        self._newer = None if number == FRONT else (
            number + 1 if number < paginator.num_pages else FRONT)
        older = paginator.num_pages if number == FRONT else number - 1
        self._older = older if older > FRONT else None  # None: the oldest page
        # How many stories the whole listing has: only the front page changes with it.
        self.total: int | None = paginator.count if number == FRONT else None

    def __repr__(self) -> str:
        return f"<StablePage {self.number}>"

    def has_next(self) -> bool:
        return self._older is not None

    def has_previous(self) -> bool:
        return self._newer is not None

    def next_page_number(self) -> int | None:
        return self._older

    def previous_page_number(self) -> int | None:
        return self._newer

    def start_index(self) -> int:
        return self._oldest_place if self.object_list else 0

    def end_index(self) -> int:
        return self._oldest_place + len(self.object_list) - 1

    def page_place(self) -> dict[str, Any]:
        """Where the page is (milpa_site.memo: what a page linking it is made of)."""
        return {"number": self.number, "url": self.url, "save_as": self.save_as,
                "newer": self._newer, "older": self._older, "first": self.start_index()}

    def page_fingerprint(self) -> dict[str, Any]:
        """All that the page itself shows (milpa_site.memo: its fingerprint)."""
        return {**self.page_place(), "total": self.total, "stories": list(self.object_list)}


class StablePaginator(Paginator):
    """Pelican's Paginator with pages cut from the oldest story (see the module).
    ``num_pages`` counts the front page and the sheets with an address of their own."""

    def __init__(self, name: str, url: str | None, object_list: Sequence[Any],
                 settings: dict[str, Any], per_page: int | None = None) -> None:
        super().__init__(name, url, object_list, settings, per_page)
        self.orphans = 0  # the front page takes what is not a full sheet
        full_sheets = self.count // self.per_page if self.per_page else 0
        self._num_pages = max(full_sheets, 1)

    def page(self, number: int) -> StablePage:
        count, per_page = self.count, self.per_page or 1
        if number == FRONT:
            oldest = (self.num_pages - 1) * per_page  # places before the front page's
            return StablePage(self, FRONT, self.object_list[:count - oldest], oldest + 1)
        if not 1 < number <= self.num_pages:
            raise ValueError(f"{self.name} has no page {number}")
        oldest = (number - 2) * per_page
        return StablePage(self, number,
                          self.object_list[count - oldest - per_page:count - oldest],
                          oldest + 1)

    def pages(self) -> list[tuple[StablePage, StablePage | None, StablePage | None]]:
        """Each page with the newer and the older page it links, the front page first."""
        made = {number: self.page(number) for number in range(1, self.num_pages + 1)}
        return [(page, made.get(page.previous_page_number() or 0),
                 made.get(page.next_page_number() or 0)) for page in made.values()]


class StableWriter(Writer):
    """Pelican's Writer with stable listings (``StablePaginator``): the same context,
    signals and checks, and ``articles_page``, ``articles_previous_page`` (newer) and
    ``articles_next_page`` (older) for each page."""

    def write_file(self, name: Any, template: Any, context: dict[str, Any],
                   relative_urls: bool = False, paginated: dict[str, Any] | None = None,
                   template_name: str | None = None, override_output: bool = False,
                   url: str | None = None, **kwargs: Any) -> None:
        if not name:
            return
        if paginated is None:
            paginated = {key: val for key, val in kwargs.items() if key in {"articles", "dates"}}
        if not (paginated and template_name in self.settings["PAGINATED_TEMPLATES"]):
            self._write_page(template, context, name, kwargs, relative_urls, override_output)
            return
        per_page = (self.settings["PAGINATED_TEMPLATES"][template_name]
                    or self.settings["DEFAULT_PAGINATION"])
        # Pelican's lists to paginate are one list in different orders: pages alike.
        listings = [(key, StablePaginator(name, url, val, self.settings, per_page).pages())
                    for key, val in paginated.items()]
        for place in range(len(listings[0][1])):
            page_kwargs = kwargs.copy()
            for key, pages in listings:
                page, newer, older = pages[place]
                page_kwargs.update({f"{key}_paginator": page.paginator, f"{key}_page": page,
                                    f"{key}_previous_page": newer, f"{key}_next_page": older})
            self._write_page(template, context, page.save_as, page_kwargs, relative_urls,
                             override_output)

    def _write_page(self, template: Any, context: dict[str, Any], name: str,
                    kwargs: dict[str, Any], relative_urls: bool, override: bool) -> None:
        localcontext = context.copy()
        localcontext["localsiteurl"] = localcontext.get("localsiteurl", None)
        if relative_urls:
            relative_url = path_to_url(get_relative_path(name))
            localcontext["SITEURL"] = relative_url
            localcontext["localsiteurl"] = relative_url
        localcontext["output_file"] = name
        localcontext.update(kwargs)
        # Pelican's own: contents adjust their links to the page being written.
        if localcontext["localsiteurl"]:
            context["localsiteurl"] = localcontext["localsiteurl"]
        path = sanitised_join(self.output_path, name)
        self.write_rendered(template, localcontext, path, override)
        logger.info('Writing "%s"', path)
        signals.content_written.send(path, context=localcontext)

    def write_rendered(self, template: Any, localcontext: dict[str, Any], path: str,
                       override: bool) -> None:
        """The page ``template`` renders from ``localcontext``, as the file ``path``."""
        output = template.render(localcontext)
        self.make_folder(path)
        with self._open_w(path, "utf-8", override=override) as handle:
            handle.write(output)

    def make_folder(self, path: str) -> None:
        """Makes the folder of the file ``path`` before it is written."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)


# The writer a build chose (a StableWriter too), while it runs Pelican.
_chosen: ContextVar[type[StableWriter] | None] = ContextVar("chosen_writer", default=None)


@contextmanager
def writing_with(writer: type[StableWriter]) -> Iterator[None]:
    """While Pelican runs in this block, it writes with ``writer``."""
    token = _chosen.set(writer)
    try:
        yield
    finally:
        _chosen.reset(token)


def stable_writer(_pelican: Any) -> type[StableWriter]:
    """get_writer handler: the writer a build chose (``writing_with``), else StableWriter."""
    return _chosen.get() or StableWriter
