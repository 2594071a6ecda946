"""The build's files are written by a process of its own while it renders the next pages.

Most tests here hold every write back until the build asks for them to be settled, the
latest the process could ever be: what is read back, copied over by Pelican itself or
written twice must come out as it does when each file is written at once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pelican import signals

from milpa_site import keeping, writing
from milpa_site.build import BuildFailed
from milpa_site.keeping import keeping_writer

from .conftest import MiniSite, story
from .test_incremental import full_build, stamps, tree


class _HeldUntilSettled(writing.WritingProcess):
    """Hands nothing over until asked what was written (to settle, or to stop)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[Any, ...]] = []

    def _send(self, *frame: Any) -> None:
        if frame[0] == writing._SETTLE:
            super()._send(*frame)
        else:
            self.held.append(frame)

    def _collect(self) -> None:
        while self.held:
            super()._send(*self.held.pop(0))
        super()._collect()

    def stop(self) -> None:
        self._collect()  # the process may not have started yet
        super().stop()


class _Recorded(writing.WritingProcess):
    made: ClassVar[list[writing.WritingProcess]] = []

    def __init__(self) -> None:
        super().__init__()
        self.made.append(self)


@pytest.fixture
def held_writes(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(keeping, "WritingProcess", _HeldUntilSettled)
    return monkeypatch


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> list[writing.WritingProcess]:
    made: list[writing.WritingProcess] = []
    monkeypatch.setattr(_Recorded, "made", made)
    monkeypatch.setattr(keeping, "WritingProcess", _Recorded)
    return made


def some_stories(site: MiniSite) -> None:
    for number in range(3):
        site.add(f"stories/s{number}.md", story(f"Story {number}", Date=f"2026-05-0{number + 1}",
                                                Tags="agua"))


def test_outboxes_read_back_story_documents_written_behind(mini_site: MiniSite,
                                                           held_writes) -> None:
    some_stories(mini_site)
    mini_site.build()  # the outbox pages read each story's document back from the output
    held = tree(mini_site.output)
    held_writes.undo()
    assert held == full_build(mini_site, "at-once")
    # The author's outbox page carries each story's document, read back from the output.
    pages = [data for path, data in held.items() if path.startswith("ap/outbox-pages/")]
    assert any(b'"Create"' in page and b"Story 2" in page for page in pages)


def test_a_file_copied_over_a_generated_one_is_copied_after_it_is_written(
        mini_site: MiniSite, held_writes) -> None:
    some_stories(mini_site)
    # A hand-written discovery document: the Fediverse plugin writes this one last.
    mini_site.add("extra/host-meta", "<XRD>our own</XRD>")
    own = {"extra/host-meta": {"path": ".well-known/host-meta"}}
    mini_site.build(EXTRA_PATH_METADATA=own)
    assert mini_site.read(".well-known/host-meta") == "<XRD>our own</XRD>"
    held_writes.undo()
    assert tree(mini_site.output) == full_build(mini_site, "at-once", EXTRA_PATH_METADATA=own)
    # Without it, the generated one is back: the copy had changed the file written first.
    (mini_site.content / "extra/host-meta").unlink()
    mini_site.build()
    assert tree(mini_site.output) == full_build(mini_site, "generated")


def test_a_write_that_fails_fails_the_build_and_keeps_the_output(
        mini_site: MiniSite, processes) -> None:
    some_stories(mini_site)
    mini_site.build()
    before = stamps(mini_site.output)
    # A page saved where a new story's folder is: the system refuses to write it.
    mini_site.add("stories/new.md", story("New", Date="2026-05-20"))
    mini_site.add("pages/clash.md", "Title: Clash\nSave_As: stories/new\n\nText.\n")
    with pytest.raises(BuildFailed, match=r"Is a directory: .*stories/new"):
        mini_site.build()
    assert stamps(mini_site.output) == before
    assert [process.process.returncode for process in processes[1:]] == [0]


def test_a_page_where_a_storys_folder_is_fails_a_rebuild_too(mini_site: MiniSite) -> None:
    mini_site.add("stories/new.md", story("New", Date="2026-05-20"))
    some_stories(mini_site)
    mini_site.build()
    before = stamps(mini_site.output)
    # The story's folder is kept from the previous output: nothing refuses the page but
    # the build, which would otherwise put the page in place of the story.
    mini_site.add("pages/clash.md", "Title: Clash\nSave_As: stories/new\n\nText.\n")
    with pytest.raises(BuildFailed, match=r"stories/new: one page is written there and "
                                          r"another inside a folder of that name "
                                          r"\(stories/new/index.html\)"):
        mini_site.build()
    assert stamps(mini_site.output) == before


def test_a_writing_process_that_dies_fails_the_build_and_keeps_the_output(
        mini_site: MiniSite, processes) -> None:
    some_stories(mini_site)
    mini_site.build()
    before = stamps(mini_site.output)

    def kill_the_writing_process(*_: Any, **__: Any) -> None:
        os.kill(processes[-1].process.pid, signal.SIGKILL)

    mini_site.add("stories/new.md", story("New", Date="2026-05-20"))
    signals.article_writer_finalized.connect(kill_the_writing_process)
    try:
        with pytest.raises(BuildFailed, match="the process writing the output ended"):
            mini_site.build()
    finally:
        signals.article_writer_finalized.disconnect(kill_the_writing_process)
    assert stamps(mini_site.output) == before


def test_the_writing_process_ends_with_the_build(mini_site: MiniSite, processes) -> None:
    some_stories(mini_site)
    mini_site.build()
    assert [process.process.returncode for process in processes] == [0]


def test_files_are_written_in_the_order_they_were_handed_over(tmp_path: Path) -> None:
    writer = keeping_writer(tmp_path / "output", None)(str(tmp_path / "shadow"), {})
    for number in range(300):
        writer.write_bytes("index.html", f"version {number}".encode())
    writer.settle_writes()
    writer.stop_writing()
    assert (tmp_path / "shadow/index.html").read_text() == "version 299"


def test_a_page_written_again_over_itself_keeps_the_second_text(tmp_path: Path,
                                                               held_writes) -> None:
    writer = keeping_writer(tmp_path / "output", None)(str(tmp_path / "shadow"), {})
    page = str(tmp_path / "shadow/index.html")
    with writer._open_w(page, "utf-8") as first:  # Pelican's way to write a page
        first.write("first")
    with writer._open_w(page, "utf-8", override=True) as second:
        second.write("second")
    writer.stop_writing()
    assert Path(page).read_text() == "second"
