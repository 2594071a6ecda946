"""The build writes its files from a thread of its own while it renders the next pages.

Each test here holds every write back until the build asks for them to be settled, the
latest the thread could ever be: what is read back, copied over by Pelican itself or
written twice must come out as it does when each file is written at once.
"""

from __future__ import annotations

import errno
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from milpa_site import keeping
from milpa_site.build import BuildFailed
from milpa_site.keeping import keeping_writer

from .conftest import MiniSite, story
from .test_incremental import full_build, stamps, tree


class _HeldUntilSettled(keeping._WrittenInTurn):
    """Writes nothing until asked to settle or stop."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Callable[[], None]] = []

    def put(self, write: Callable[[], None]) -> None:
        self.held.append(write)

    def settle(self) -> None:
        while self.held:
            self.held.pop(0)()
        super().settle()

    def stop(self) -> None:
        self.settle()


@pytest.fixture
def held_writes(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(keeping, "_WrittenInTurn", _HeldUntilSettled)
    return monkeypatch


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


def test_a_write_that_fails_fails_the_build_and_keeps_the_output(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    some_stories(mini_site)
    mini_site.build()
    before = stamps(mini_site.output)
    write_file = keeping._write_file

    def disk_full_for_stories(path: str, data: bytes) -> None:
        if "/stories/" in path:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        write_file(path, data)

    monkeypatch.setattr(keeping, "_write_file", disk_full_for_stories)
    mini_site.add("stories/new.md", story("New", Date="2026-05-20"))
    with pytest.raises(BuildFailed, match="No space left on device"):
        mini_site.build()
    assert stamps(mini_site.output) == before
    assert not [t for t in threading.enumerate() if t.name == "milpa-writes"]


def test_the_writing_thread_ends_and_the_interpreter_turn_is_restored(
        mini_site: MiniSite) -> None:
    some_stories(mini_site)
    turn = sys.getswitchinterval()
    sys.setswitchinterval(0.004)  # not Python's default, which a careless build might set
    try:
        mini_site.build()
        assert sys.getswitchinterval() == 0.004
    finally:
        sys.setswitchinterval(turn)
    assert not [t for t in threading.enumerate() if t.name == "milpa-writes"]


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
