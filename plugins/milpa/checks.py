"""Lint stories and pages without building: every problem as ``path:line: message``.

``publish.py check`` reports them all; ``publish.py build`` leaves out each story or page
with a problem that would publish a broken or unsafe page (``blocks_build``) and builds
the rest. Expired stories are information, not problems (``informational``); oversize
sources and links to missing stories do not block a build: the build leaves expired
stories out, shrinks photos anyway, and a link can break when the story it points at
expires, which must not stop the next scheduled build.

Every media file under content/ (found by its bytes, whatever its name) is looked at too:
metadata that would travel with the repository (GPS, serial numbers, names) is reported as
``path: carries …`` but does not block the build, which re-encodes every published photo
and video and so never publishes it; a picture over the pixel limit blocks the build,
before anything is decoded.
"""

from __future__ import annotations

import difflib
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .checkcache import CheckCache, Facts, digest
from .frontmatter import FrontMatter, parse_front_matter
from .i18n import N_, SOURCE_LANG, editor_text
from .images import PHOTO_SUFFIXES, ImageTooLarge, opened_within
from .languages import is_valid_tag
from .metadata import HEAD_BYTES, UNREADABLE, VIDEO, Carried, carried, sniffed
from .quotes import quote_policy
from .references import is_remote, relative_to_cwd, resolve
from .settings import now, setting, site_zone
from .stories import (
    ALIASES,
    FIELDS,
    KNOWN_KEYS,
    STATUS_PROBLEM,
    STATUSES,
    FieldError,
    expiry_time,
    in_zone,
    not_a_date,
    parse_bool,
    read_date,
    status_problem,
)
from .video import ENCODERS_MISSING, VIDEO_TYPES, encoders_available

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mkd", ".mdown"})
_IMAGE = re.compile(r'!\[(?P<alt>[^\]]*)\]\(\s*<?(?P<src>[^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_ATTRIBUTE = re.compile(r'\b(?P<name>src|alt)\s*=\s*(?:"(?P<dq>[^"]*)"|\'(?P<sq>[^\']*)\')',
                             re.IGNORECASE)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?(?P<target>[^)\s>]+)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`]*`")


def say(lang: str, template: str, /, **values: object) -> str:
    """``template`` (marked with ``N_``) in the site's language ``lang``, then filled in:
    translated first, so a catalog can move the values where its grammar wants them."""
    return editor_text(lang, template).format(**values)


# The media rules, worded once: `check` reports them and the media plugin logs them
# while it builds, so an editor reads the same sentence from both.
def remote_media(reference: str, lang: str = SOURCE_LANG) -> str:
    return say(lang, N_("{reference} is on another host and readers' browsers would call it: "
                        "save a copy under content/ and link that"), reference=reference)


def missing_alt(reference: str, cover: bool = False, lang: str = SOURCE_LANG) -> str:
    hint = say(lang, N_("add 'Cover-Alt: what the photo shows'")) if cover else \
        say(lang, N_("write ![what it shows]({reference})"), reference=reference)
    return say(lang, N_("{reference} has no alt text: {hint}"), reference=reference, hint=hint)


def media_not_found(reference: str, looked_for: Path, lang: str = SOURCE_LANG) -> str:
    return say(lang, N_("{reference} not found (looked for {path})"), reference=reference,
               path=relative_to_cwd(looked_for))


def not_media(reference: str, lang: str = SOURCE_LANG) -> str:
    kinds = ", ".join(sorted(PHOTO_SUFFIXES | VIDEO_TYPES.keys()))
    return say(lang, N_("{reference} is neither a photo nor a video (use {kinds})"),
               reference=reference, kinds=kinds)


@dataclass(frozen=True, order=True)
class Problem:
    path: Path
    line: int
    message: str
    blocks_build: bool = True
    # Said for the editor's information (an expired story): `check` still succeeds.
    informational: bool = False
    # A story whose date is still to come (informational too): counted apart by `check`.
    scheduled: bool = False

    def __str__(self) -> str:
        # Line 0: the file as a whole (a photo), not a line in it.
        where = f":{self.line}" if self.line else ""
        return f"{relative_to_cwd(self.path)}{where}: {self.message}"


def metadata_message(found: Carried, lang: str = SOURCE_LANG) -> str:
    """What ``check`` and the pre-commit hook say about a file that gives something away."""
    if found.labels == (UNREADABLE,):
        return say(lang, N_("could not be read to look for metadata: is it damaged? "
                            "Export it again"))
    carries = ", ".join(found.labels)
    if found.kind == VIDEO:
        return say(lang, N_("carries {carries} (the build re-encodes videos, but this original "
                            "is in git: export a copy without metadata and commit that "
                            "instead)"), carries=carries)
    return say(lang, N_("carries {carries} (run: python publish.py clean-media {path})"),
               carries=carries, path=relative_to_cwd(found.path))


def media_files(paths: Iterable[Path], heads: Mapping[str, bytes] | None = None
                ) -> Iterator[Carried]:
    """Every photo or video named or under a folder named, by content, with what it
    carries; other files are passed over. ``heads``: the first bytes of files already
    read, which are not opened again when they are no photo or video."""
    for named in paths:
        files = sorted((p for p in named.rglob("*") if p.is_file()), key=lambda p: p.parts) \
            if named.is_dir() else [named]
        for path in files:
            head = heads.get(str(path)) if heads else None
            if head is not None and sniffed(head) is None:
                continue
            found = carried(path)
            if found is not None:
                yield found


@dataclass(frozen=True)
class Source:
    """A Markdown file under content/ and what the check needs to know about it."""

    path: Path
    facts: Facts
    is_story: bool

    @property
    def header(self) -> FrontMatter:
        return self.facts.header

    @property
    def slug(self) -> str:
        """Its address's slug, made by the check's slug function when it was read."""
        return self.facts.slug

    def is_translation(self) -> bool:
        try:
            return parse_bool(self.header.get("translation") or "false")
        except ValueError:
            return False


def read_source(text: str, path: Path, slugify: Callable[[str], str]) -> Facts:
    """Everything the check needs from one source's text (the body is not kept)."""
    header = parse_front_matter(text)
    media = tuple(media_references(header))
    links = tuple((line, match["target"]) for line, body in body_lines(header)
                  for match in _LINK.finditer(body))
    slug = header.get("slug") or slugify(header.get("title") or path.stem)
    return Facts(header, media, links, slug)


def markdown_files(root: Path, folders: list[str]) -> Iterator[Path]:
    for folder in folders:
        base = root / folder
        if base.is_file():
            yield base
        elif base.is_dir():
            # Sorted as paths are (by their parts), without making a Path compare itself.
            yield from sorted((p for p in base.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES),
                              key=lambda path: path.parts)


def body_lines(header: FrontMatter) -> Iterator[tuple[int, str]]:
    """(line number, text) of the body, leaving out fenced code, where nothing is a link."""
    in_fence = False
    for number, line in enumerate(header.body.splitlines(), header.body_line):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            yield number, _CODE_SPAN.sub("", line)


def media_references(header: FrontMatter) -> Iterator[tuple[int, str, str | None]]:
    """(line, reference, alt text or None) for every photo or video in the body."""
    for number, line in body_lines(header):
        for match in _IMAGE.finditer(line):
            yield number, match["src"], match["alt"]
        for tag in _HTML_IMAGE.findall(line):
            found = {m["name"].lower(): m["dq"] if m["dq"] is not None else m["sq"]
                     for m in _HTML_ATTRIBUTE.finditer(tag)}
            yield number, found.get("src", ""), found.get("alt")


class SiteCheck:
    def __init__(self, settings: Mapping[str, Any], slugify: Callable[[str], str],
                 cache: CheckCache | None = None) -> None:
        """``cache``, when given, holds what each source said the last time it had the same
        bytes (``publish.py build`` keeps one per settings); every rule still runs."""
        self.settings = settings
        self.slugify = slugify
        self.cache = cache
        self.root = Path(settings["PATH"])
        self.zone = site_zone(settings)
        self.now = now(settings)
        self.max_bytes = setting(settings, "MILPA_MAX_SOURCE_IMAGE_BYTES")
        self.max_pixels = setting(settings, "MILPA_MAX_IMAGE_PIXELS")
        # Editors read `check` in the site's language.
        self.lang = settings.get("DEFAULT_LANG") or SOURCE_LANG
        self.problems: list[Problem] = []
        # By path (as text: Path hashes slowly): each source's name in the cache, and its
        # first bytes (is it a photo?).
        self._names: dict[str, str] = {}
        self._heads: dict[str, bytes] = {}
        # Each source's digest (milpa.checkcache.digest) by its absolute path: what the
        # build's content cache would read and hash it again for.
        self.source_digests: dict[str, str] = {}
        story_paths = list(markdown_files(self.root, settings.get("ARTICLE_PATHS", [""])))
        page_paths = list(markdown_files(self.root, settings.get("PAGE_PATHS", ["pages"])))
        pages = {str(p) for p in page_paths}
        self.sources = [self._source(p, True) for p in story_paths if str(p) not in pages]
        self.sources += [self._source(p, False) for p in page_paths]
        self.story_urls = {self._story_url(s) for s in self.sources if s.is_story}

    def _source(self, path: Path, is_story: bool) -> Source:
        data = path.read_bytes()
        text = str(path)
        self._heads[text] = data[:HEAD_BYTES]
        root = f"{self.root}{os.sep}"
        name = self._names[text] = text[len(root):].replace(os.sep, "/") \
            if text.startswith(root) else text
        # Named as Pelican's reader names it (not resolved: a link stays a link).
        sha = self.source_digests[os.path.abspath(text)] = digest(data)  # noqa: PTH100
        facts = self.cache.facts(name, sha) if self.cache else None
        if facts is None:
            # Not read_text: its newlines are the same to splitlines().
            facts = read_source(data.decode("utf-8"), path, self.slugify)
            if self.cache:
                self.cache.remember(name, sha, facts)
        return Source(path, facts, is_story)

    def _date(self, value: str) -> datetime:
        """``value`` read as a date in the site's zone; read once, ever, with a cache."""
        known, parsed = self.cache.date(value) if self.cache else (False, None)
        if not known:
            try:
                parsed = read_date(value)
            except ValueError:
                parsed = None
            if self.cache:
                self.cache.remember_date(value, parsed)
        if parsed is None:
            raise not_a_date(value)
        return parsed

    def _story_url(self, source: Source) -> str:
        pattern = self.settings.get("ARTICLE_URL", "{slug}.html")
        return "/" + pattern.replace("{slug}", source.slug).lstrip("/")

    def say(self, template: str, /, **values: object) -> str:
        return say(self.lang, template, **values)

    def field_error(self, error: ValueError) -> str:
        """A field's reading error in the site's language, when it says how (FieldError)."""
        if isinstance(error, FieldError):
            return self.say(error.template, **error.values)
        return str(error)

    def report(self, source: Source, line: int, message: str, blocks_build: bool = True,
               informational: bool = False, scheduled: bool = False) -> None:
        self.problems.append(Problem(source.path, line, message, blocks_build, informational,
                                     scheduled))

    def run(self) -> list[Problem]:
        for source in self.sources:
            self.check_header(source)
            self.check_media(source)
            self.check_links(source)
        self.check_slugs()
        self.check_media_files()
        if self.cache is not None:
            self.cache.save(self._names.values())
        return sorted(self.problems)

    def check_media_files(self) -> None:
        for found in media_files([self.root], self._heads):
            if found:
                self.problems.append(Problem(found.path, 0, metadata_message(found, self.lang),
                                             blocks_build=False))
            if found.kind == VIDEO:
                continue
            try:
                with opened_within(found.path, self.max_pixels):
                    pass
            except ImageTooLarge as error:
                self.problems.append(Problem(found.path, 0, str(error)))
            except (OSError, SyntaxError, ValueError):
                pass  # reported above as unreadable, or a format Pillow does not know

    def check_header(self, source: Source) -> None:
        header = source.header
        for line, template, values in header.errors:
            self.report(source, line, self.say(template, **values))
        for key, found in header.fields.items():
            if key not in KNOWN_KEYS:
                close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
                message = self.say(N_("unknown field '{key}' (did you mean {close}?)"),
                                   key=key, close=close[0].title()) if close else \
                    self.say(N_("unknown field '{key}'"), key=key)
                self.report(source, found.line, message)
        if not header.get("title"):
            self.report(source, header.line_of("title"),
                        self.say(N_("missing title: add 'Title: …'")))
        lang = header.get("lang")
        if lang is None and source.is_story:
            self.report(source, 1,
                        self.say(N_("missing language: add 'Lang: es' (or en, quc, nah…)")))
        elif lang is not None and not is_valid_tag(lang):
            self.report(source, header.line_of("lang"), self.say(
                N_("'{lang}' is not a BCP 47 language tag (for example es, en, quc, nah)"),
                lang=lang))
        status = header.get("status")
        if status and status_problem(status):
            self.report(source, header.line_of("status"), self.say(
                STATUS_PROBLEM, value=status, statuses=", ".join(STATUSES)))
        for key in ("pinned", "translation"):
            value = header.get(key)
            try:
                parse_bool(value or "")
            except ValueError as error:
                self.report(source, header.line_of(key),
                            f"{key.title()}: {self.field_error(error)}")
        if source.is_story:
            self.check_story_header(source)

    def check_story_header(self, source: Source) -> None:
        header = source.header
        for required in (f for f in FIELDS if f.required and f.key not in ("title", "lang")):
            spelled = [required.key, *(a for a, k in ALIASES.items() if k == required.key)]
            if not any(header.get(key) for key in spelled):
                self.report(source, 1, self.say(N_("missing {key}: add '{name}: {example}'"),
                                                key=required.key, name=required.name,
                                                example=required.example))
        published = None
        for key in ("date", "modified"):
            value = header.get(key)
            if value == "":
                self.report(source, header.line_of(key), self.say(
                    N_("{field} is empty: give a date or remove the line"), field=key.title()))
            elif value:
                try:
                    parsed = in_zone(self._date(value), self.zone)
                except ValueError as error:
                    self.report(source, header.line_of(key),
                                f"{key.title()}: {self.field_error(error)}")
                else:
                    published = published or parsed
                    if key == "date" and parsed > self.now:
                        self.report(source, header.line_of("date"), self.say(
                            N_("scheduled for {when}: the first build after that publishes "
                               "and announces it"), when=f"{parsed:%Y-%m-%d %H:%M}"),
                            blocks_build=False, informational=True, scheduled=True)
        expires = header.get("expires")
        if expires and published:
            try:
                ends = expiry_time(expires, published, self.zone, self._date)
            except ValueError as error:
                self.report(source, header.line_of("expires"),
                            f"Expires: {self.field_error(error)}")
            else:
                if ends <= self.now:
                    self.report(source, header.line_of("expires"), self.say(
                        N_("expired on {when}: it is no longer built; delete the file when "
                           "you no longer need it"), when=f"{ends:%Y-%m-%d %H:%M}"),
                        blocks_build=False, informational=True)
        policy = header.get("quote-policy")
        if policy:
            try:
                quote_policy(policy)
            except ValueError as error:
                self.report(source, header.line_of("quote-policy"),
                            f"Quote-Policy: {self.field_error(error)}")
        cover = header.get("cover")
        if cover:
            self.check_reference(source, header.line_of("cover"), cover, header.get("cover-alt"),
                                 cover=True)

    def check_media(self, source: Source) -> None:
        for line, reference, alt in source.facts.media:
            self.check_reference(source, line, reference, alt)

    def check_reference(self, source: Source, line: int, reference: str, alt: str | None,
                        cover: bool = False) -> None:
        if not reference:
            self.report(source, line, self.say(N_("image without a source")))
            return
        if is_remote(reference):
            self.report(source, line, remote_media(reference, self.lang))
            return
        path = resolve(reference, source.path, self.root)
        suffix = path.suffix.lower()
        if not (alt or "").strip():
            self.report(source, line, missing_alt(reference, cover, self.lang))
        if not path.is_file():
            self.report(source, line, media_not_found(reference, path, self.lang))
        elif suffix in VIDEO_TYPES:
            if not encoders_available():
                self.report(source, line, f"video {reference} {ENCODERS_MISSING}")
        elif suffix not in PHOTO_SUFFIXES:
            self.report(source, line, not_media(reference, self.lang))
        elif path.stat().st_size > self.max_bytes:
            self.report(source, line, self.say(
                N_("{reference} is {size} MB, over the {limit} MB limit "
                   "(MILPA_MAX_SOURCE_IMAGE_BYTES): shrink it before committing"),
                reference=reference, size=f"{path.stat().st_size / 1e6:.1f}",
                limit=f"{self.max_bytes / 1e6:.0f}"), blocks_build=False)

    def check_links(self, source: Source) -> None:
        pattern = self.settings.get("ARTICLE_URL", "")
        # Site-relative links are checked when story addresses depend on the slug alone.
        story_prefix = "/" + pattern.split("{")[0].lstrip("/")
        if pattern.replace("{slug}", "").count("{"):
            story_prefix = "/"
        for line, found in source.facts.links:
            target = found.split("#")[0]
            if not target or is_remote(target) or target.startswith("mailto:"):
                continue
            placeholder = target.startswith(("{filename}", "{static}", "{attach}"))
            if placeholder or target.lower().endswith(tuple(MARKDOWN_SUFFIXES)):
                if not resolve(target, source.path, self.root).is_file():
                    self.report(source, line, self.say(
                        N_("link to {target}, which does not exist"), target=target),
                        blocks_build=False)
            elif (story_prefix != "/" and target.startswith(story_prefix)
                  and "/" + target.lstrip("/") not in self.story_urls):
                self.report(source, line, self.say(
                    N_("link to {target}, which is not a story here"), target=target),
                    blocks_build=False)

    def check_slugs(self) -> None:
        by_slug: dict[tuple[bool, str], list[Source]] = defaultdict(list)
        for source in self.sources:
            by_slug[(source.is_story, source.slug)].append(source)
        for (_, slug), sources in by_slug.items():
            originals = [s for s in sources if not s.is_translation()]
            for duplicate in originals[1:]:
                self.report(duplicate, duplicate.header.line_of("slug"), self.say(
                    N_("'{slug}' is also the address of {path}: give it another Slug, or mark "
                       "it 'Translation: true'"), slug=slug,
                    path=relative_to_cwd(originals[0].path)))
            if not originals:
                lonely = sources[0]
                self.report(lonely, lonely.header.line_of("translation"), self.say(
                    N_("translation of '{slug}', but no original story has that Slug"),
                    slug=slug), blocks_build=False)


def check_site(settings: Mapping[str, Any], slugify: Callable[[str], str]) -> list[Problem]:
    """All problems in the site's content, sorted by file and line."""
    return SiteCheck(settings, slugify).run()
