"""The build's check keeps what it read in each source; a stale or forged cache never
hides a problem, and problems are reported with the same path:line as without a cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from milpa import checkcache
from milpa.checks import SiteCheck
from milpa_site.build import check_cache, content_cache_folder, site_slugify

from .conftest import MiniSite, story

BROKEN = "stories/broken.md"


def problems(site: MiniSite, cached: bool = True, **overrides: Any) -> list[str]:
    settings = site.settings(**overrides)
    cache = check_cache(settings) if cached else None
    return [str(p) for p in SiteCheck(settings, site_slugify(settings), cache).run()]


def cache_file(site: MiniSite) -> Path:
    return content_cache_folder(site.settings()) / "check.json"


def a_site_with_every_kind_of_problem(site: MiniSite) -> None:
    site.add("stories/good.md", story("Good", "See [the other](/stories/nowhere/)."))
    site.add("stories/twin.md", story("Good", "Same slug as good."))
    site.add("stories/nolang.md", "Title: No language\nDate: 2026-05-01\nTerritory: X\n\nText.\n")
    site.add("stories/baddate.md", story("Bad date", Date="yesterday-ish"))
    site.add("stories/later.md", story("Later", Date="2026-07-01 09:00"))
    site.add("stories/gone.md", story("Gone", Date="2026-05-01", Expires="2026-05-20"))
    site.add("stories/lonely.md", story("Lonely", Translation="true", Slug="nobody"))
    site.add("stories/twice.md", "Title: Twice\nTitle: Again\nLang: es\nDate: 2026-05-01\n"
                                 "Territory: X\nbroken line\n\nText.\n")
    site.add("stories/photo.md", story("Photo", "![](photos/missing.jpg)"))
    site.add(BROKEN, story("Broken", Status="publicado"))


def test_the_cache_reports_what_a_fresh_check_reports_build_after_build(
        mini_site: MiniSite) -> None:
    a_site_with_every_kind_of_problem(mini_site)
    fresh = problems(mini_site, cached=False)
    assert any("broken.md:" in line and "publicado" in line for line in fresh)
    assert problems(mini_site) == fresh  # the first build fills the cache
    assert cache_file(mini_site).is_file()
    assert problems(mini_site) == fresh  # the next one reads it
    # The clock is not part of the cache: what is scheduled and expired is decided anew.
    later = problems(mini_site, MILPA_NOW="2026-07-02T12:00:00+00:00")
    assert later == problems(mini_site, cached=False, MILPA_NOW="2026-07-02T12:00:00+00:00")
    assert not any("later.md" in line for line in later)
    # The language of the messages is not either.
    assert problems(mini_site, DEFAULT_LANG="es") == \
        problems(mini_site, cached=False, DEFAULT_LANG="es")


def test_an_edited_source_is_checked_again_even_with_its_old_size_and_time(
        mini_site: MiniSite) -> None:
    path = mini_site.add(BROKEN, story("Broken", Status="published"))
    mini_site.build()
    assert (mini_site.output / "stories/broken/index.html").is_file()
    before = path.stat()
    # Same length, and the file's times put back: only its bytes say it changed.
    path.write_text(story("Broken", Status="publicado"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    summary = mini_site.build()
    expected = [line for line in problems(mini_site, cached=False) if "publicado" in line]
    assert expected and ":5: Status: 'publicado'" in expected[0]
    assert [line for line in summary.left_out if "publicado" in line] == expected
    assert not (mini_site.output / "stories/broken").exists()


def hide_the_broken_status(site: MiniSite, **change: Any) -> None:
    """The cache file rewritten so that its record of BROKEN says Status: published."""
    data = json.loads(cache_file(site).read_bytes())
    record = data["sources"][BROKEN][1]
    record["fields"] = [[key, "published" if key == "status" else value, line]
                        for key, value, line in record["fields"]]
    data.update(change.pop("top", {}))
    record.update(change)
    cache_file(site).write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def cached_site(mini_site: MiniSite) -> MiniSite:
    mini_site.add("stories/good.md", story("Good"))
    mini_site.add(BROKEN, story("Broken", Status="publicado"))
    assert any("publicado" in line for line in problems(mini_site))
    return mini_site


def reported(site: MiniSite) -> list[str]:
    found = problems(site)
    assert found == problems(site, cached=False)
    assert any(":5: Status: 'publicado'" in line for line in found)
    return found


def test_a_cache_made_by_other_code_is_not_believed(cached_site: MiniSite) -> None:
    hide_the_broken_status(cached_site, top={"version": "0" * 64})
    reported(cached_site)


def test_a_record_whose_message_is_not_the_readers_own_is_not_believed(
        cached_site: MiniSite) -> None:
    # A message template is filled in with str.format: only the reader's own are used.
    hide_the_broken_status(cached_site, errors=[[1, "{key.__class__.__mro__}", {"key": "x"}]])
    found = reported(cached_site)
    assert not any("class" in line for line in found)


def test_a_record_of_the_wrong_shape_is_not_believed(cached_site: MiniSite) -> None:
    data = json.loads(cache_file(cached_site).read_bytes())
    record = data["sources"][BROKEN][1]
    # The status field's line as text, and on another line than it is.
    record["fields"] = [[key, value, str(line + 2) if key == "status" else line]
                        for key, value, line in record["fields"]]
    cache_file(cached_site).write_text(json.dumps(data), encoding="utf-8")
    reported(cached_site)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"version": 1}', "[" * 100_000 + "]" * 100_000,
                                  "\udcff"])
def test_a_damaged_cache_file_is_read_again_from_the_sources(cached_site: MiniSite,
                                                             text: str) -> None:
    cache_file(cached_site).write_bytes(text.encode("utf-8", "surrogateescape"))
    reported(cached_site)
    json.loads(cache_file(cached_site).read_bytes())  # and written anew


def test_an_oversized_cache_file_is_not_read(cached_site: MiniSite,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    hide_the_broken_status(cached_site)
    monkeypatch.setattr(checkcache, "MAX_CACHE_BYTES", 100)
    reported(cached_site)


def test_changed_reading_code_or_slug_rules_start_a_new_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = Path(checkcache.__file__).parent
    for name in checkcache._READERS:
        shutil.copy(here / name, tmp_path / name)
    monkeypatch.setattr(checkcache, "_HERE", tmp_path)
    before = checkcache.code_version([])
    with (tmp_path / "frontmatter.py").open("a", encoding="utf-8") as handle:
        handle.write("\n# a changed rule\n")
    assert checkcache.code_version([]) != before
    assert checkcache.code_version([["x", "y"]]) != checkcache.code_version([])


def test_an_unchanged_site_does_not_write_the_cache_again(cached_site: MiniSite) -> None:
    written = cache_file(cached_site).stat().st_mtime_ns
    os.utime(cache_file(cached_site), ns=(written - 10**9, written - 10**9))
    problems(cached_site)
    assert cache_file(cached_site).stat().st_mtime_ns == written - 10**9
    cached_site.add("stories/new.md", story("New"))
    problems(cached_site)
    assert cache_file(cached_site).stat().st_mtime_ns != written - 10**9
