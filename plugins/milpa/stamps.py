"""The quote stamps the inbox gave (FEP-044f ``QuoteAuthorization``): their one owner.

``quote-stamps/ACTOR.STAMP.json``: ACTOR is a digest of the quoting actor, STAMP a digest
of the quoting post and the story, so asking again for the same quote gives the same stamp.
One folder listing counts an actor's stamps and everyone's (capped: per account, so one
cannot fill the disk, and in all, as one server can mint many accounts; one folder, as
ten thousand folders would take a fifth of a second to list). Each file is written
atomically, the counts and the write under one file lock.

A stamp stands while the story it is about is built and the story's policy, as built,
still allows its requester (``standing``): the inbox serves only those, and announce
withdraws the others (a ``Delete`` of the stamp, as Mastodon sends, then the file goes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from .activitypub import ApUrls
from .quotes import quote_allowed
from .replies import story_key
from .state import DataStore, write_atomically

DIGEST = re.compile(r"[0-9a-f]{32}")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Stamp:
    requester: str  # the quoting actor
    inbox: str  # its inbox, where a withdrawal goes
    instrument: str  # the quoting post
    target: str  # our story's id
    author: str  # our actor that gave it

    @property
    def parts(self) -> tuple[str, str]:
        """The two path parts that name it, in its file and its URL."""
        return digest(self.requester), digest(f"{self.instrument}\n{self.target}")


class StampStore:
    def __init__(self, data_folder: Path) -> None:
        self.root = data_folder / "quote-stamps"

    def _file(self, actor_part: str, stamp_part: str) -> Path | None:
        """The file of a stamp, only for names that are digests (they come from URLs)."""
        if not (DIGEST.fullmatch(actor_part) and DIGEST.fullmatch(stamp_part)):
            return None
        return self.root / f"{actor_part}.{stamp_part}.json"

    def save(self, stamp: Stamp, per_actor: int, total: int) -> bool:
        """Keep ``stamp``; False (and nothing written) when its actor already holds
        ``per_actor`` others, or everyone ``total``: one server can mint many accounts."""
        actor_part, stamp_part = stamp.parts
        path = self.root / f"{actor_part}.{stamp_part}.json"
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / ".lock", timeout=30):
            if not path.exists() and (self.count(f"{actor_part}.") >= per_actor
                                      or self.count() >= total):
                return False
            write_atomically(path, json.dumps(asdict(stamp), sort_keys=True,
                                              ensure_ascii=False).encode())
        return True

    def count(self, prefix: str = "") -> int:
        """Stamps whose names start with ``prefix`` (``ACTOR.``: one actor's), or everyone's:
        one listing, no file read."""
        try:
            with os.scandir(self.root) as entries:
                return sum(1 for entry in entries if entry.name.startswith(prefix)
                           and entry.name.endswith(".json")
                           and not entry.name.startswith("."))  # "." starts a file being written
        except FileNotFoundError:
            return 0

    def read(self, actor_part: str, stamp_part: str) -> Stamp | None:
        path = self._file(actor_part, stamp_part)
        if path is None or not path.is_file():
            return None
        return Stamp(**json.loads(path.read_text(encoding="utf-8")))

    def remove(self, stamp: Stamp) -> None:
        actor_part, stamp_part = stamp.parts
        (self.root / f"{actor_part}.{stamp_part}.json").unlink(missing_ok=True)

    def __iter__(self) -> Iterator[Stamp]:
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            yield Stamp(**json.loads(path.read_text(encoding="utf-8")))


def built_story(objects: Path, urls: ApUrls, story_id: str | None) -> dict[str, Any] | None:
    """The built document (under ``objects``, output/ap/objects) of one of our stories."""
    prefix = urls.story("", "").rstrip("/") + "/"
    key = story_key(story_id[len(prefix):]) if story_id and story_id.startswith(prefix) \
        else None
    path = objects / key if key else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def author_name(document: dict[str, Any], urls: ApUrls) -> str | None:
    """The name of our actor a built story is attributed to."""
    author = document.get("attributedTo")
    prefix = urls.actor("")
    return author[len(prefix):] if isinstance(author, str) and author.startswith(prefix) \
        else None


def allows(document: dict[str, Any], requester: str, urls: ApUrls, store: DataStore) -> bool:
    """Whether a built story lets ``requester`` quote it, its followers read from ``store``."""
    name = author_name(document, urls)
    follows = name is not None and store.is_follower(name, requester)
    return quote_allowed(document, requester, urls.followers(name) if follows else None)


def standing(stamp: Stamp, objects: Path, urls: ApUrls, store: DataStore) -> bool:
    """Whether a stamp still stands: its story is built and still allows its requester."""
    document = built_story(objects, urls, stamp.target)
    return document is not None and allows(document, stamp.requester, urls, store)
