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
from collections.abc import Callable, Mapping
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


def file_stamp(path: str) -> list[int] | None:
    """What says a file was not touched since: its size, modification time and inode (a
    file replaced or written again has another), or None if it is not there."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns, status.st_ino]


def unchanged_file(path: str, sha: str | None, stamp: list[int] | None
                   ) -> list[int] | None:
    """The stamp of the file ``path`` if it still has the bytes whose digest is ``sha``:
    known without reading it when its stamp is ``stamp``, the one taken after they were
    written; else it is read."""
    found = file_stamp(path)
    if found is None or sha is None:
        return None
    if found == stamp:
        return found
    try:
        with open(path, "rb") as handle:
            same = hashlib.sha256(handle.read()).hexdigest() == sha
    except OSError:
        return None
    return found if same else None


def _new_file(folder: Path, relative: str) -> Path:
    """Where a writer without the build's keeping writes ``relative`` (plain ``pelican``)."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


class OutputMemo:
    """Built files whose inputs did not change, taken from the previous output.

    Only with ``publish.py build``, whose writer keeps the previous output and has a page
    memo (``milpa_site.memo``): a file is kept when the digest of what it is built from
    (``inputs``: the page memo's digests of the stories in it, and every other value it is
    made of; the site's code is in each) is the one an earlier build recorded for it, and
    the previous output's file still has the bytes recorded then (``unchanged_file``).
    Anything else is built, so a rebuild stays byte-identical to a full build. Plain
    ``pelican`` builds everything.
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
        self.writer, self.pages, self.output = writer, pages, Path(previous)
        pages.companions.append(self)  # stamped with the pages, once the output is in place
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

    def kept(self, relative: str, inputs: str | None,
             accept: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        """Whether the previous build's file ``relative`` was built from ``inputs`` (and
        ``accept`` takes what was recorded with it) and still has its bytes: the writer
        then keeps it as it is."""
        entry = self.previous.get(relative)
        if inputs is None or not entry or entry.get("inputs") != inputs or \
                (accept is not None and not accept(entry)):
            return False
        stamp = unchanged_file(os.path.join(self.output, relative), entry.get("sha"),
                               entry.get("stamp"))
        if stamp is None:
            return False
        self.reuses += 1
        self.now[relative] = {**entry, "stamp": stamp}
        self.writer.keep(relative, stamp[0])
        return True

    def record(self, relative: str, inputs: str | None, data: bytes, **extra: Any) -> None:
        if inputs is not None:
            self.now[relative] = {"inputs": inputs, "sha": hashlib.sha256(data).hexdigest(),
                                  **extra}

    def sha_of(self, relative: str) -> str | None:
        """The digest of a file's bytes, if this build recorded it."""
        entry = self.now.get(relative)
        return entry["sha"] if entry else None

    def report(self) -> None:
        """Says how many files were kept. The memo itself is stored once the build is in
        place (``stamp``): a build that fails leaves the previous memo, which describes
        the previous output it leaves untouched."""
        if self.enabled:
            logger.info("%s: %d files taken from the previous build", self.name, self.reuses)

    def stamp(self, stamps: Mapping[str, list[int]]) -> None:
        """Stored with the stamps of the files this build wrote or found the same, now in
        place: the next build knows them unchanged without reading them."""
        for relative, entry in self.now.items():
            if entry.get("stamp") is None:
                entry["stamp"] = stamps.get(relative)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"site": self.pages.site, "files": self.now}),
                             encoding="utf-8")
        temporary.replace(self.path)
