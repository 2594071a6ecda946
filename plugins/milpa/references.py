"""How stories point at photos, videos and each other, resolved to files under content/."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Pelican's link placeholders: {static}/photos/a.jpg, {attach}a.jpg, {filename}/stories/b.md
_PLACEHOLDER = re.compile(r"^\{(static|attach|filename)\}|^\|(static|attach|filename)\|")


def is_remote(reference: str) -> bool:
    """True for a reference to another host, which would make readers' browsers call it."""
    parts = urlsplit(reference)
    return bool(parts.scheme or parts.netloc)


def resolve(reference: str, story: Path, content_root: Path) -> Path:
    """The file under ``content_root`` that ``reference`` in ``story`` names.

    ``/x`` and ``{static}/x`` start at content/; other paths start beside the story, then
    at content/ (Pelican accepts both). The result may not exist; callers say so.
    """
    path = unquote(_PLACEHOLDER.sub("", urlsplit(reference).path))
    if path.startswith("/"):
        return Path(os.path.normpath(content_root / path.lstrip("/")))
    beside = Path(os.path.normpath(story.parent / path))
    return beside if beside.exists() else Path(os.path.normpath(content_root / path))


def line_of(text: str, needle: str, start: int = 1) -> int:
    """1-based line of the first ``needle`` in ``text`` from line ``start`` (else ``start``)."""
    for number, line in enumerate(text.splitlines()[start - 1 :], start):
        if needle in line:
            return number
    return start


def relative_to_cwd(path: Path) -> str:
    """Paths in messages: short when inside the project, absolute otherwise."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
