"""ActivityPub documents that cannot have changed are not built again.

Only with ``publish.py build``, whose writer keeps the previous output and has a page memo
(``milpa_site.memo``): a story's document is reused when the digest of what it is built
from (the story as its page's fingerprint sees it, who wrote and shares it, its type and
quote policy, the site's code) is the one recorded for its file, the edit time it would be
served with is the same, and the previous output's file still has the bytes recorded. An
outbox page is reused when the documents in it are. Anything else is built, so a rebuild
is byte-identical to a full build. Plain ``pelican content`` builds everything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from milpa.announce import edit_time

logger = logging.getLogger(__name__)


def _digest(parts: Sequence[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class DocumentMemo:
    """For each document file: what it was built from, and its bytes' digest, kept beside
    the page memo from one build to the next."""

    def __init__(self, writer: Any) -> None:
        pages = getattr(writer, "memo", None)
        previous = getattr(writer, "previous", None)
        self.enabled = pages is not None and previous is not None
        self.reuses = 0
        self.previous: dict[str, list[Any]] = {}
        self.now: dict[str, list[Any]] = {}
        if not self.enabled:
            return
        self.output = Path(previous)
        self.pages = pages
        self.path = Path(pages.path).with_name(f"activitypub-{Path(pages.path).name}")
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(stored, dict) and stored.get("site") == pages.site:
            self.previous = stored.get("documents") or {}

    def story_inputs(self, story: Any, *parts: Any) -> str | None:
        """The digest of what a story's document is built from, None if the story cannot
        be digested (then it is built every time)."""
        if not self.enabled:
            return None
        # The build runner's memo, where this build has one: its error is the one to expect.
        from milpa_site.memo import Unmemoizable

        try:
            story_digest = self.pages.digests.of(story)
        except Unmemoizable:
            return None
        return _digest([self.pages.site, story_digest, *parts])

    def page_inputs(self, *parts: Any) -> str | None:
        return _digest([self.pages.site, *parts]) if self.enabled else None

    def _previous_bytes(self, relative: str, sha: str) -> bytes | None:
        try:
            data = (self.output / relative).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == sha else None

    def reused_story(self, relative: str, inputs: str | None, told: Any, moment: str
                     ) -> bytes | None:
        """The previous build's bytes of a story's document built from ``inputs``, if the
        edit time it is served with (``milpa.announce.with_edit_time``) is still theirs."""
        entry = self.previous.get(relative)
        if inputs is None or not entry or entry[0] != inputs:
            return None
        _, body, has_updated, updated, sha = entry
        if (None if has_updated else edit_time(told, body, moment)) != updated:
            return None
        data = self._previous_bytes(relative, sha)
        if data is not None:
            self.reuses += 1
            self.now[relative] = entry
        return data

    def record_story(self, relative: str, inputs: str | None, body: str, has_updated: bool,
                     updated: str | None, data: bytes) -> None:
        if inputs is not None:
            self.now[relative] = [inputs, body, has_updated, updated,
                                  hashlib.sha256(data).hexdigest()]

    def reused_page(self, relative: str, inputs: str | None) -> bytes | None:
        entry = self.previous.get(relative)
        if inputs is None or not entry or entry[0] != inputs:
            return None
        data = self._previous_bytes(relative, entry[1])
        if data is not None:
            self.reuses += 1
            self.now[relative] = entry
        return data

    def record_page(self, relative: str, inputs: str | None, data: bytes) -> None:
        if inputs is not None:
            self.now[relative] = [inputs, hashlib.sha256(data).hexdigest()]

    def sha_of(self, relative: str) -> str | None:
        """The digest of a document's bytes recorded in this build."""
        entry = self.now.get(relative)
        return entry[-1] if entry else None

    def save(self) -> None:
        """Written at once: an entry whose file did not reach the output (a build that
        failed later) is never reused, as the file's bytes are checked first."""
        if not self.enabled:
            return
        logger.info("%d ActivityPub documents taken from the previous build, %d built",
                    self.reuses, len(self.now) - self.reuses)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"site": self.pages.site, "documents": self.now}),
                             encoding="utf-8")
        temporary.replace(self.path)
