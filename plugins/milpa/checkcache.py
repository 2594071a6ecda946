"""What the check read in each source, kept between builds so an unchanged file is not
parsed again.

A record is used only for the very bytes it was made from (their SHA-256), by the same
code (the digest of the modules that read sources, and dateutil's version) and the same
``shaping`` values (what the caller's slug function depends on). Records hold what the
file says — its header fields with their lines, the header's own errors, the photos and
links of its body, its slug — never a verdict: every rule runs again on every build from
them, with this build's settings, clock and files. A cache file that cannot be read, was
made by other code, or holds anything not of the expected shape is ignored as a whole,
and every source is read again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dateutil

from .frontmatter import HEADER_ERRORS, Field, FrontMatter
from .state import write_atomically

logger = logging.getLogger(__name__)

FORMAT = 1
# Far above what 10,000 stories need (about 6 MB): a bigger file is not read at all.
MAX_CACHE_BYTES = 100_000_000
_HERE = Path(__file__).parent
# The modules whose code decides what a record holds.
_READERS = ("checkcache.py", "checks.py", "frontmatter.py", "stories.py")

MediaReference = tuple[int, str, str | None]
Link = tuple[int, str]


@dataclass(frozen=True)
class Facts:
    """What one source says, as the check needs it: the body itself is not kept."""

    header: FrontMatter
    media: tuple[MediaReference, ...]
    links: tuple[Link, ...]
    slug: str


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_version(shaping: object) -> str:
    """Changes whenever the code reading sources or what ``shaping`` names changes."""
    hashed = hashlib.sha256(json.dumps([FORMAT, dateutil.__version__, shaping],
                                       default=repr).encode())
    for name in _READERS:
        hashed.update((_HERE / name).read_bytes())
    return hashed.hexdigest()


class _Invalid(ValueError):
    """The cache file is not one this code wrote."""


class _Outdated(_Invalid):
    """Written by other code (after an upgrade) or for other slug rules: expected."""


def _int(value: Any) -> int:
    # bool is an int too, and no line number is one.
    if type(value) is not int or not 0 <= value < 10_000_000:
        raise _Invalid(f"not a line number: {value!r}")
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Invalid(f"not a string: {value!r}")
    return value


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise _Invalid(f"not a list: {value!r}")
    return value


def _facts(record: Any) -> Facts:
    if type(record) is not dict:
        raise _Invalid("a record is not an object")
    fields: dict[str, Field] = {}
    for item in _list(record.get("fields")):
        key, value, line = _list(item)
        fields[_str(key)] = Field(key, _str(value), _int(line))
    errors = []
    for item in _list(record.get("errors")):
        line, template, values = _list(item)
        # The template is filled in with str.format: only the reader's own sentences.
        if template not in HEADER_ERRORS or type(values) is not dict:
            raise _Invalid(f"not a header error: {template!r}")
        errors.append((_int(line), template,
                       {_str(k): v if type(v) is int else _str(v) for k, v in values.items()}))
    media = tuple((_int(line), _str(src), None if alt is None else _str(alt))
                  for line, src, alt in map(_list, _list(record.get("media"))))
    links = tuple((_int(line), _str(target))
                  for line, target in map(_list, _list(record.get("links"))))
    header = FrontMatter(fields, _int(record.get("body_line")), "", errors)
    return Facts(header, media, links, _str(record.get("slug")))


def _record(facts: Facts) -> dict[str, Any]:
    header = facts.header
    return {"fields": [[f.key, f.value, f.line] for f in header.fields.values()],
            "errors": [list(error) for error in header.errors],
            "body_line": header.body_line, "media": [list(m) for m in facts.media],
            "links": [list(link) for link in facts.links], "slug": facts.slug}


class CheckCache:
    """The records of one content folder's sources, in one JSON file written atomically."""

    def __init__(self, path: Path, shaping: object = ()) -> None:
        self.path = path
        self.version = code_version(shaping)
        self._records: dict[str, tuple[str, Facts]] = {}
        self._dates: dict[str, datetime | None] = {}
        self._kept: dict[str, tuple[str, Facts]] = {}
        self._dates_used: dict[str, datetime | None] = {}
        self._changed = False
        try:
            self._load()
        except (OSError, UnicodeError, ValueError, TypeError, RecursionError) as error:
            # Missing (the first build), outdated, damaged or not ours: every source is
            # read again; only a damaged or foreign file is worth a word.
            if not isinstance(error, FileNotFoundError | _Outdated):
                logger.warning("not using the check's cache %s: %s", path, error)
            self._records, self._dates = {}, {}

    def _load(self) -> None:
        if self.path.stat().st_size > MAX_CACHE_BYTES:
            raise _Invalid("too big")
        data = json.loads(self.path.read_bytes())
        if type(data) is not dict:
            raise _Invalid("not a cache of the check")
        if data.get("version") != self.version:
            raise _Outdated("made by other code or slug rules")
        sources = data.get("sources")
        dates = data.get("dates")
        if type(sources) is not dict or type(dates) is not dict:
            raise _Invalid("not a cache of the check")
        for name, (sha, record) in sources.items():
            if type(sha) is not str or len(sha) != 64:
                raise _Invalid(f"no digest for {name}")
            self._records[name] = (sha, _facts(record))
        for text, parsed in dates.items():
            self._dates[_str(text)] = None if parsed is None else \
                datetime.fromisoformat(_str(parsed))

    def facts(self, name: str, sha: str) -> Facts | None:
        """The record of source ``name`` if it was made from the bytes whose digest is
        ``sha`` (``digest``)."""
        found = self._records.get(name)
        if found is None or found[0] != sha:
            return None
        self._kept[name] = found
        return found[1]

    def remember(self, name: str, sha: str, facts: Facts) -> None:
        self._kept[name] = (sha, facts)
        self._changed = True

    def date(self, text: str) -> tuple[bool, datetime | None]:
        """(known, the date read from ``text`` or None when it is not a date)."""
        if text not in self._dates:
            return False, None
        self._dates_used[text] = self._dates[text]
        return True, self._dates[text]

    def remember_date(self, text: str, parsed: datetime | None) -> None:
        self._dates_used[text] = parsed
        self._changed = True

    def save(self, names: Iterable[str]) -> None:
        """Keep the records of ``names`` (this build's sources) and the dates they used;
        nothing is written when every record was already there."""
        names = set(names)
        if not self._changed and names == set(self._records) and \
                set(self._dates_used) == set(self._dates):
            return
        data = {"version": self.version,
                "sources": {name: [sha, _record(facts)]
                            for name, (sha, facts) in sorted(self._kept.items()) if name in names},
                "dates": {text: None if parsed is None else parsed.isoformat()
                          for text, parsed in sorted(self._dates_used.items())}}
        write_atomically(self.path, json.dumps(data, ensure_ascii=False).encode())
