"""A rebuild that keeps the previous output and replaces only the files that changed.

Pelican (and every plugin, through ``milpa.outputs``) writes into a shadow folder, but a
file whose bytes equal the previous output's is not written at all: the shadow ends up
holding only what is new or changed. Once the whole build has succeeded (checks, media
stripping, the key scan of the shadow), ``apply`` moves each shadow file over its old
version (``os.replace``: a reader sees the old file or the new one, never half of one) and
removes the files this build no longer produced (deleted or expired stories). A failed
build leaves the shadow behind to be deleted and the previous output untouched.

Files are written by a process of their own while the build renders the next pages
(``milpa_site.writing``). Whatever reads back a file the writer was given settles the
writes first (``settle_writes``).
"""

from __future__ import annotations

import filecmp
import io
import logging
import os
import posixpath
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pelican import signals
from pelican.utils import sanitised_join

from milpa_stories.pagination import StableWriter

from .memo import RenderMemo
from .writing import WritingProcess

logger = logging.getLogger(__name__)


class _Settled(io.StringIO):
    """What Pelican writes to one file, kept in memory until it is closed."""

    def __init__(self, writer: KeepingWriter, relative: str, encoding: str) -> None:
        super().__init__()
        self.writer, self.relative, self.text_encoding = writer, relative, encoding

    def close(self) -> None:
        if not self.closed:
            self.writer.write_bytes(self.relative, self.getvalue().encode(self.text_encoding))
        super().close()


class KeepingWriter(StableWriter):
    """Milpa's Writer (stable listings) that writes into the shadow folder only what
    differs from ``previous``, and remembers every file the build produced (``produced``:
    relative path → size) and which of them it wrote (``changed``). With a ``memo``, pages
    whose fingerprint did not change are not rendered again. A folder is made in the shadow
    only for a file written there: most pages of a rebuild are not."""

    previous: Path
    memo: RenderMemo | None
    made: list[KeepingWriter]

    def __init__(self, output_path: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(output_path, settings=settings)
        self.shadow = Path(output_path)
        self.produced: dict[str, int] = {}
        self._root = os.path.join(os.path.abspath(output_path), "")
        self._previous = os.fspath(self.previous)
        # A first build (no previous output) looks nothing up in it.
        self._has_previous = os.path.isdir(self._previous)
        self.fingerprints: dict[str, str] = {}  # relative path → what its page was made of
        self._writing = WritingProcess()
        self.made.append(self)

    @property
    def changed(self) -> set[str]:
        """The files written to the shadow, once the writes are settled."""
        return set(self._writing.changed)

    @property
    def stamps(self) -> dict[str, list[int]]:
        """The stamp of each file given as bytes, once the writes are settled."""
        return self._writing.stamps

    def write_rendered(self, template: Any, localcontext: dict[str, Any], path: str,
                       override: bool) -> None:
        """A page whose fingerprint is the one the previous output's file was rendered
        from, that file unchanged since, is kept as it is: not rendered again."""
        fingerprint = None if self.memo is None or path in self._written_files else \
            self.memo.fingerprint(template, localcontext)
        if fingerprint is not None:
            relative = posixpath.normpath(localcontext["output_file"])
            size = self.memo.kept(relative, fingerprint, self._previous)
            if size is not None:
                self._claim(path, override)  # a second write over it follows Pelican's rules
                self.produced[relative] = size
                return
            self.fingerprints[relative] = fingerprint
        super().write_rendered(template, localcontext, path, override)

    def _claim(self, filename: str, override: bool) -> None:
        """``filename`` is written by this build (Pelican's record of it)."""
        if override:
            self._overridden_files.add(filename)
        self._written_files.add(filename)

    def make_folder(self, path: str) -> None:
        """Nothing yet: ``_open_w`` makes it for a file written to the shadow."""

    def _open_w(self, filename: str, encoding: str, override: bool = False) -> Any:
        if filename in self._written_files:  # Pelican's own rules for a second write
            self.settle_writes()  # over the first, written by now
            # Rare: its folder is made here when the first write was the previous bytes.
            os.makedirs(os.path.dirname(filename), exist_ok=True)
            return super()._open_w(filename, encoding, override)
        self._claim(filename, override)
        if filename.startswith(self._root):
            relative = filename[len(self._root):].replace(os.sep, "/")
        else:
            relative = Path(filename).relative_to(self.shadow).as_posix()
        return _Settled(self, relative, encoding)

    def _target(self, relative: str) -> str:
        """Where ``relative`` goes in the shadow (Pelican refuses a path that leaves it)."""
        return sanitised_join(str(self.shadow), relative)

    def write_bytes(self, relative: str, data: bytes) -> None:
        """``data`` as the file ``relative``, written only if the previous output differs."""
        if relative.startswith("/") or ".." in relative:
            self._target(relative)  # refuses a path that leaves the output before any read
        self.produced[relative] = len(data)
        fingerprint = self.fingerprints.pop(relative, None)
        if fingerprint is not None and self.memo is not None:
            self.memo.record(relative, fingerprint, data)
        self._writing.write(relative, self._target(relative), self._previous_of(relative),
                            data)

    def _previous_of(self, relative: str) -> str | None:
        return os.path.join(self._previous, relative) if self._has_previous else None

    def settle_writes(self) -> None:
        """Wait until every file handed to the writer is written; raise what failed."""
        self._writing.settle()

    def stop_writing(self) -> None:
        self._writing.stop()

    def keep(self, relative: str, size: int) -> None:
        """The file ``relative`` stays the previous output's, whose bytes a memo has just
        checked (``milpa.outputs.OutputMemo``): produced, and not read again."""
        self.produced[relative] = size

    def copy_file(self, relative: str, source: Path) -> None:
        """``source`` copied as the file ``relative``, only if the previous output differs."""
        target = self._target(relative)  # refuses a path that leaves the output
        self.produced[relative] = source.stat().st_size
        self._writing.copy(relative, target, self._previous_of(relative), os.fspath(source))


def keeping_writer(previous: Path, memo: RenderMemo | None) -> type[KeepingWriter]:
    """A KeepingWriter class for one build (Pelican's ``get_writer`` wants a class)."""
    return type("KeepingWriter", (KeepingWriter,),
                {"previous": previous, "memo": memo, "made": []})


@contextmanager
def writing_behind(writer: type[KeepingWriter]) -> Iterator[None]:
    """While Pelican runs with ``writer``: Pelican's static generator, which copies files
    into the output by itself, starts once every file handed to the writer is written, as
    it would if each were written at once. Afterwards the writing process has written
    everything and ended; the writer's ``settle_writes`` says whether all went well."""

    def settled_first(generator: Any) -> None:
        copy = generator.generate_output

        def generate_output(pelican_writer: Any) -> None:
            for made in writer.made:
                made.settle_writes()
            copy(pelican_writer)

        generator.generate_output = generate_output

    signals.static_generator_init.connect(settled_first)
    try:
        yield
    finally:
        signals.static_generator_init.disconnect(settled_first)
        for made in writer.made:
            made.stop_writing()


def shadow_files(shadow: Path) -> list[str]:
    """Relative paths of the files in the shadow: only what this build wrote (the shadow
    has a folder only for those, so this walk is short)."""
    found = []
    for folder, _, files in os.walk(shadow):
        prefix = os.path.relpath(folder, shadow).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        found += [prefix + name for name in files]
    return sorted(found)


def settle(shadow: Path, previous: Path, writer: KeepingWriter, written: Iterable[str]
           ) -> tuple[dict[str, int], list[str]]:
    """Every file the build produced (relative path → size), and the files of
    ``written`` (the shadow's) still to put in place: files written to the shadow without
    the writer (theme and static copies, the logo) are dropped from it when the previous
    output has the same bytes."""
    produced = dict(writer.produced)
    left = []
    for relative in written:
        path = os.path.join(shadow, relative)
        produced[relative] = os.stat(path).st_size
        if relative not in writer.changed:
            old = os.path.join(previous, relative)
            if os.path.isfile(old) and not os.path.islink(old) \
                    and filecmp.cmp(old, path, shallow=False):
                os.unlink(path)
                continue
        left.append(relative)
    return produced, left


def clashing_outputs(produced: Iterable[str]) -> dict[str, str]:
    """Files whose path another file needs as a folder (``a`` and ``a/b``), each with one
    such file: only one of the two can be in the output. A rebuild keeps the folder from
    the previous output, so the system would not refuse it as in a first build."""
    paths = set(produced)
    folders: set[str] = set()
    for path in paths:
        folder = path.rpartition("/")[0]
        while folder and folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    return {path: min(other for other in paths if other.startswith(f"{path}/"))
            for path in sorted(paths & folders)}


def apply(shadow: Path, final: Path, produced: dict[str, int], written: Iterable[str]
          ) -> None:
    """Put the shadow's files (``written``) in place in ``final`` and remove what was not
    produced."""
    if not final.exists():
        shadow.rename(final)
        return
    for relative in written:
        target = final / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        (shadow / relative).replace(target)  # atomic: the old file or the new one
    _remove_unproduced(os.fspath(final), "", produced)
    shutil.rmtree(shadow, ignore_errors=True)
    logger.info("Kept the previous output; replaced what changed")


def _remove_unproduced(folder: str, prefix: str, produced: dict[str, int]) -> bool:
    """Remove under ``folder`` (``prefix`` in the output) every file that was not produced
    and every folder left empty; whether ``folder`` is left empty. One listing per folder."""
    empty = True
    with os.scandir(folder) as entries:
        for entry in entries:
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):  # never through a link
                if _remove_unproduced(entry.path, relative + "/", produced):
                    os.rmdir(entry.path)
                else:
                    empty = False
            elif relative not in produced:  # a link to a folder too: builds make files
                os.unlink(entry.path)
            else:
                empty = False
    return empty
