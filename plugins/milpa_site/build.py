"""Build the site with Pelican into a fresh folder, and only then put it in place.

A failed build (a broken story, a plugin that did not register, any error Pelican logs)
leaves the previous output untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pelican import Pelican, signals
from pelican.log import console as pelican_console
from pelican.settings import read_settings
from pelican.utils import slugify

from milpa.checks import Problem, check_site
from milpa.references import relative_to_cwd
from milpa.settings import setting


class BuildFailed(Exception):
    """The build stopped; ``reasons`` are messages the user can act on.

    ``logged`` is true when the reasons were already logged as they happened.
    """

    def __init__(self, reasons: list[str], logged: bool = False) -> None:
        super().__init__("\n".join(reasons))
        self.reasons = reasons
        self.logged = logged


@dataclass(frozen=True)
class BuildSummary:
    stories: int
    pages: int
    renditions: int
    total_bytes: int
    seconds: float
    output: Path
    # Feeds (relative paths) that are new or differ from the previous build's.
    changed_feeds: tuple[str, ...] = ()

    def __str__(self) -> str:
        return (f"Built {self.stories} stories, {self.pages} pages, {self.renditions} image "
                f"renditions: {self.total_bytes / 1024:.0f} KB in {self.seconds:.1f} s "
                f"→ {relative_to_cwd(self.output)}/")


def load_settings(settings_file: Path | None, overrides: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """Pelican's own settings reader: paths become absolute, relative to the settings file."""
    return read_settings(str(settings_file) if settings_file else None,
                         override=dict(overrides or {}))


def site_slugify(settings: Mapping[str, Any]):
    """Pelican's slugify with this site's substitutions, as the check needs it."""
    substitutions = settings.get("SLUG_REGEX_SUBSTITUTIONS", [])
    return lambda text: slugify(text, regex_subs=substitutions)


def check(settings: Mapping[str, Any]) -> list[Problem]:
    return check_site(settings, site_slugify(settings))


class _Errors(logging.Handler):
    """Collects every ERROR that Pelican or a plugin logs while building."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0])


@contextmanager
def _collecting_errors() -> Iterator[_Errors]:
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@contextmanager
def _quiet_pelican() -> Iterator[None]:
    """Pelican prints its own 'Done: …' line; ours replaces it."""
    was_quiet, pelican_console.quiet = pelican_console.quiet, True
    try:
        yield
    finally:
        pelican_console.quiet = was_quiet


@contextmanager
def _counting_content() -> Iterator[dict[str, int]]:
    counts = {"stories": 0, "pages": 0}

    def count(generators: list[Any]) -> None:
        for generator in generators:
            if hasattr(generator, "articles") and hasattr(generator, "translations"):
                counts["stories"] = len(generator.articles) + len(generator.translations)
            elif hasattr(generator, "pages"):
                counts["pages"] = len(generator.pages) + len(generator.translations)

    signals.all_generators_finalized.connect(count)
    try:
        yield counts
    finally:
        signals.all_generators_finalized.disconnect(count)


def _changed_feeds(new: Path, old: Path) -> tuple[str, ...]:
    """Feeds of ``new`` that ``old`` lacks or has with other bytes."""
    changed = []
    for pattern in ("*.atom.xml", "*.rss.xml"):
        for path in sorted(new.rglob(pattern)):
            relative = path.relative_to(new).as_posix()
            previous = old / relative
            if (not previous.is_file() or previous.stat().st_size != path.stat().st_size
                    or previous.read_bytes() != path.read_bytes()):
                changed.append(relative)
    return tuple(changed)


def _replace_folder(new: Path, final: Path) -> None:
    previous = final.with_name(f".{final.name}.previous-{os.getpid()}")
    if final.exists():
        final.rename(previous)
    new.rename(final)
    shutil.rmtree(previous, ignore_errors=True)


def build(settings: dict[str, Any]) -> BuildSummary:
    """Check, build into a staging folder, then swap it in. Raises BuildFailed."""
    started = time.perf_counter()
    blocking = [str(p) for p in check(settings) if p.blocks_build]
    if blocking:
        raise BuildFailed(blocking)
    final = Path(settings["OUTPUT_PATH"])
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with _collecting_errors() as errors, _counting_content() as counts, _quiet_pelican():
            pelican = Pelican({**settings, "OUTPUT_PATH": str(staging)})
            missing = len(settings.get("PLUGINS") or []) - len(pelican.plugins)
            if missing:
                raise BuildFailed([*errors.messages, f"{missing} plugin(s) did not register"],
                                  logged=bool(errors.messages))
            pelican.run()
        if errors.messages:
            raise BuildFailed(errors.messages, logged=True)
    except BuildFailed:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildFailed([f"the build stopped: {error}"]) from error
    files = [p for p in staging.rglob("*") if p.is_file()]
    media = staging / setting(settings, "MILPA_MEDIA_PATH")
    renditions = sum(1 for p in files if p.parent == media and p.suffix in (".webp", ".jpg"))
    total = sum(p.stat().st_size for p in files)
    changed_feeds = _changed_feeds(staging, final)
    _replace_folder(staging, final)
    return BuildSummary(counts["stories"], counts["pages"], renditions, total,
                        time.perf_counter() - started, final, changed_feeds)
