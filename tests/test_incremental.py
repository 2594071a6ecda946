"""Rebuilds with a warm cache give the same bytes as a full build of the same content."""

from __future__ import annotations

import builtins
import io
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
import pytest

from milpa.keys import PRIVATE_KEY
from milpa.replies import Reply
from milpa.state import DataStore, Follower
from milpa_site import build as build_module
from milpa_site.build import BuildFailed
from milpa_site.keeping import keeping_writer
from milpa_site.markdown_reader import ReusedMarkdownReader

from .conftest import ROOT, SECRET_SERIAL, TEST_KEYS, MiniSite, photo_with_secrets, story
from .privacy import tree_leaks

SECRETS = (SECRET_SERIAL.encode(), b"PhoneMaker", b"home of the author")


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


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file's inode and modification time: the same pair means it was not written."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def two_pages_of_stories(site: MiniSite) -> None:
    # Pages are cut from the oldest story: ten on page 2, fourteen on the home page.
    for number in range(24):
        site.add(f"stories/s{number}.md", story(
            f"Story {number}", f"Text of story {number}.", Date=f"2026-05-{number + 1:02d}",
            Tags=f"agua, t{number % 3}", Slug=f"s{number}"))


def test_a_rebuild_writes_only_the_files_that_changed(mini_site: MiniSite) -> None:
    two_pages_of_stories(mini_site)
    mini_site.add("extra/robots.txt", "User-agent: *\n")
    mini_site.build()
    before = stamps(mini_site.output)
    mini_site.add("stories/s3.md", story("Story three, corrected", "Corrected.",
                                         Date="2026-05-04", Tags="agua, t0", Slug="s3"))
    assert_same_as_full_build(mini_site, "edited")
    after = stamps(mini_site.output)
    written = sorted(path for path in after if after[path] != before.get(path))
    assert "stories/s3/index.html" in written
    # Pages, ActivityPub documents, feeds and copied files that did not change stay as
    # they were (a reader or a sync tool sees no change).
    for kept in ("stories/s9/index.html", "ap/objects/es/s9", "feeds/tag/t2.atom.xml",
                 "robots.txt", "tag/t2/index.html"):
        assert after[kept] == before[kept], kept
    assert len(written) < len(after) / 3


def rendered_templates(monkeypatch) -> list[str]:
    rendered: list[str] = []
    original = jinja2.Template.render

    def counting(template: jinja2.Template, *args: object, **kwargs: object) -> str:
        rendered.append(template.name)
        return original(template, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", counting)
    return rendered


def test_pages_that_cannot_have_changed_are_not_rendered_again(mini_site: MiniSite,
                                                               monkeypatch) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    rendered = rendered_templates(monkeypatch)
    mini_site.add("stories/s5.md", story("Story five, corrected", "Corrected.",
                                         Date="2026-05-06", Tags="agua, t2", Slug="s5"))
    assert_same_as_full_build(mini_site, "edited")
    # The full build renders all 24; the rebuild the story and the two around it.
    assert rendered.count("article.html") == 24 + 3


def test_a_hand_edited_output_file_is_rendered_again(mini_site: MiniSite) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    page = mini_site.output / "stories/s4/index.html"
    page.write_text("defaced", encoding="utf-8")
    assert_same_as_full_build(mini_site, "restored")
    assert "Story 4" in page.read_text(encoding="utf-8")


def test_a_rebuild_reads_no_kept_file_back_and_each_source_once(
        mini_site: MiniSite, monkeypatch) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    opened: list[str] = []
    real_open = io.open

    def open_spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(file) if isinstance(file, str | Path) else "")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", open_spy)
    monkeypatch.setattr(builtins, "open", open_spy)
    mini_site.build()
    # Pages, documents and feeds are known unchanged by their stamps, not read again.
    assert [path for path in opened if path.startswith(str(mini_site.output))] == []
    # Each source is read once, by the check: Pelican's content cache is given its digest.
    sources = Counter(path for path in opened if path.endswith(".md"))
    assert sorted(sources.values()) == [1] * 24


def test_an_output_file_replaced_with_its_stamp_forged_is_built_again(
        mini_site: MiniSite) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    for relative in ("stories/s4/index.html", "ap/objects/es/s9", "feeds/all.atom.xml"):
        page = mini_site.output / relative
        before = page.stat()
        forged = page.with_name("forged")  # same size and time, another file
        forged.write_bytes(b"x" * before.st_size)
        os.utime(forged, ns=(before.st_atime_ns, before.st_mtime_ns))
        forged.replace(page)
    assert_same_as_full_build(mini_site, "restored")


def test_builds_of_the_same_content_agree_whatever_the_string_hashing(site: MiniSite
                                                                      ) -> None:
    # The order Pelican lists sources in changed with each run's string hashing: a story's
    # translations and stories of the same date came out in another order each time.
    site.add("stories/agua.md", story("Agua", Slug="agua"))
    for lang in ("en", "fr", "pt", "de"):
        site.add(f"stories/agua-{lang}.md", story(f"Agua ({lang})", Slug="agua", Lang=lang,
                                                  Translation="true"))
    for name in ("maiz", "frijol", "calabaza", "chile"):
        site.add(f"stories/{name}.md", story(name.title(), Date="2026-05-05 10:00"))
    outputs = []
    for seed in ("1", "2", "3"):
        output = site.base / f"output-{seed}"
        built = subprocess.run(
            [sys.executable, str(ROOT / "publish.py"), "build", "-o", str(output)],
            cwd=site.base, env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True,
            text=True)
        assert built.returncode == 0, built.stderr
        outputs.append(tree(output))
    assert outputs[1] == outputs[0]
    assert outputs[2] == outputs[0]


def test_two_static_files_copied_to_one_place_are_refused(mini_site: MiniSite) -> None:
    # Pelican copies static files in an order that changes from run to run: the last wins.
    mini_site.add("extra/robots.txt", "User-agent: *\nAllow: /\n")
    mini_site.add("robots.txt", "User-agent: *\nDisallow: /\n")
    mini_site.add("stories/a.md", story("A", "[robots]({static}/robots.txt)"))
    with pytest.raises(BuildFailed, match=r"robots.txt: extra/robots.txt and robots.txt would "
                                          r"all be copied there"):
        mini_site.build()


def test_rebuilds_after_theme_reply_reaction_follower_and_translation_match_full_builds(
        mini_site: MiniSite, tmp_path: Path) -> None:
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    two_pages_of_stories(mini_site)
    mini_site.add("stories/a.md", story("Agua", Slug="a", Authors="Ana"))
    mini_site.build(THEME=str(theme))
    base = theme / "templates/base.html"
    base.write_text(base.read_text().replace("</footer>", "<p>Radio comunitaria</p></footer>"))
    assert_same_as_full_build(mini_site, "theme", THEME=str(theme))
    assert "Radio comunitaria" in mini_site.read("stories/s1/index.html")
    store = DataStore(mini_site.base / "data")
    store.save_reply(Reply(
        id="https://a.example/notes/1", story="es/s2", actor="https://a.example/users/1",
        author_name="Reader", author_handle="@r@a.example", author_url="https://a.example/@r",
        url="https://a.example/@r/1", published="2026-06-01T10:00:00Z",
        content="<p>Gracias por contarlo</p>", status="approved"))
    assert_same_as_full_build(mini_site, "reply", THEME=str(theme))
    assert "Gracias por contarlo" in mini_site.read("stories/s2/index.html")
    store.record_reaction("likes", "es/s7", "https://a.example/users/1", "like-1")
    assert_same_as_full_build(mini_site, "like", THEME=str(theme))
    assert "1 me gusta" in mini_site.read("stories/s7/index.html")
    for index in range(3):
        store.record_follower("ana", Follower(
            f"https://a.example/users/{index}", f"https://a.example/users/{index}/inbox",
            None, "2026-05-01T00:00:00+00:00"))
    assert_same_as_full_build(mini_site, "followers", THEME=str(theme))
    assert "3 followers" in mini_site.read("author/ana/index.html")
    mini_site.add("stories/s6-en.md", story("Story six", "In English.", Lang="en",
                                            Slug="s6", Translation="true", Date="2026-05-07"))
    assert_same_as_full_build(mini_site, "translation", THEME=str(theme))
    assert 'hreflang="en"' in mini_site.read("stories/s6/index.html")


def test_a_photo_added_to_the_copied_files_on_a_rebuild_is_stripped(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("A"))
    mini_site.build()
    photo_with_secrets(mini_site.content / "extra/me.jpg")
    mini_site.build()
    assert (mini_site.output / "extra/me.jpg").is_file()
    assert tree_leaks(mini_site.output, SECRETS) == []


def test_an_edited_story_renders_again_only_the_listing_page_that_shows_it(
        mini_site: MiniSite, monkeypatch) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    rendered = rendered_templates(monkeypatch)
    mini_site.add("stories/s0.md", story("Story zero, corrected", "Corrected.",
                                         Date="2026-05-01", Tags="agua, t0", Slug="s0"))
    assert_same_as_full_build(mini_site, "edited")
    assert rendered.count("index.html") == 2 + 1  # the full build's two, then page 2
    assert rendered.count("language.html") == 2 + 1  # the same for the stories in Spanish


@pytest.mark.parametrize(("shown", "page", "edited"), [
    ("articles_page.paginator.object_list[0].title", "page/2/index.html", 23),
    ("articles_next_page.object_list[-1].title if articles_next_page", "index.html", 0),
])
def test_a_theme_that_shows_other_pages_stories_is_rendered_every_time(
        mini_site: MiniSite, tmp_path: Path, shown: str, page: str, edited: int) -> None:
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    index = theme / "templates/index.html"
    index.write_text(index.read_text()
                     + f"{{% block intro %}}Shown: {{{{ {shown} }}}}{{% endblock %}}\n")
    two_pages_of_stories(mini_site)
    mini_site.build(THEME=str(theme))
    mini_site.add(f"stories/s{edited}.md", story(
        "Corrected", "Corrected.", Date=f"2026-05-{edited + 1:02d}", Slug=f"s{edited}"))
    assert_same_as_full_build(mini_site, "edited", THEME=str(theme))
    assert "Shown: Corrected" in mini_site.read(page)


def test_a_changed_template_outside_the_theme_renders_its_pages_again(
        mini_site: MiniSite, tmp_path: Path) -> None:
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    article = (ROOT / "theme/templates/article.html").read_text(encoding="utf-8")
    (overrides / "article.html").write_text(article, encoding="utf-8")
    two_pages_of_stories(mini_site)
    mini_site.build(THEME_TEMPLATES_OVERRIDES=[str(overrides)])
    (overrides / "article.html").write_text(
        article.replace("{% endblock %}", "<p>Radio comunitaria</p>{% endblock %}", 1),
        encoding="utf-8")
    assert_same_as_full_build(mini_site, "overridden",
                              THEME_TEMPLATES_OVERRIDES=[str(overrides)])
    assert "Radio comunitaria" in mini_site.read("stories/s1/index.html")


def test_a_rebuild_makes_folders_only_for_the_files_it_writes(mini_site: MiniSite,
                                                              monkeypatch) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    in_shadow: set[str] = set()
    original = build_module.apply

    def recording(shadow: Path, *args: Any) -> None:
        in_shadow.update(folder.relative_to(shadow).as_posix() for folder in shadow.rglob("*")
                         if folder.is_dir())
        original(shadow, *args)

    monkeypatch.setattr(build_module, "apply", recording)
    mini_site.add("stories/s3.md", story("Story three, corrected", "Corrected.",
                                         Date="2026-05-04", Tags="agua, t0", Slug="s3"))
    mini_site.build()
    assert "stories/s3" in in_shadow
    # Pages that did not change get no folder to be made and removed again.
    assert not in_shadow & {"stories/s9", "stories/s0", "tag/t2", "tag/t1"}


def test_stray_files_and_linked_folders_in_the_output_go_on_a_rebuild(
        mini_site: MiniSite, tmp_path: Path) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    (mini_site.output / "stories/s4/old-draft.html").write_text("stray", encoding="utf-8")
    (mini_site.output / "leftover/deep").mkdir(parents=True)
    (mini_site.output / "leftover/deep/page.html").write_text("stray", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "kept.txt").write_text("not ours to delete", encoding="utf-8")
    (mini_site.output / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert_same_as_full_build(mini_site, "strays")
    assert not (mini_site.output / "leftover").exists()
    assert not (mini_site.output / "linked").is_symlink()
    assert (elsewhere / "kept.txt").is_file()


def test_key_material_in_a_story_added_on_a_rebuild_fails_it_and_keeps_the_output(
        mini_site: MiniSite) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    before = stamps(mini_site.output)
    body = "".join(line for line in (TEST_KEYS / PRIVATE_KEY).read_text().splitlines()
                   if "-----" not in line)
    mini_site.add("stories/notes.md", story("Notes", f"Notes: {body}", Slug="notes"))
    with pytest.raises(BuildFailed, match=r"stories/notes/index.html: part of the site's"):
        mini_site.build()
    assert stamps(mini_site.output) == before


@pytest.mark.parametrize("relative", ["../outside.txt", "/tmp/outside.txt"])
def test_the_writer_refuses_a_path_that_leaves_the_output_even_with_the_same_bytes(
        tmp_path: Path, relative: str) -> None:
    previous = tmp_path / "output"
    previous.mkdir()
    (tmp_path / "outside.txt").write_bytes(b"same")
    writer = keeping_writer(previous, None)(str(tmp_path / "shadow"), {})
    with pytest.raises(RuntimeError, match="break out of output directory"):
        writer.write_bytes(relative.replace("/tmp", str(tmp_path)), b"same")


def test_the_themes_templates_are_compiled_once_not_every_build(mini_site: MiniSite,
                                                                monkeypatch) -> None:
    mini_site.add("stories/a.md", story("Agua"))
    mini_site.build()
    compiled: list[str | None] = []
    original = jinja2.Environment.compile

    def counting(env: jinja2.Environment, source: Any, name: str | None = None,
                 *args: Any, **kwargs: Any) -> Any:
        compiled.append(name)
        return original(env, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    mini_site.add("stories/b.md", story("Semillas"))
    mini_site.build()
    assert compiled == []  # every generator's environment loaded them as compiled before
