"""Writing one built file, through the build's writer when it keeps the previous output,
and not building again a file whose inputs did not change (``OutputMemo``).

``publish.py build`` gives Pelican a writer (``milpa_site.keeping.KeepingWriter``) that
writes a file only when its bytes differ from the previous build's; plain ``pelican``
gives its own Writer, and the file is simply written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def write_output(writer: Any, folder: Path, relative: str, data: bytes) -> None:
    """``data`` as ``folder/relative`` (``folder``: the writer's output folder)."""
    keeping = getattr(writer, "write_bytes", None)
    if keeping is not None:
        keeping(relative, data)
        return
    _new_file(folder, relative).write_bytes(data)


def keep_output(writer: Any, folder: Path, relative: str, data: bytes) -> None:
    """``data``, which ``OutputMemo.reused`` found to be the previous output's bytes of
    ``relative``: the build's writer keeps that file as it is."""
    keeping = getattr(writer, "keep", None)
    if keeping is not None:
        keeping(relative, len(data))
        return
    write_output(writer, folder, relative, data)


def copy_output(writer: Any, folder: Path, relative: str, source: Path) -> None:
    """``source`` copied as ``folder/relative``."""
    keeping = getattr(writer, "copy_file", None)
    if keeping is not None:
        keeping(relative, source)
        return
    shutil.copyfile(source, _new_file(folder, relative))


def settle_output(writer: Any) -> None:
    """Every file handed to ``writer`` so far is on disk (the build's writes them in the
    background), before any is read back."""
    settling = getattr(writer, "settle_writes", None)
    if settling is not None:
        settling()


def _new_file(folder: Path, relative: str) -> Path:
    """Where a writer without the build's keeping writes ``relative`` (plain ``pelican``)."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


class OutputMemo:
    """Built files whose inputs did not change, taken from the previous output.

    Only with ``publish.py build``, whose writer keeps the previous output and has a page
    memo (``milpa_site.memo``): a file is reused when the digest of what it is built from
    (``inputs``: the page memo's digests of the stories in it, and every other value it is
    made of; the site's code is in each) is the one an earlier build recorded for it, and
    the previous output's file still has the bytes recorded then. Anything else is built,
    so a rebuild stays byte-identical to a full build. Plain ``pelican`` builds everything.
    """

    def __init__(self, writer: Any, name: str, unmemoizable: type[Exception]) -> None:
        pages = getattr(writer, "memo", None)
        previous = getattr(writer, "previous", None)
        self.enabled = pages is not None and previous is not None
        self.name = name
        self.unmemoizable = unmemoizable
        self.reuses = 0
        self.previous: dict[str, dict[str, Any]] = {}
        self.now: dict[str, dict[str, Any]] = {}
        if not self.enabled:
            return
        self.pages, self.output = pages, Path(previous)
        self.path = Path(pages.path).with_name(f"{name}-{Path(pages.path).name}")
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(stored, dict) and stored.get("site") == pages.site:
            self.previous = stored.get("files") or {}

    def digest(self, value: Any) -> str | None:
        """The page memo's digest of a value (a story: all it is, the stories around it
        included), None if it cannot digest it."""
        if not self.enabled:
            return None
        try:
            return self.pages.digests.of(value)
        except self.unmemoizable:
            return None

    def inputs(self, *parts: Any) -> str | None:
        """The digest of what a file is made of, None if any part is unknown (None)."""
        if not self.enabled or any(part is None for part in parts):
            return None
        text = json.dumps([self.pages.site, self.name, *parts], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def reused(self, relative: str, inputs: str | None,
               accept: Callable[[dict[str, Any]], bool] | None = None) -> bytes | None:
        """The previous build's bytes of ``relative`` if they were built from ``inputs``
        (and ``accept`` takes what was recorded with them)."""
        entry = self.previous.get(relative)
        if inputs is None or not entry or entry.get("inputs") != inputs or \
                (accept is not None and not accept(entry)):
            return None
        try:
            data = (self.output / relative).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != entry.get("sha"):
            return None
        self.reuses += 1
        self.now[relative] = entry
        return data

    def record(self, relative: str, inputs: str | None, data: bytes, **extra: Any) -> None:
        if inputs is not None:
            self.now[relative] = {"inputs": inputs, "sha": hashlib.sha256(data).hexdigest(),
                                  **extra}

    def sha_of(self, relative: str) -> str | None:
        """The digest of a file's bytes, if this build recorded it."""
        entry = self.now.get(relative)
        return entry["sha"] if entry else None

    def save(self) -> None:
        """Written as soon as the files are: an entry whose file never reached the output
        (a build that failed later) is not reused, as the file's bytes are checked first."""
        if not self.enabled:
            return
        logger.info("%s: %d files taken from the previous build", self.name, self.reuses)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"site": self.pages.site, "files": self.now}),
                             encoding="utf-8")
        temporary.replace(self.path)
