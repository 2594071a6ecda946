"""The announce plan: what the ledger and the build disagree about, as activities."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from milpa.activitypub import ApUrls
from milpa.announce import (
    LedgerEntry,
    body_hash,
    document_hash,
    plan_changes,
    published_documents,
    with_edit_time,
)

from .conftest import MiniSite, story

BASE = "https://stories.example.org"
URLS = ApUrls(BASE)
MOMENT = "2026-06-01T12:00:00+00:00"


@pytest.fixture
def built(mini_site: MiniSite) -> MiniSite:
    mini_site.add("stories/a.md", story("Agua", Authors="Ixchel Tzoc", Slug="agua",
                                        Date="2026-05-01"))
    mini_site.add("stories/b.md", story("Roads", Authors="Tomás Xolo", Slug="roads",
                                        Territory="Costa Chica", Date="2026-05-02"))
    mini_site.build(SITEURL=BASE)
    return mini_site


def documents(site: MiniSite) -> tuple[dict, dict]:
    return (published_documents(site.output, "objects"),
            published_documents(site.output, "actors"))


def ledger_after(plan) -> dict[str, LedgerEntry]:
    return {entry.key: entry for entry in [*(c.entry for c in plan.changes), *plan.quiet]}


def test_new_stories_are_created_by_their_author_and_shared_by_site_and_territory(
        built: MiniSite) -> None:
    stories, actors = documents(built)
    plan = plan_changes(stories, actors, {}, URLS, MOMENT)
    summary = [(c.activity["type"], c.sender, c.audience) for c in plan.changes]
    assert summary == [
        ("Create", "tomas_xolo", ("tomas_xolo",)),
        ("Announce", "stories", ("stories",)),
        ("Announce", "costa_chica", ("costa_chica",)),
        ("Create", "ixchel_tzoc", ("ixchel_tzoc",)),
        ("Announce", "stories", ("stories",)),
        ("Announce", "sierra_norte", ("sierra_norte",)),
    ]
    create = plan.changes[0].activity
    assert create["id"] == URLS.create("es", "roads") == f"{URLS.story('es', 'roads')}#create"
    assert create["object"]["id"] == URLS.story("es", "roads")
    assert {e.key for e in plan.quiet} == {f"actors/{n}" for n in actors}


def test_nothing_to_say_when_the_ledger_agrees(built: MiniSite) -> None:
    stories, actors = documents(built)
    ledger = ledger_after(plan_changes(stories, actors, {}, URLS, MOMENT))
    assert plan_changes(stories, actors, ledger, URLS, MOMENT).changes == []


def test_an_edit_is_an_update_and_a_removal_a_delete_from_the_writer(
        built: MiniSite) -> None:
    stories, actors = documents(built)
    ledger = ledger_after(plan_changes(stories, actors, {}, URLS, MOMENT))
    story_file = built.content / "stories/a.md"
    story_file.write_text(story_file.read_text().replace("Text.", "New text."))
    (built.content / "stories/b.md").unlink()
    built.build(SITEURL=BASE)
    stories, actors = documents(built)
    plan = plan_changes(stories, actors, ledger, URLS, MOMENT)
    update, delete = plan.changes
    assert (update.activity["type"], update.sender) == ("Update", "ixchel_tzoc")
    assert update.audience == ("ixchel_tzoc", "stories", "sierra_norte")
    assert update.activity["object"]["updated"] == MOMENT
    assert "New text." in update.activity["object"]["content"]
    assert (delete.activity["type"], delete.sender) == ("Delete", "tomas_xolo")
    assert delete.activity["object"] == {"id": URLS.story("es", "roads"), "type": "Tombstone",
                                         "formerType": "Note", "deleted": MOMENT}
    assert delete.audience == ("tomas_xolo", "stories", "costa_chica")
    assert delete.entry.state == "deleted"
    after = {**ledger, **ledger_after(plan)}
    assert plan_changes(stories, actors, after, URLS, MOMENT).changes == []


def test_a_changed_profile_is_an_update_of_the_actor(built: MiniSite) -> None:
    stories, actors = documents(built)
    ledger = ledger_after(plan_changes(stories, actors, {}, URLS, MOMENT))
    built.build(SITEURL=BASE, MILPA_ACTOR_NAME="Milpa Radio")
    stories, actors = documents(built)
    changes = plan_changes(stories, actors, ledger, URLS, MOMENT).changes
    # The authors' and territories' default bios name the site, so they change too.
    assert {c.activity["type"] for c in changes} == {"Update"}
    assert all(c.audience == (c.sender,) and c.activity["object"]["type"] in
               ("Organization", "Person", "Group") for c in changes)
    site = next(c for c in changes if c.sender == "stories")
    assert site.activity["object"]["name"] == "Milpa Radio"


def test_the_first_run_records_old_stories_and_backfills_only_the_newest(
        built: MiniSite) -> None:
    stories, actors = documents(built)
    quiet = plan_changes(stories, actors, {}, URLS, MOMENT, first_run=True)
    assert quiet.changes == [] and len(quiet.quiet) == len(stories) + len(actors)
    backfill = plan_changes(stories, actors, {}, URLS, MOMENT, first_run=True, backfill=1)
    assert backfill.changes[0].activity["object"]["id"] == URLS.story("es", "roads")
    assert backfill.count("Create") == 1


def test_documents_are_read_from_the_build(built: MiniSite, tmp_path: Path) -> None:
    stories, actors = documents(built)
    assert sorted(stories) == ["es/agua", "es/roads"]
    assert json.loads((built.output / "ap/objects/es/agua").read_text()) == stories["es/agua"]
    assert "stories" in actors
    assert replace(LedgerEntry("k", "i", "h", "published"), state="deleted").state == "deleted"


def test_embedded_replies_change_no_hash_the_ledger_keeps(built: MiniSite) -> None:
    """Stories announced when their replies collection was a file of its own (its URL in
    the document) are not sent again as edits, and an approved reply is no edit."""
    stories, actors = documents(built)
    story = stories["es/agua"]
    assert story["replies"] == {"id": f"{story['id']}#replies", "type": "OrderedCollection",
                                "totalItems": 0, "orderedItems": []}
    former = {**story, "replies": f"{BASE}/ap/replies/es/agua"}
    assert document_hash(story) == document_hash(former)
    assert body_hash(story) == body_hash(former)
    replied = {**story, "replies": {**story["replies"], "totalItems": 1,
                                    "orderedItems": ["https://a.example/notes/1"]}}
    assert document_hash(replied) == document_hash(story)
    told = {key: LedgerEntry(key, doc["id"], document_hash(doc), "published", doc["type"],
                             body_hash=body_hash(doc))
            for key, doc in {**stories, "es/agua": former}.items()}
    assert plan_changes({**stories, "es/agua": replied}, actors, told, URLS, MOMENT).changes == []
    told_dict = {"state": "published", "body_hash": body_hash(former), "hash": ""}
    assert "updated" not in with_edit_time(replied, told_dict, MOMENT)
