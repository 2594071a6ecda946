"""Build the site with Pelican into a fresh folder, and only then put it in place.

Expiry always wins: a story (or page) with a blocking problem, found by the check or
logged while Pelican builds it, is left out and reported, and the rest of the site is
built and put in place, so an expired story never stays online because another one is
broken. Site-wide failures (settings, the key's place, the theme, a plugin that did not
register, private key material in the output) leave the previous output untouched.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import time
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

import markdown
import pelican
from jinja2 import FileSystemBytecodeCache
from pelican import Pelican, signals
from pelican.log import console as pelican_console
from pelican.settings import read_settings
from pelican.utils import slugify

from milpa.bridge import atproto_did_problem
from milpa.checkcache import CheckCache
from milpa.checks import Problem, SiteCheck
from milpa.i18n import LOCALE_DIR
from milpa.keyguard import KeyScanner, key_exposure
from milpa.references import relative_to_cwd
from milpa.settings import media_cache_folder, setting
from milpa_stories.pagination import writing_with
from milpa_stories.urls import ARTICLE_LISTS, PAGE_LISTS

from .finishing import strip_copied_media
from .gone import taken_down, write_gone_site
from .keeping import (
    KeepingWriter,
    apply,
    clashing_outputs,
    keeping_writer,
    settle,
    shadow_files,
    writing_behind,
)
from .markdown_reader import ReusedMarkdownReader
from .memo import RenderMemo, site_fingerprint


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
    # 'path:line: why' for each story, page or copied file left out of this build.
    left_out: tuple[str, ...] = ()

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


def _key_problems(settings: Mapping[str, Any]) -> list[Problem]:
    exposure = key_exposure(settings)
    if exposure is None:
        return []
    return [Problem(Path(setting(settings, "MILPA_KEYS_PATH")), 0, exposure)]


def _did_problems(settings: Mapping[str, Any]) -> list[Problem]:
    did = setting(settings, "MILPA_ATPROTO_DID")
    problem = None if did is None else atproto_did_problem(did)
    return [Problem(Path("MILPA_ATPROTO_DID"), 0, problem)] if problem else []


def check(settings: Mapping[str, Any]) -> list[Problem]:
    return _key_problems(settings) + _did_problems(settings) + \
        SiteCheck(settings, site_slugify(settings)).run()


class _SourcePaths(Container[Path]):
    """Only the sources' resolved paths (resolved on first use), which is all the build
    asks once the check is done: what the check read of each source is let go."""

    def __init__(self, sources: Iterable[Any]) -> None:
        self._paths = [source.path for source in sources]

    @cached_property
    def _resolved(self) -> frozenset[Path]:
        return frozenset(path.resolve() for path in self._paths)

    def __contains__(self, path: object) -> bool:
        return path in self._resolved


class _Errors(logging.Handler):
    """Collects every ERROR that Pelican or a plugin logs while building, by source file.

    Milpa's plugins log 'path:line: message' with the path as the first argument, Pelican
    'Could not process path'; an error naming no source file is the site's.
    """

    def __init__(self, sources: Container[Path], content: Path) -> None:
        super().__init__(logging.ERROR)
        self.sources = sources
        self.content = content
        self.messages: list[str] = []
        self.by_source: dict[Path, list[str]] = {}
        self.site_wide: list[str] = []

    def source_of(self, record: logging.LogRecord) -> Path | None:
        first = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if not isinstance(first, str | os.PathLike):
            return None
        for candidate in (Path(first), self.content / first):
            resolved = candidate.resolve()
            if resolved in self.sources:
                return resolved
        return None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0]
        self.messages.append(message)
        source = self.source_of(record)
        if source is None:
            self.site_wide.append(message)
        else:
            self.by_source.setdefault(source, []).append(message)


@contextmanager
def _collecting_errors(sources: Container[Path], content: Path) -> Iterator[_Errors]:
    handler = _Errors(sources, content)
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


@dataclass
class _Run:
    """What one Pelican run left out, and which files it copied as they were."""

    left_out: set[Path] = field(default_factory=set)
    copied: dict[str, Path] = field(default_factory=dict)  # save_as → source


@contextmanager
def _leaving_out(excluded: Mapping[Path, Any], errors: _Errors) -> Iterator[_Run]:
    """While Pelican runs: stories and pages that are ``excluded``, or logged an error
    while they were read, leave every list before anything is counted or written; their
    translations go with them."""
    run = _Run()

    def leave_out(generator: Any, lists: tuple[str, ...]) -> None:
        gone = set(excluded) | set(errors.by_source)
        if not gone:  # the usual build: no need to resolve every source's path
            return
        for name in lists:
            for item in getattr(generator, name, []):
                if Path(item.source_path).resolve() in gone:
                    gone.update(Path(t.source_path).resolve() for t in item.translations)
        for name in lists:
            items = getattr(generator, name, [])
            items[:] = [item for item in items if Path(item.source_path).resolve() not in gone]
            for item in items:
                item.translations = [t for t in item.translations
                                     if Path(t.source_path).resolve() not in gone]
        run.left_out |= gone

    def articles(generator: Any) -> None:
        leave_out(generator, ARTICLE_LISTS)

    def pages(generator: Any) -> None:
        leave_out(generator, PAGE_LISTS)

    def statics(generator: Any) -> None:
        run.copied.update((static.save_as, Path(static.source_path))
                          for static in generator.staticfiles)

    # Before territories, tags and authors are counted (articles), before anything is
    # written (pages, whose context lists are the same objects).
    signals.article_generator_pretaxonomy.connect(articles)
    signals.page_generator_finalized.connect(pages)
    signals.static_generator_finalized.connect(statics)
    try:
        yield run
    finally:
        signals.article_generator_pretaxonomy.disconnect(articles)
        signals.page_generator_finalized.disconnect(pages)
        signals.static_generator_finalized.disconnect(statics)


def _changed_feeds(changed: list[str]) -> tuple[str, ...]:
    """Feeds among the files this build wrote (new, or with other bytes than before)."""
    return tuple(path for path in changed if path.endswith((".atom.xml", ".rss.xml")))


def _stable(value: Any) -> Any:
    """``value`` as JSON data that is the same from one run to the next (no addresses)."""
    if isinstance(value, Mapping):
        return sorted((str(key), _stable(item)) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        items = [_stable(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, str | int | float | bool):
        return value
    text = repr(value)
    if " at 0x" in text:  # functions, modules, objects without a repr of their own
        kind = type(value)
        return f"{kind.__module__}.{kind.__qualname__}:{getattr(value, '__qualname__', '')}"
    return text


def content_cache_folder(settings: Mapping[str, Any]) -> Path:
    """Where Pelican keeps what its readers made of each source between builds.

    Named after everything that shapes a reader's result (every setting but the output
    folder and the clock, Pelican's and Markdown's versions): a changed setting or library
    starts an empty cache instead of reusing stale text. Expiry is decided after reading,
    from the clock of each build.
    """
    shaping = {key: value for key, value in settings.items()
               if key not in ("OUTPUT_PATH", "MILPA_NOW")}
    fingerprint = hashlib.sha256(json.dumps(
        [pelican.__version__, markdown.__version__, _stable(shaping)]).encode()).hexdigest()
    return Path(settings["CACHE_PATH"]) / f"content-{fingerprint[:16]}"


def check_cache(settings: Mapping[str, Any]) -> CheckCache:
    """What the check read in each source, kept with Pelican's content cache (the folder
    is named after the settings; the slugs depend on site_slugify and what it calls)."""
    return CheckCache(content_cache_folder(settings) / "check.json",
                      shaping=[pelican.__version__, version("Unidecode"),
                               inspect.getsource(site_slugify),
                               _stable(settings.get("SLUG_REGEX_SUBSTITUTIONS"))])


def _no_stamp(_path: str) -> bytes:
    return b""


@contextmanager
def _stamping_sources_once(digests: Mapping[str, str]) -> Iterator[None]:
    """Each source is read and hashed once, by the check (``digests``: its digests by
    absolute path). Pelican's reader cache stamps a source with the same digest
    (``CHECK_MODIFIED_METHOD``: sha256), so it is given the check's; and Pelican stamps
    each source twice more for its generators' own content cache even when that cache is
    off, as it is here (``CONTENT_CACHING_LAYER``: the reader's): a generator whose cache
    is off is given a stamp that costs nothing, as it is compared with nothing."""

    def once(generator: Any) -> None:
        if generator.settings["CONTENT_CACHING_LAYER"] != "generator":
            generator._filestamp_func = _no_stamp
        readers = generator.readers
        hashed = readers._filestamp_func

        def stamp(path: str) -> bytes:
            found = digests.get(path)
            return hashed(path) if found is None else bytes.fromhex(found)

        if readers.settings["CHECK_MODIFIED_METHOD"] == "sha256":
            readers._filestamp_func = stamp

    for signal in (signals.article_generator_init, signals.page_generator_init):
        signal.connect(once)
    try:
        yield
    finally:
        for signal in (signals.article_generator_init, signals.page_generator_init):
            signal.disconnect(once)


def pelican_settings(settings: Mapping[str, Any], staging: Path, code: str) -> dict[str, Any]:
    """The settings Pelican runs with: into ``staging``, with its reader-level content
    cache (parsed Markdown and metadata per source, reused while the source's bytes are
    the same) and one Markdown instance for all files. Content objects are still made
    every build, so plugins still see replies, expiry and media as they are now.

    The theme's templates are compiled once, not once per generator and build: Jinja keeps
    each one's code by its source's checksum, in a folder named after the settings (the
    content cache's) and ``code``, the site's fingerprint (theme, plugins, versions), as
    what a template compiles to also depends on the environment the plugins set up. Nor
    does Jinja look at a template file's time again each time a page extends or imports it
    (``auto_reload``): a build's templates do not change while it runs, and each build
    (``serve``'s next one too) makes its environments anew."""
    readers = dict.fromkeys(ReusedMarkdownReader.file_extensions, ReusedMarkdownReader)
    compiled = content_cache_folder(settings) / f"templates-{code[:16]}"
    compiled.mkdir(parents=True, exist_ok=True)
    jinja = {**(settings.get("JINJA_ENVIRONMENT") or {}),
             "bytecode_cache": FileSystemBytecodeCache(str(compiled)), "auto_reload": False}
    return {**settings, "OUTPUT_PATH": str(staging), "CACHE_CONTENT": True,
            "JINJA_ENVIRONMENT": jinja,
            "READERS": {**readers, **(settings.get("READERS") or {})},
            "LOAD_CONTENT_CACHE": True, "CONTENT_CACHING_LAYER": "reader",
            "CHECK_MODIFIED_METHOD": "sha256", "GZIP_CACHE": False,
            "CACHE_PATH": str(content_cache_folder(settings)),
            # The renditions stay where they are, under the configured cache folder.
            "MILPA_MEDIA_CACHE": str(media_cache_folder(settings)),
            # A broken story is left out here, not a reason to stop (plain `pelican` stops).
            "MILPA_LEAVES_OUT_BROKEN": True}


def render_memo(settings: Mapping[str, Any]) -> RenderMemo:
    """The fingerprints of the pages last built into this output folder with these
    settings (the content cache's folder is named after them)."""
    output = hashlib.sha256(str(Path(settings["OUTPUT_PATH"]).resolve()).encode())
    site = Path(settings["PATH"]).resolve().parent
    locales = [LOCALE_DIR, *(site / folder for folder in setting(settings, "MILPA_LOCALE_PATHS"))]
    return RenderMemo(content_cache_folder(settings) / f"pages-{output.hexdigest()[:16]}.json",
                      site_fingerprint(settings, locales))


def _run_pelican(settings: dict[str, Any], staging: Path, excluded: Mapping[Path, Any],
                 sources: Container[Path], memo: RenderMemo, digests: Mapping[str, str]
                 ) -> tuple[_Errors, dict[str, int], _Run, KeepingWriter]:
    """One Pelican run into the shadow folder ``staging``, keeping what did not change in
    the output folder. Raises BuildFailed for a plugin that did not register or a
    site-wide error."""
    shutil.rmtree(staging, ignore_errors=True)
    content = Path(settings["PATH"])
    writer = keeping_writer(Path(settings["OUTPUT_PATH"]), memo)
    with (_collecting_errors(sources, content) as errors, _counting_content() as counts,
          _leaving_out(excluded, errors) as run, _quiet_pelican(), writing_with(writer),
          writing_behind(writer), _stamping_sources_once(digests)):
        runner = Pelican(pelican_settings(settings, staging, memo.site))
        missing = len(settings.get("PLUGINS") or []) - len(runner.plugins)
        if missing:
            raise BuildFailed([*errors.messages, f"{missing} plugin(s) did not register"],
                              logged=bool(errors.messages))
        runner.run()
    made = writer.made[-1]
    made.settle_writes()
    if errors.site_wide:
        raise BuildFailed(errors.messages, logged=True)
    return errors, counts, run, made


def build(settings: dict[str, Any]) -> BuildSummary:
    """Check, build into a shadow folder without what is broken (only the files that
    changed are written), then put those in place and remove what is gone.

    Raises BuildFailed for site-wide problems; stories left out are in ``left_out``.
    """
    started = time.perf_counter()
    gone = taken_down(settings)
    if gone is not None:  # after `publish.py take-down`: a notice and tombstones only
        final = Path(settings["OUTPUT_PATH"])
        staging = final.with_name(f".{final.name}.building-{os.getpid()}")
        write_gone_site(settings, gone, staging, final)
        written = shadow_files(staging)
        produced = {relative: (staging / relative).stat().st_size for relative in written}
        apply(staging, final, produced, written)  # everything else goes
        return BuildSummary(0, 0, 0, sum(produced.values()), time.perf_counter() - started,
                            final)
    site = SiteCheck(settings, site_slugify(settings), check_cache(settings))
    problems = [p for p in _key_problems(settings) + _did_problems(settings) + site.run()
                if p.blocks_build]
    sources = _SourcePaths(site.sources)
    digests = site.source_digests
    site_wide = [str(p) for p in problems if p.path.resolve() not in sources]
    if site_wide:
        raise BuildFailed(site_wide)
    excluded: dict[Path, list[str]] = {}
    for problem in problems:
        excluded.setdefault(problem.path.resolve(), []).append(str(problem))
    by_path = {s.path.resolve(): s for s in site.sources} if excluded else {}
    for path in list(excluded):
        original = by_path[path]
        if not original.is_translation():
            for other in site.sources:
                if (other.is_story == original.is_story and other.is_translation()
                        and other.slug == original.slug):
                    excluded.setdefault(other.path.resolve(), []).append(
                        f"{relative_to_cwd(other.path)}: a translation of "
                        f"{relative_to_cwd(original.path)}, which is left out")
    del site, by_path  # what the check read of every source (about 8 KB a story) is not needed now
    final = Path(settings["OUTPUT_PATH"])
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.building-{os.getpid()}")
    try:
        memo = render_memo(settings)
        errors, counts, run, writer = _run_pelican(settings, staging, excluded, sources, memo,
                                                   digests)
        # Stories report their problems as Pelican reads them, before the lists are
        # settled; an error about one that is still listed means its page was written.
        if any(path not in run.left_out for path in errors.by_source):
            raise BuildFailed(errors.messages, logged=True)
        for path, messages in errors.by_source.items():
            excluded.setdefault(path, messages)
        media = setting(settings, "MILPA_MEDIA_PATH")
        # The shadow holds only what this build wrote: the rest was checked when written.
        written = shadow_files(staging)
        removed = strip_copied_media(staging, media, run.copied, written)
        written = [relative for relative in written if relative not in removed]
        leaks = KeyScanner(Path(setting(settings, "MILPA_KEYS_PATH"))).leaks_in_files(
            staging, written)
        if leaks:
            raise BuildFailed([f"{leak}: remove it from content/ or the theme; the output "
                               "would publish private key material" for leak in leaks])
    except BuildFailed:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildFailed([f"the build stopped: {error}"]) from error
    produced, written = settle(staging, final, writer, written)
    clashes = clashing_outputs(produced)
    if clashes:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildFailed([f"{path}: one page is written there and another inside a folder of "
                           f"that name ({inside}); give one of them another Save_As"
                           for path, inside in clashes.items()])
    changed_feeds = _changed_feeds(written)
    apply(staging, final, produced, written)
    memo.save(produced, writer.stamps)
    renditions = sum(1 for path in produced if path.startswith(f"{media}/")
                     and path.endswith((".avif", ".webp", ".jpg"))
                     and "/" not in path[len(media) + 1:])
    total = sum(produced.values())
    left_out = tuple(message for messages in excluded.values() for message in messages)
    return BuildSummary(counts["stories"], counts["pages"], renditions, total,
                        time.perf_counter() - started, final, changed_feeds,
                        left_out + tuple(removed.values()))
