"""Pages that cannot have changed are not rendered again.

Each page Pelican renders gets a fingerprint: the site's (theme files, catalogs, plugin
code, library versions; the settings name the memo's folder) and, for every variable its
template and the templates it extends, includes or imports refer to, a digest of the
value the page is given. A content object's digest covers all its attributes (its HTML
with links resolved, metadata, replies…), and the stories around it; a value of a kind
this module does not know makes the page unmemoizable, and it is simply rendered. When a
page's fingerprint equals the one recorded for its file by the previous build, and that
file still has the bytes recorded, its text is taken from the previous output instead of
rendering the template.

A listing page is digested by its own stories and its paginator's shape (pages, count),
and the pages before and after it by their place: a template that reads a paginator's
whole list or another page's stories is found by reading its source, and always rendered.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
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


# Values digested again each time they are met rather than kept: small and cheap.
_CHEAP = (datetime, date, tzinfo, Path, enum.Enum, URLWrapper)
_CONTAINERS = (list, tuple, dict, set, frozenset)


def _worth_keeping(value: Any) -> bool:
    """Whether a value's digest is kept for the build: content objects, listings' pages,
    long containers and other objects (the site's feeds and actors), met many times."""
    if isinstance(value, _CONTAINERS):
        return len(value) > 8
    return not isinstance(value, _CHEAP)


class Digests:
    """Digests of the values pages are given, each object digested once per build."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int], str] = {}
        self._alive: list[Any] = []  # keeps digested objects alive: ids stay theirs
        self._htmls: dict[int, str] = {}
        self._plain: dict[int, str] = {}
        self._contents = 0  # content objects digested so far

    def of(self, value: Any, depth: int = 0) -> str:
        if value is None or isinstance(value, bool | int | float | str):
            return repr(value)
        if not _worth_keeping(value):  # cheap to digest again: memory matters more
            return hashlib.sha256(self._text(value, depth).encode()).hexdigest()
        if id(value) in self._plain:
            return self._plain[id(value)]
        key = (id(value), depth)
        if key not in self._known:
            contents = self._contents
            digest = hashlib.sha256(self._text(value, depth).encode()).hexdigest()
            self._alive.append(value)
            if self._contents == contents:  # no content object inside: the same at any depth
                self._plain[id(value)] = digest
                return digest
            self._known[key] = digest
        return self._known[key]

    def _text(self, value: Any, depth: int) -> str:
        # The usual kinds first: ABC checks (Mapping) are slow.
        if isinstance(value, dict):
            return self._mapping(value, depth)
        if isinstance(value, list | tuple):
            return "[" + ",".join(self.of(item, depth) for item in value) + "]"
        if isinstance(value, Content):
            return self._content(value, depth)
        if isinstance(value, URLWrapper):
            return f"{type(value).__name__}:{value.name}:{value.slug}:{value.url}:{value.save_as}"
        if isinstance(value, datetime | date):
            return f"{type(value).__name__}:{value.isoformat()}:{getattr(value, 'tzinfo', '')}"
        if isinstance(value, enum.Enum | Path | tzinfo):
            return repr(value)
        if isinstance(value, set | frozenset):
            return "{" + ",".join(sorted(self.of(item, depth) for item in value)) + "}"
        if isinstance(value, Mapping):
            return self._mapping(value, depth)
        if isinstance(value, Page):
            return (f"page:{value.number}:{value.url}:{value.save_as}:"
                    f"{self.of(value.paginator, depth)}:{self.of(value.object_list, depth)}")
        if isinstance(value, Paginator):
            # Its shape: templates that reach its whole list are not memoized (_referenced).
            return (f"paginator:{value.name}:{value.url}:{value.per_page}:{value.num_pages}:"
                    f"{value.count}")
        fingerprint = getattr(value, "page_fingerprint", None)
        if callable(fingerprint):
            return f"{type(value).__qualname__}:{self.of(fingerprint(), depth)}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = [f for f in dataclasses.fields(value) if f.metadata.get(IN_PAGES, True)]
            return f"{type(value).__qualname__}:" + ",".join(
                f"{f.name}={self.of(getattr(value, f.name), depth)}" for f in fields)
        raise Unmemoizable(type(value).__qualname__)

    def place(self, page: Page) -> str:
        """A page of a listing by its place only (number, address, the listing's shape)."""
        return f"place:{page.number}:{page.url}:{page.save_as}:{self.of(page.paginator)}"

    def _mapping(self, value: Mapping[Any, Any], depth: int) -> str:
        return "{" + ",".join(sorted(f"{self.of(k, depth)}:{self.of(v, depth)}"
                                     for k, v in value.items())) + "}"

    def _html(self, content: Content) -> str:
        """The object's HTML with its links resolved, once per build (Pelican resolves
        them on every access)."""
        key = id(content)
        if key not in self._htmls:
            self._htmls[key] = hashlib.sha256(content.content.encode()).hexdigest()
        return self._htmls[key]

    def _content(self, content: Content, depth: int) -> str:
        """All of a content object's own attributes; the content objects it points to
        (translations, the stories around it) one level deep, then by their address."""
        self._contents += 1
        if depth > 1:
            return f"{type(content).__name__}:{content.url}:{content.save_as}"
        own = {name: value for name, value in vars(content).items() if name not in _NOT_OWN}
        # ``own`` is made here: digested, not kept (the object's digest is).
        parts = [type(content).__name__, self._html(content), self._mapping(own, depth + 1)]
        return "\0".join(parts)


# What a template may read of a paginator: a page's digest covers its own stories and the
# pagination's shape, not the whole list (nor other pages) a paginator can give.
_PAGINATOR_SHAPE = frozenset({"num_pages", "count", "per_page"})
# The pages before and after the one written: templates link them (their digest is their
# place), and reading their stories makes a template always rendered.
_NEIGHBOUR_PAGES = ("_previous_page", "_next_page")


def _reaches_whole_lists(tree: nodes.Template) -> bool:
    """Whether a template may read a paginator's whole list or other pages: ``.object_list``
    of anything but a ``*_page``, or a paginator (``*_paginator``, ``….paginator``) used
    other than for one attribute of its shape."""
    shape_of: set[int] = set()  # paginators whose use is one attribute of their shape
    for node in tree.find_all(nodes.Getattr):
        if node.attr in _PAGINATOR_SHAPE:
            shape_of.add(id(node.node))
        if node.attr == "object_list" and not (
                isinstance(node.node, nodes.Name) and node.node.name.endswith("_page")
                and not node.node.name.endswith(_NEIGHBOUR_PAGES)):
            return True
    paginators = [node for node in tree.find_all(nodes.Getattr) if node.attr == "paginator"]
    paginators += [node for node in tree.find_all(nodes.Name)
                   if node.name.endswith("_paginator")]
    return any(id(node) not in shape_of for node in paginators)


class RenderMemo:
    """The fingerprint each output file was rendered from, and its bytes' digest, kept in
    ``path`` from one build to the next."""

    def __init__(self, path: Path, site: str) -> None:
        self.path = path
        self.site = site
        self.digests = Digests()
        self.previous: dict[str, list[str]] = {}
        self.now: dict[str, list[str]] = {}
        self.reuses = 0
        self._variables: dict[str, frozenset[str] | None] = {}
        self._files: dict[str, tuple[frozenset[str], tuple[str, ...]] | None] = {}
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(stored, dict) and stored.get("site") == site:
            self.previous = stored.get("pages") or {}

    def variables(self, template: jinja2.Template) -> frozenset[str] | None:
        """Every name the template and the templates it uses refer to; None if one of
        those templates is chosen at render time."""
        name = template.name
        if name not in self._variables:
            self._variables[name] = self._referenced(template.environment, name)
        return self._variables[name]

    def _referenced(self, env: jinja2.Environment, name: str) -> frozenset[str] | None:
        names: set[str] = set()
        pending, seen = [name], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            found = self._template_file(env, current)
            if found is None:
                return None
            file_names, used = found
            names |= file_names
            pending += used
        return frozenset(names)

    def _template_file(self, env: jinja2.Environment,
                       name: str) -> tuple[frozenset[str], tuple[str, ...]] | None:
        """One template file's own names and the templates it uses, None if it reaches
        whole lists or picks a template at render time: parsed once per build, as most
        templates share the same base and includes (parsing is most of this cost)."""
        if name not in self._files:
            source, _, _ = env.loader.get_source(env, name)
            tree = env.parse(source)
            used = tuple(meta.find_referenced_templates(tree))
            self._files[name] = None if _reaches_whole_lists(tree) or None in used else \
                (frozenset(meta.find_undeclared_variables(tree)), used)
        return self._files[name]

    def fingerprint(self, template: jinja2.Template, context: Mapping[str, Any]) -> str | None:
        names = self.variables(template)
        if names is None:
            return None
        digest = hashlib.sha256(f"{self.site}\0{template.name}".encode())
        try:
            for name in sorted(names):
                if name not in context:
                    value = "absent"
                elif name.endswith(_NEIGHBOUR_PAGES) and isinstance(context[name], Page):
                    value = self.digests.place(context[name])
                else:
                    value = self.digests.of(context[name])
                digest.update(f"\0{name}={value}".encode())
        except Unmemoizable as unknown:
            logger.debug("%s is rendered every time: %s", template.name, unknown)
            return None
        return digest.hexdigest()

    def reused(self, relative: str, fingerprint: str, previous_output: Path) -> str | None:
        """The previous build's text of ``relative`` if it was rendered from
        ``fingerprint`` and still has the bytes recorded."""
        recorded = self.previous.get(relative)
        if not recorded or recorded[0] != fingerprint:
            return None
        try:
            data = (previous_output / relative).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != recorded[1]:
            return None
        return data.decode("utf-8")

    def record(self, relative: str, fingerprint: str, data: bytes) -> None:
        self.now[relative] = [fingerprint, hashlib.sha256(data).hexdigest()]

    def save(self, produced: Mapping[str, int]) -> None:
        """Written once the build is in place: only files it produced."""
        pages = {path: entry for path, entry in self.now.items() if path in produced}
        logger.info("%d pages taken from the previous build, %d rendered", self.reuses,
                    len(pages) - self.reuses)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"site": self.site, "pages": pages}), encoding="utf-8")
        temporary.replace(self.path)
