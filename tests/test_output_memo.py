"""ActivityPub documents, outbox pages and feeds taken from the previous build
(``milpa.outputs.OutputMemo``): only when nothing they are made of changed, and always the
bytes a full build gives."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

import milpa_activitypub.generator
import milpa_feeds.generator
from milpa.announce import body_hash
from milpa.state import DataStore

from .conftest import MiniSite, story
from .test_incremental import assert_same_as_full_build, two_pages_of_stories


def counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    """Calls of ``module.name`` from now on (the first argument of each)."""
    calls: list[Any] = []
    original = getattr(module, name)

    def counting(first: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(first)
        return original(first, *args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_a_rebuild_builds_again_only_the_documents_and_feeds_an_edit_reaches(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    two_pages_of_stories(mini_site)
    mini_site.add("stories/far.md", story("Far", Date="2026-01-01", Tags="lejos", Slug="far"))
    mini_site.build()
    posts = counted(monkeypatch, milpa_activitypub.generator, "story_post")
    feeds = counted(monkeypatch, milpa_feeds.generator, "atom_feed")
    mini_site.build()
    assert posts == [] and feeds == []  # nothing changed: nothing is built
    mini_site.add("stories/s3.md", story("Story three, corrected", "Corrected.",
                                         Date="2026-05-04", Tags="agua, t0", Slug="s3"))
    mini_site.build()
    # The story and the two around it (their pages link it), and the feeds showing them.
    assert sorted(post.slug for post in posts) == ["s2", "s3", "s4"]
    built = {urlsplit(spec.atom_url).path for spec in feeds}
    assert "/feeds/all.atom.xml" in built and "/feeds/tag/lejos.atom.xml" not in built
    assert "Story three, corrected" in mini_site.read("ap/objects/es/s3")
    assert "Corrected." in mini_site.read("ap/outbox-pages/milpa/1")  # its author's Create
    assert_same_as_full_build(mini_site, "edited")


def test_a_changed_file_in_the_previous_output_is_built_again(mini_site: MiniSite) -> None:
    two_pages_of_stories(mini_site)
    mini_site.build()
    for relative in ("ap/objects/es/s9", "ap/outbox-pages/stories/1", "feeds/all.atom.xml"):
        (mini_site.output / relative).write_text("tampered\n")
    assert_same_as_full_build(mini_site, "repaired")
    assert "tampered" not in mini_site.read("ap/objects/es/s9")


def test_an_edit_not_yet_announced_is_served_with_this_builds_time(
        mini_site: MiniSite) -> None:
    """Followers were told an older text: the document says when it changed, and a build
    at another time says that time, as a full build would."""
    mini_site.add("stories/agua.md", story("Agua", "Text.", Slug="agua"))
    mini_site.build()
    told = json.loads(mini_site.read("ap/objects/es/agua"))
    DataStore(mini_site.base / "data").record_ledger("es/agua", {
        "key": "es/agua", "id": told["id"], "hash": "0" * 64, "body_hash": "0" * 64,
        "state": "published", "updated": ""})
    first = "2026-06-01T12:00:00+00:00"
    mini_site.build(MILPA_NOW=first)
    assert json.loads(mini_site.read("ap/objects/es/agua"))["updated"] == first
    later = "2026-06-02T08:00:00+00:00"
    assert_same_as_full_build(mini_site, "later", MILPA_NOW=later)
    assert json.loads(mini_site.read("ap/objects/es/agua"))["updated"] == later
    # Once announced (the ledger has this body and its time), that time stays.
    DataStore(mini_site.base / "data").record_ledger("es/agua", {
        "key": "es/agua", "id": told["id"], "hash": "0" * 64, "body_hash": body_hash(told),
        "state": "published", "updated": later})
    assert_same_as_full_build(mini_site, "announced", MILPA_NOW="2026-06-03T08:00:00+00:00")
    assert json.loads(mini_site.read("ap/objects/es/agua"))["updated"] == later


def test_a_ledger_entry_without_hashes_is_an_edit_as_in_a_full_build(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/agua.md", story("Agua", "Text.", Slug="agua"))
    mini_site.build()
    DataStore(mini_site.base / "data").record_ledger("es/agua", {"state": "published"})
    assert_same_as_full_build(mini_site, "told")
    assert "updated" in json.loads(mini_site.read("ap/objects/es/agua"))


def test_a_translation_follows_its_originals_quote_policy(mini_site: MiniSite) -> None:
    mini_site.add("stories/maiz.md", story("Maíz", Slug="maiz", Quote_Policy="public"))
    mini_site.add("stories/maiz-en.md", story("Maize", Slug="maiz", Lang="en",
                                              Translation="true"))
    mini_site.build()
    mini_site.add("stories/maiz.md", story("Maíz", Slug="maiz", Quote_Policy="nobody"))
    assert_same_as_full_build(mini_site, "policy")
    translation = json.loads(mini_site.read("ap/objects/en/maiz"))
    assert translation["interactionPolicy"]["canQuote"]["automaticApproval"] == []
