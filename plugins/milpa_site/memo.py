"""Pages that cannot have changed are not rendered again.

Each page Pelican renders gets a fingerprint: the site's (theme files, catalogs, plugin
code, library versions; the settings name the memo's folder), the sources of the template
files it uses and, for every variable its template and the templates it extends, includes
or imports refer to, a digest of the value the page is given. A content object's digest
covers all its attributes (its HTML with links resolved, metadata, replies…), and the
stories around it; a value of a kind this module does not know makes the page
unmemoizable, and it is simply rendered. When a
page's fingerprint equals the one recorded for its file by the previous build, and that
file still has the bytes recorded, its text is taken from the previous output instead of
rendering the template.

A listing page is digested by its own stories and its place: for Pelican's pages, the
paginator's shape (pages, count) is part of it; a page of a stable listing
(milpa_stories.pagination) says what its place is, and the paginator's shape is digested
only for a template that reads it. The pages before and after it are digested by their
place: a template that reads a paginator's whole list or another page's stories is found
by reading its source, and always rendered.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

import babel
import jinja2
import markdown
import pelican
from jinja2 import meta, nodes
from pelican.contents import Content
from pelican.paginator import Page, Paginator
from pelican.urlwrappers import URLWrapper

from milpa.outputs import unchanged_file

logger = logging.getLogger(__name__)

# Attributes of a content object that are not its own: the whole site's context (the
# object's links are resolved in its ``content``), and the settings (they name the memo).
_NOT_OWN = frozenset({"_context", "settings"})
# A dataclass field with ``metadata={"in_pages": False}`` is never shown on a page (the
# stories a feed or an actor lists): fingerprints leave it out.
IN_PAGES = "in_pages"


class Unmemoizable(Exception):
    """A value this module cannot digest: the page is rendered."""


def _files_digest(folders: Iterable[Path], suffixes: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and (not suffixes or path.suffix in suffixes) \
                    and "__pycache__" not in path.parts:
                digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def site_fingerprint(settings: Mapping[str, Any], locale_folders: Iterable[Path]) -> str:
    """What shapes every page besides its own values: the theme, the interface's catalogs,
    the code that renders (plugins, Pelican, Jinja, Markdown, Babel's dates and numbers)
    and Python's version."""
    plugins = [Path(folder) for folder in settings.get("PLUGIN_PATHS") or []]
    parts = [pelican.__version__, jinja2.__version__, markdown.__version__,
             babel.__version__, sys.version,
             _files_digest([Path(settings["THEME"])]),
             _files_digest(locale_folders, (".po",)),
             _files_digest(plugins, (".py",))]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_SCALARS = frozenset({str, int, float, bool, type(None)})
_EMPTY = {list: "[]", tuple: "[]", dict: "{}"}
# How many items a container has before its digest is kept for the build: a short one is
# cheaper to digest again than to keep.
_SHORT = 8


@dataclasses.dataclass(frozen=True)
class _Kind:
    """How values of one type are digested: ``text`` gives their text (content objects
    met inside append themselves to ``links``); ``kept`` says whether a value's digest is
    kept for the build (None: never, 0: always, n: when it has more than n items)."""

    text: Callable[[Any, list[Content]], str]
    kept: int | None = None


class Digests:
    """Digests of the values pages are given.

    A content object's own attributes are digested once per build, whatever the pages and
    values it is met in: the content objects they point to (translations, the stories
    around it) stand there for their address and are its ``links``. As a value a page is
    given, a content object is its own digest and its links' own digests (so a story page
    covers the titles and addresses of the stories around it, not the stories around
    those). Any other value is digested with the content objects in it standing for their
    address, then followed by each one's digest as a value.
    """

    def __init__(self) -> None:
        self._own: dict[int, tuple[str, tuple[Content, ...]]] = {}  # id → own digest, links
        self._values: dict[int, str] = {}  # content object's id → its digest as a value
        self._kept: dict[int, tuple[str, tuple[Content, ...]]] = {}  # other values met often
        self._addresses: dict[int, str] = {}
        self._alive: list[Any] = []  # keeps digested objects alive: ids stay theirs
        self._kinds: dict[type, _Kind] = {}

    def of(self, value: Any) -> str:
        """The digest of a value a page is given."""
        if type(value) in _SCALARS:
            return repr(value)
        if isinstance(value, Content):
            return self._value(value)
        links: list[Content] = []
        piece = self._piece(value, links)
        if not links:
            return piece
        return _sha("\0".join([piece, *map(self._value, links)]))

    def place(self, page: Page) -> str:
        """A page of a listing by its place only (number, address, the listing's shape, or
        what a page that knows its place says of it)."""
        place = getattr(page, "page_place", None)
        if place is not None:
            return f"place:{self.of(place())}"
        return f"place:{page.number}:{page.url!r}:{page.save_as!r}:{self.of(page.paginator)}"

    def _value(self, content: Content) -> str:
        key = id(content)
        found = self._values.get(key)
        if found is None:
            own, links = self._own_of(content)
            found = _sha("\0".join([own, *(self._own_of(link)[0] for link in links)])) \
                if links else own
            self._values[key] = found
        return found

    def _own_of(self, content: Content) -> tuple[str, tuple[Content, ...]]:
        """All of a content object's own attributes, once per build; its HTML with links
        resolved (Pelican resolves them on every access)."""
        key = id(content)
        found = self._own.get(key)
        if found is None:
            links: list[Content] = []
            own = {name: value for name, value in vars(content).items() if name not in _NOT_OWN}
            metadata = own.get("metadata")
            if type(metadata) is dict:  # most of it is also attributes: digested there
                own["metadata"] = {name: value for name, value in metadata.items()
                                   if own.get(name) is not value}
            text = "\0".join([type(content).__name__, _sha(content.content),
                              self._mapping(own, links)])
            found = self._own[key] = (_sha(text), tuple(links))
            self._alive.append(content)
        return found

    def _piece(self, value: Any, links: list[Content]) -> str:
        """A value's text (or, kept for the build, its digest)."""
        kind = type(value)
        if kind in _SCALARS:
            return repr(value)
        empty = _EMPTY.get(kind)
        if empty is not None and not value:  # most stories' photos, replies, translations
            return empty
        how = self._kinds.get(kind) or self._kind(kind)
        if how.kept is None or (how.kept and len(value) <= how.kept):
            return how.text(value, links)
        key = id(value)
        found = self._kept.get(key)
        if found is None:
            inner: list[Content] = []
            found = self._kept[key] = (_sha(how.text(value, inner)), tuple(inner))
            self._alive.append(value)
        links.extend(found[1])
        return found[0]

    def _kind(self, kind: type) -> _Kind:
        """How a type is digested, found once per type (ABC checks are slow)."""
        how = self._kinds[kind] = self._kind_of(kind)
        return how

    def _kind_of(self, kind: type) -> _Kind:
        if issubclass(kind, bool | int | float | str):
            return _Kind(lambda value, _: repr(value))
        if issubclass(kind, dict):
            return _Kind(self._mapping, _SHORT)
        if issubclass(kind, list | tuple):
            return _Kind(self._sequence, _SHORT)
        if issubclass(kind, Content):
            return _Kind(self._address)
        if issubclass(kind, URLWrapper):  # one per name per build (milpa_stories): kept
            return _Kind(_wrapper_text, 0)
        if issubclass(kind, datetime | date):
            return _Kind(_date_text)
        if issubclass(kind, enum.Enum | Path | tzinfo):
            return _Kind(lambda value, _: repr(value))
        if issubclass(kind, set | frozenset):
            return _Kind(self._set, _SHORT)
        if issubclass(kind, Mapping):
            return _Kind(self._mapping, _SHORT)
        if callable(getattr(kind, "page_fingerprint", None)):
            return _Kind(self._fingerprinted, 0)
        if issubclass(kind, Page):  # each page is met once: not kept
            return _Kind(self._page)
        if issubclass(kind, Paginator):
            return _Kind(self._paginator, 0)
        if dataclasses.is_dataclass(kind):
            return _Kind(self._dataclass, 0)
        return _Kind(_unmemoizable)

    def _address(self, content: Content, links: list[Content]) -> str:
        links.append(content)
        key = id(content)
        found = self._addresses.get(key)
        if found is None:
            found = self._addresses[key] = \
                f"{type(content).__name__}:{content.url!r}:{content.save_as!r}"
        return found

    def _sequence(self, value: list[Any] | tuple[Any, ...], links: list[Content]) -> str:
        piece, scalars = self._piece, _SCALARS
        return "[" + ",".join([repr(item) if type(item) in scalars else piece(item, links)
                               for item in value]) + "]"

    def _set(self, value: set[Any] | frozenset[Any], links: list[Content]) -> str:
        return "{" + ",".join(sorted(self._piece(item, links) for item in value)) + "}"

    def _mapping(self, value: Mapping[Any, Any], links: list[Content]) -> str:
        # Most keys and many values are plain: digested here, without a call each.
        piece, scalars = self._piece, _SCALARS
        return "{" + ",".join(sorted([
            f"{repr(k) if type(k) is str else piece(k, links)}:"
            f"{repr(v) if type(v) in scalars else piece(v, links)}"
            for k, v in value.items()])) + "}"

    def _page(self, page: Page, links: list[Content]) -> str:
        return (f"page:{page.number}:{page.url!r}:{page.save_as!r}:"
                f"{self._piece(page.paginator, links)}:{self._sequence(page.object_list, links)}")

    def _paginator(self, paginator: Paginator, _links: list[Content]) -> str:
        # Its shape: templates that reach its whole list are not memoized (_referenced).
        return (f"paginator:{paginator.name!r}:{paginator.url!r}:{paginator.per_page}:"
                f"{paginator.num_pages}:{paginator.count}")

    def _fingerprinted(self, value: Any, links: list[Content]) -> str:
        return f"{type(value).__qualname__}:{self._piece(value.page_fingerprint(), links)}"

    def _dataclass(self, value: Any, links: list[Content]) -> str:
        return f"{type(value).__qualname__}:" + ",".join(
            f"{f.name}={self._piece(getattr(value, f.name), links)}"
            for f in dataclasses.fields(value) if f.metadata.get(IN_PAGES, True))


def _wrapper_text(value: URLWrapper, _links: list[Content]) -> str:
    return f"{type(value).__name__}:{value.name!r}:{value.slug!r}:{value.url!r}:{value.save_as!r}"


def _date_text(value: date, _links: list[Content]) -> str:
    return f"{type(value).__name__}:{value.isoformat()}:{getattr(value, 'tzinfo', '')}"


def _unmemoizable(value: Any, _links: list[Content]) -> str:
    raise Unmemoizable(type(value).__qualname__)


# What a template may read of a paginator: a page's digest covers its own stories and the
# pagination's shape, not the whole list (nor other pages) a paginator can give.
_PAGINATOR_SHAPE = frozenset({"num_pages", "count", "per_page"})
# Stands for the paginators of a template that reads a page's (``….paginator``): a page that
# knows its place (milpa_stories.pagination) is digested without its listing's shape.
_PAGINATORS = "*_paginator"
# The pages before and after the one written: templates link them (their digest is their
# place), and reading their stories makes a template always rendered.
_NEIGHBOUR_PAGES = ("_previous_page", "_next_page")
# What only the page written may be read for: its stories, and the listing's story count
# on a stable listing's front page (milpa_stories.pagination).
_PAGE_CONTENTS = frozenset({"object_list", "total"})


def _reaches_whole_lists(tree: nodes.Template) -> bool:
    """Whether a template may read a paginator's whole list or other pages: ``.object_list``
    or ``.total`` of anything but a ``*_page``, or a paginator (``*_paginator``,
    ``….paginator``) used other than for one attribute of its shape."""
    shape_of: set[int] = set()  # paginators whose use is one attribute of their shape
    for node in tree.find_all(nodes.Getattr):
        if node.attr in _PAGINATOR_SHAPE:
            shape_of.add(id(node.node))
        if node.attr in _PAGE_CONTENTS and not (
                isinstance(node.node, nodes.Name) and node.node.name.endswith("_page")
                and not node.node.name.endswith(_NEIGHBOUR_PAGES)):
            return True
    paginators = [node for node in tree.find_all(nodes.Getattr) if node.attr == "paginator"]
    paginators += [node for node in tree.find_all(nodes.Name)
                   if node.name.endswith("_paginator")]
    return any(id(node) not in shape_of for node in paginators)


class RenderMemo:
    """The fingerprint each output file was rendered from, and its bytes' digest, kept in
    ``path`` from one build to the next, with what each template file refers to."""

    def __init__(self, path: Path, site: str) -> None:
        self.path = path
        self.site = site
        self.digests = Digests()
        self.previous: dict[str, list[str]] = {}
        self.now: dict[str, list[str]] = {}
        self.reuses = 0
        # Memos of other files built with these pages (``milpa.outputs.OutputMemo``),
        # saved with the stamps of their files too.
        self.companions: list[Any] = []
        # Template file's source digest → [its own names, the templates it uses], or None
        # if it reaches whole lists: kept from build to build, as parsing is slow.
        self.analysed: dict[str, list[list[str]] | None] = {}
        self._used: set[str] = set()  # source digests of the template files this build read
        self._files: dict[str, str] = {}  # template file's name → its source digest
        self._variables: dict[str, tuple[frozenset[str], str] | None] = {}
        self._ordered: dict[str, tuple[str, tuple[tuple[str, bool], ...]] | None] = {}
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(stored, dict) and stored.get("site") == site:
            self.previous = stored.get("pages") or {}
            self.analysed = stored.get("templates") or {}

    def variables(self, template: jinja2.Template) -> frozenset[str] | None:
        """Every name the template and the templates it uses refer to; None if one of
        those templates is chosen at render time."""
        found = self._sourced(template)
        return None if found is None else found[0]

    def _sourced(self, template: jinja2.Template) -> tuple[frozenset[str], str] | None:
        """``variables`` and a digest of the sources of every template file it uses."""
        name = template.name
        if name not in self._variables:
            self._variables[name] = self._referenced(template.environment, name)
        return self._variables[name]

    def _referenced(self, env: jinja2.Environment,
                    name: str) -> tuple[frozenset[str], str] | None:
        names: set[str] = set()
        sources: list[str] = []
        pending, seen = [name], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            digest, found = self._template_file(env, current)
            if found is None:
                return None
            sources.append(f"{current}={digest}")
            file_names, used = found
            names.update(file_names)
            pending += used
        return frozenset(names), _sha("\0".join(sorted(sources)))

    def _template_file(self, env: jinja2.Environment,
                       name: str) -> tuple[str, list[list[str]] | None]:
        """One template file's source digest, its own names and the templates it uses
        (None if it reaches whole lists or picks a template at render time). Each file is
        read once per build and parsed only when its source is new: most templates share
        the same base and includes, and parsing is most of this cost."""
        digest = self._files.get(name)
        if digest is None:
            source, _, _ = env.loader.get_source(env, name)
            digest = self._files[name] = _sha(source)
            self._used.add(digest)
            if digest not in self.analysed:
                tree = env.parse(source)
                used = list(meta.find_referenced_templates(tree))
                names = meta.find_undeclared_variables(tree)
                if any(node.attr == "paginator" for node in tree.find_all(nodes.Getattr)):
                    names.add(_PAGINATORS)
                self.analysed[digest] = None if _reaches_whole_lists(tree) or None in used \
                    else [sorted(names), used]
        return digest, self.analysed[digest]

    def _names(self, template: jinja2.Template
               ) -> tuple[str, tuple[tuple[str, bool], ...]] | None:
        """The digest of the template's sources, and its names in order, each with whether
        it is a page before or after."""
        if template.name not in self._ordered:
            found = self._sourced(template)
            self._ordered[template.name] = None if found is None else (found[1], tuple(
                (name, name.endswith(_NEIGHBOUR_PAGES)) for name in sorted(found[0])))
        return self._ordered[template.name]

    def fingerprint(self, template: jinja2.Template, context: Mapping[str, Any]) -> str | None:
        found = self._names(template)
        if found is None:
            return None
        sources, names = found
        # The sources: a template found outside the theme (THEME_TEMPLATES_OVERRIDES) is
        # not in the site's fingerprint.
        parts = [self.site, template.name, sources]
        of = self.digests.of
        try:
            for name, neighbour in names:
                if name == _PAGINATORS:
                    value = of([context[key] for key in sorted(context)
                                if key.endswith("_paginator")])
                elif name not in context:
                    value = "absent"
                elif neighbour and isinstance(context[name], Page):
                    value = self.digests.place(context[name])
                else:
                    value = of(context[name])
                parts.append(f"{name}={value}")
        except Unmemoizable as unknown:
            logger.debug("%s is rendered every time: %s", template.name, unknown)
            return None
        return _sha("\0".join(parts))

    def kept(self, relative: str, fingerprint: str, previous_output: str) -> int | None:
        """The size of the previous build's file ``relative`` if it was rendered from
        ``fingerprint`` and still has the bytes recorded: it is kept as it is."""
        recorded = self.previous.pop(relative, None)  # asked once: not kept after
        if not recorded or recorded[0] != fingerprint:
            return None
        stamp = unchanged_file(f"{previous_output}/{relative}", recorded[1],
                               recorded[2] if len(recorded) > 2 else None)
        if stamp is None:
            return None
        self.reuses += 1
        self.now[relative] = [fingerprint, recorded[1], stamp]
        return stamp[0]

    def record(self, relative: str, fingerprint: str, data: bytes) -> None:
        self.now[relative] = [fingerprint, hashlib.sha256(data).hexdigest()]

    def save(self, produced: Mapping[str, int], stamps: Mapping[str, list[int]]) -> None:
        """Written once the build is in place: only files it produced, each with its
        stamp (``stamps``: those of the files written, or found the same, by this build),
        and the same for the memos of other files (``companions``)."""
        pages = {path: [*entry[:2], entry[2] if len(entry) > 2 else stamps.get(path)]
                 for path, entry in self.now.items() if path in produced}
        logger.info("%d pages taken from the previous build, %d rendered", self.reuses,
                    len(pages) - self.reuses)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        templates = {digest: self.analysed[digest] for digest in sorted(self._used)}
        temporary.write_text(json.dumps({"site": self.site, "pages": pages,
                                         "templates": templates}), encoding="utf-8")
        temporary.replace(self.path)
        for companion in self.companions:
            companion.stamp(stamps)
