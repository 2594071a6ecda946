"""Expiry always wins: nothing an editor gets wrong keeps an expired story online, nor
keeps its Delete from followers. A broken story is left out; the rest is built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import publish
from milpa_site.build import BuildFailed

from .conftest import MiniSite, settings_file, story
from .test_announce import World, world  # noqa: F401 — the real-inbox fixture

LATER = "2026-06-03T12:00:00+00:00"  # two days after the test clock


def broken_story(site: MiniSite) -> Path:
    site.add("photos/p.jpg", "")  # named, but no Cover-Alt: a blocking problem
    return site.add("stories/broken.md", story("Broken", Slug="broken", Cover="photos/p.jpg"))


def test_a_broken_story_cannot_keep_an_expired_one_online(mini_site: MiniSite) -> None:
    mini_site.add("stories/notice.md", story("Notice", Slug="notice", Date="2026-06-01 05:00",
                                             Expires="24h"))
    mini_site.add("stories/notice-en.md", story("Notice", Slug="notice", Lang="en",
                                                Date="2026-06-01 05:00", Translation="true"))
    mini_site.add("stories/kept.md", story("Kept", Slug="kept"))
    assert mini_site.build().left_out == ()
    assert (mini_site.output / "stories/notice/en/index.html").is_file()
    broken_story(mini_site)
    summary = mini_site.build(MILPA_NOW=LATER)
    assert [reason.split(": ", 1)[1] for reason in summary.left_out] == [
        "photos/p.jpg has no alt text: add 'Cover-Alt: what the photo shows'"]
    assert not (mini_site.output / "stories/notice").exists()
    assert not (mini_site.output / "stories/broken").exists()
    assert (mini_site.output / "stories/kept/index.html").is_file()
    assert not (mini_site.output / "ap/objects/es/notice").exists()


def test_a_left_out_original_takes_its_translations_with_it(mini_site: MiniSite) -> None:
    broken_story(mini_site)
    mini_site.add("stories/broken-en.md", story("Broken", Slug="broken", Lang="en",
                                                Translation="true"))
    summary = mini_site.build()
    assert any("broken-en.md: a translation of" in reason for reason in summary.left_out)
    assert not (mini_site.output / "stories/broken").exists()


def test_a_story_that_fails_only_while_building_is_left_out(mini_site: MiniSite) -> None:
    mini_site.add("photos/fake.jpg", "not a photo at all")  # the check only sees a .jpg
    mini_site.add("stories/bad.md", story("Bad", "![A field](photos/fake.jpg)", Slug="bad"))
    mini_site.add("stories/good.md", story("Good", Slug="good"))
    summary = mini_site.build()
    assert any("photos/fake.jpg could not be read as an image" in r for r in summary.left_out)
    assert not (mini_site.output / "stories/bad").exists()
    assert (mini_site.output / "stories/good/index.html").is_file()


def test_site_wide_problems_still_stop_the_build(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("A"))
    mini_site.build()
    index = (mini_site.output / "index.html").read_bytes()
    with pytest.raises(BuildFailed, match="is inside the content folder"):
        mini_site.build(MILPA_KEYS_PATH=str(mini_site.content / "keys"))
    assert (mini_site.output / "index.html").read_bytes() == index


def run(*arguments: str) -> Result:
    result = CliRunner().invoke(publish.cli, list(arguments))
    print(result.output)
    assert "Traceback" not in result.output
    return result


def test_check_lists_expired_stories_for_information_only(mini_site: MiniSite,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (mini_site.base / "pelicanconf.py").write_text(settings_file())
    monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
    monkeypatch.chdir(mini_site.base)
    mini_site.add("stories/old.md", story("Old", Date="2026-05-01 10:00", Expires="24h"))
    result = run("check")
    assert result.exit_code == 0
    assert "content/stories/old.md:5: expired on 2026-05-02 10:00" in result.output
    assert "no problems (1 expired, no longer built)" in result.output


def test_the_expired_story_is_deleted_from_followers_although_another_is_broken(
        world: World) -> None:  # noqa: F811 — the fixture imported above
    world.publish_expiring_notice()
    broken_story(world.mini)
    settings = Path("pelicanconf.py")
    settings.write_text(settings.read_text().replace("2026-06-01T12:00:00+00:00", LATER))
    sys.modules.pop("pelicanconf", None)
    built = run("build")
    assert built.exit_code == 1
    assert "left out: content/stories/broken.md:6: photos/p.jpg has no alt text" in built.output
    assert "the rest was built and put in place" in built.output
    assert not (world.mini.output / "stories/notice").exists()
    published = run("publish")  # build and announce, as a scheduled run does
    assert published.exit_code == 1 and "Delivered 2" in published.output
    deleted = world.writers.received[-1][0]
    assert deleted["type"] == "Delete"
    assert deleted["object"]["id"] == f"{world.site.base}/ap/objects/es/notice"
