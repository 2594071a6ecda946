"""A rebuild that keeps the previous output and replaces only the files that changed.

Pelican (and every plugin, through ``milpa.outputs``) writes into a shadow folder, but a
file whose bytes equal the previous output's is not written at all: the shadow ends up
holding only what is new or changed. Once the whole build has succeeded (checks, media
stripping, the key scan of the shadow), ``apply`` moves each shadow file over its old
version (``os.replace``: a reader sees the old file or the new one, never half of one) and
removes the files this build no longer produced (deleted or expired stories). A failed
build leaves the shadow behind to be deleted and the previous output untouched.
"""

from __future__ import annotations

import filecmp
import io
import logging
import os
import posixpath
import shutil
from pathlib import Path
from typing import Any

from pelican.utils import sanitised_join
from pelican.writers import Writer

from .memo import RenderMemo

logger = logging.getLogger(__name__)


class _Settled(io.StringIO):
    """What Pelican writes to one file, kept in memory until it is closed."""

    def __init__(self, writer: KeepingWriter, path: str, encoding: str) -> None:
        super().__init__()
        self.writer, self.path, self.text_encoding = writer, path, encoding

    def close(self) -> None:
        if not self.closed:
            self.writer.write_bytes(Path(self.path).relative_to(self.writer.shadow).as_posix(),
                                    self.getvalue().encode(self.text_encoding))
        super().close()


class _Memoized:
    """A template that gives the previous build's text of a page whose fingerprint is the
    one that text was rendered from."""

    def __init__(self, template: Any, writer: KeepingWriter, memo: RenderMemo) -> None:
        self.template, self.writer, self.memo = template, writer, memo

    def render(self, context: dict[str, Any]) -> str:
        fingerprint = self.memo.fingerprint(self.template, context)
        if fingerprint is not None:
            relative = posixpath.normpath(context["output_file"])
            self.writer.fingerprints[relative] = fingerprint
            text = self.memo.reused(relative, fingerprint, self.writer.previous)
            if text is not None:
                self.memo.reuses += 1
                return text
        return self.template.render(context)


class KeepingWriter(Writer):
    """Pelican's Writer that writes into the shadow folder only what differs from
    ``previous``, and remembers every file the build produced (``produced``: relative
    path → size) and which of them it wrote (``changed``). With a ``memo``, pages whose
    fingerprint did not change are not rendered again."""

    previous: Path
    memo: RenderMemo | None
    made: list[KeepingWriter]

    def __init__(self, output_path: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(output_path, settings=settings)
        self.shadow = Path(output_path)
        self.produced: dict[str, int] = {}
        self.changed: set[str] = set()
        self._folders: set[Path] = set()
        self.fingerprints: dict[str, str] = {}  # relative path → what its page was made of
        self.made.append(self)

    def write_file(self, name: Any, template: Any, context: dict[str, Any], *args: Any,
                   **kwargs: Any) -> None:
        if self.memo is not None:
            template = _Memoized(template, self, self.memo)
        super().write_file(name, template, context, *args, **kwargs)

    def _open_w(self, filename: str, encoding: str, override: bool = False) -> Any:
        if filename in self._written_files:  # Pelican's own rules for a second write
            return super()._open_w(filename, encoding, override)
        if override:
            self._overridden_files.add(filename)
        self._written_files.add(filename)
        return _Settled(self, filename, encoding)

    def _target(self, relative: str) -> Path:
        """Where ``relative`` goes in the shadow (Pelican refuses a path that leaves it)."""
        return Path(sanitised_join(str(self.shadow), relative))

    def _folder_for(self, target: Path) -> None:
        if target.parent not in self._folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)

    def write_bytes(self, relative: str, data: bytes) -> None:
        """``data`` as the file ``relative``, written only if the previous output differs."""
        target = self._target(relative)
        self.produced[relative] = len(data)
        fingerprint = self.fingerprints.pop(relative, None)
        if fingerprint is not None and self.memo is not None:
            self.memo.record(relative, fingerprint, data)
        previous = self.previous / relative
        try:
            if previous.stat().st_size == len(data) and previous.read_bytes() == data:
                return
        except OSError:  # not there before (or not a file): write it
            pass
        self._folder_for(target)
        target.write_bytes(data)
        self.changed.add(relative)

    def keep(self, relative: str, size: int) -> None:
        """The file ``relative`` stays the previous output's, whose bytes a memo has just
        checked (``milpa.outputs.OutputMemo``): produced, and not read again."""
        self.produced[relative] = size

    def copy_file(self, relative: str, source: Path) -> None:
        """``source`` copied as the file ``relative``, only if the previous output differs."""
        target = self._target(relative)
        previous = self.previous / relative
        self.produced[relative] = source.stat().st_size
        try:
            if previous.is_file() and filecmp.cmp(previous, source, shallow=False):
                return
        except OSError:
            pass
        self._folder_for(target)
        shutil.copyfile(source, target)
        self.changed.add(relative)


def keeping_writer(previous: Path, memo: RenderMemo | None) -> type[KeepingWriter]:
    """A KeepingWriter class for one build (Pelican's ``get_writer`` wants a class)."""
    return type("KeepingWriter", (KeepingWriter,),
                {"previous": previous, "memo": memo, "made": []})


def shadow_files(shadow: Path) -> list[str]:
    """Relative paths of the files in the shadow: only what this build wrote."""
    return sorted(path.relative_to(shadow).as_posix() for path in shadow.rglob("*")
                  if path.is_file())


def settle(shadow: Path, previous: Path, writer: KeepingWriter) -> dict[str, int]:
    """Every file the build produced, relative path → size; files written to the shadow
    without the writer (theme and static copies, the logo) are dropped from it when the
    previous output has the same bytes."""
    produced = dict(writer.produced)
    for relative in shadow_files(shadow):
        path = shadow / relative
        produced[relative] = path.stat().st_size
        if relative in writer.changed:
            continue
        old = previous / relative
        if old.is_file() and not old.is_symlink() and filecmp.cmp(old, path, shallow=False):
            path.unlink()
    return produced


def apply(shadow: Path, final: Path, produced: dict[str, int]) -> None:
    """Put the shadow's files in place in ``final`` and remove what was not produced."""
    if not final.exists():
        shadow.rename(final)
        return
    for relative in shadow_files(shadow):
        target = final / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        (shadow / relative).replace(target)  # atomic: the old file or the new one
    root = len(str(final)) + 1
    for folder, folders, files in os.walk(final, topdown=False):
        base = Path(folder)
        prefix = folder[root:].replace(os.sep, "/") + "/" if len(folder) > root - 1 else ""
        for name in files:
            if prefix + name not in produced:
                (base / name).unlink()
        for name in folders:
            inner = base / name
            if inner.is_symlink():  # a build produces files only
                inner.unlink()
            elif not any(inner.iterdir()):
                inner.rmdir()
    shutil.rmtree(shadow, ignore_errors=True)
    logger.info("Kept the previous output; replaced what changed")
