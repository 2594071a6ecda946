"""Rebuilds with a warm cache give the same bytes as a full build of the same content."""

from __future__ import annotations

from pathlib import Path

from milpa_site.markdown_reader import ReusedMarkdownReader

from .conftest import MiniSite, story


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def full_build(site: MiniSite, name: str, **overrides: object) -> dict[str, bytes]:
    """The same content built into an empty folder with an empty cache."""
    fresh = site.base / name
    site.build(OUTPUT_PATH=str(fresh / "output"), CACHE_PATH=str(fresh / "cache"), **overrides)
    return tree(fresh / "output")


def assert_same_as_full_build(site: MiniSite, name: str, **overrides: object) -> None:
    site.build(**overrides)
    ours, full = tree(site.output), full_build(site, name, **overrides)
    assert sorted(ours) == sorted(full)
    assert [path for path in ours if ours[path] != full[path]] == []


def test_rebuilds_after_add_edit_delete_and_expiry_match_full_builds(
        mini_site: MiniSite) -> None:
    for number in range(12):  # more than a page of listings
        mini_site.add(f"stories/s{number}.md", story(
            f"Story {number}", f"Text of story {number}.", Date=f"2026-05-{number + 1:02d}",
            Tags=f"agua, t{number % 3}"))
    mini_site.add("stories/notice.md", story("Notice", Date="2026-05-20", Expires="2026-06-10"))
    mini_site.build()
    mini_site.add("stories/new.md", story("New", "A new story.", Date="2026-05-30",
                                          Tags="semillas"))
    assert_same_as_full_build(mini_site, "added")
    mini_site.add("stories/s3.md", story("Story three, corrected", "Corrected.",
                                         Date="2026-05-04", Tags="lluvia"))
    assert_same_as_full_build(mini_site, "edited")
    (mini_site.content / "stories/s5.md").unlink()
    assert_same_as_full_build(mini_site, "deleted")
    assert (mini_site.output / "stories/notice/index.html").is_file()
    # The clock moves past the notice's expiry; its source is unchanged and cached.
    assert_same_as_full_build(mini_site, "expired", MILPA_NOW="2026-06-20T12:00:00+00:00")
    assert not (mini_site.output / "stories/notice").exists()
    assert not (mini_site.output / "stories/s5").exists()


def test_an_unchanged_story_is_not_parsed_again(mini_site: MiniSite, monkeypatch) -> None:
    for number in range(5):
        mini_site.add(f"stories/s{number}.md", story(f"Story {number}"))
    mini_site.build()
    parsed: list[str] = []
    original = ReusedMarkdownReader.read

    def counting(reader: ReusedMarkdownReader, source_path: str) -> object:
        parsed.append(Path(source_path).name)
        return original(reader, source_path)

    monkeypatch.setattr(ReusedMarkdownReader, "read", counting)
    mini_site.add("stories/s2.md", story("Story two, corrected"))
    mini_site.build()
    assert parsed == ["s2.md"]


def test_a_changed_setting_does_not_reuse_what_was_read_before(mini_site: MiniSite) -> None:
    # Pelican's readers make the tag objects, with the settings of the build that read them.
    mini_site.add("stories/a.md", story("A", Tags="agua"))
    mini_site.build()
    topics = {"TAG_URL": "topic/{slug}/", "TAG_SAVE_AS": "topic/{slug}/index.html"}
    assert_same_as_full_build(mini_site, "topics", **topics)
    assert 'href="/topic/agua/"' in mini_site.read("stories/a/index.html")
