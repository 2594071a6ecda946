"""Read a Markdown story's front matter the way Pelican does, keeping line numbers.

Pelican hands Markdown metadata to Python-Markdown's ``meta`` extension: ``Key: value``
lines at the top of the file, continuation lines indented by four spaces, ended by the
first blank line (optionally fenced by ``---``). Pelican itself forgets where each field
came from, and silently turns a malformed header line into body text; ``check`` needs
both the line numbers and a word about the malformed line, hence this small reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .i18n import N_

# The same patterns as markdown.extensions.meta, so we accept exactly what Pelican does.
_FENCE_START = re.compile(r"^-{3}(\s.*)?$")
_FENCE_END = re.compile(r"^(-{3}|\.{3})(\s.*)?$")
_FIELD = re.compile(r"^[ ]{0,3}(?P<key>[A-Za-z0-9_-]+):\s*(?P<value>.*)$")
_CONTINUATION = re.compile(r"^[ ]{4,}(?P<value>.*)$")

NO_FRONT_MATTER = N_("no front matter: start the file with 'Title: …'")
GIVEN_TWICE = N_("'{key}' is given twice (first on line {first})")
NOT_A_FIELD = N_("front-matter line is not 'Field: value'; leave a blank line between the "
                 "front matter and the story")
# Every message a header can have: a kept header naming another one is not believed.
HEADER_ERRORS = frozenset({NO_FRONT_MATTER, GIVEN_TWICE, NOT_A_FIELD})


@dataclass(frozen=True)
class Field:
    """One front-matter field: its lower-cased key, raw value and 1-based line."""

    key: str
    value: str
    line: int


@dataclass
class FrontMatter:
    """The parsed header of a Markdown file and where its body starts."""

    fields: dict[str, Field] = field(default_factory=dict)
    body_line: int = 1
    body: str = ""
    # (line, message) pairs for header lines Pelican would misread.
    # (line, message template, its values): `check` says them in the site's language.
    errors: list[tuple[int, str, dict[str, object]]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        found = self.fields.get(key)
        return found.value if found else None

    def line_of(self, key: str) -> int:
        """The line of ``key``, or line 1 when the field is missing."""
        found = self.fields.get(key)
        return found.line if found else 1


def parse_front_matter(text: str) -> FrontMatter:
    lines = text.splitlines()
    result = FrontMatter()
    index = 0
    if lines and _FENCE_START.match(lines[0]):
        index = 1
    if index >= len(lines) or not _FIELD.match(lines[index]):
        result.errors.append((index + 1, NO_FRONT_MATTER, {}))
        result.body_line = index + 1
        result.body = "\n".join(lines[index:])
        return result

    last_key: str | None = None
    while index < len(lines):
        line = lines[index]
        number = index + 1
        if not line.strip():
            index += 1
            break
        if _FENCE_END.match(line):
            index += 1
            break
        field_match = _FIELD.match(line)
        continuation = _CONTINUATION.match(line)
        if field_match:
            key = field_match["key"].lower()
            if key in result.fields:
                result.errors.append((number, GIVEN_TWICE,
                                      {"key": key, "first": result.fields[key].line}))
            result.fields[key] = Field(key, field_match["value"].strip(), number)
            last_key = key
        elif continuation and last_key:
            previous = result.fields[last_key]
            joined = f"{previous.value}\n{continuation['value'].strip()}".strip()
            result.fields[last_key] = Field(last_key, joined, previous.line)
        else:
            result.errors.append((number, NOT_A_FIELD, {}))
            # Python-Markdown stops reading metadata here, as do we.
            break
        index += 1

    result.body_line = index + 1
    result.body = "\n".join(lines[index:])
    return result


def read_front_matter(path: Path) -> FrontMatter:
    return parse_front_matter(path.read_text(encoding="utf-8"))
