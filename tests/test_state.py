"""The data folder: atomic, concurrent, nothing lost."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from milpa.state import DataStore, Follower, write_atomically


def follower(number: int) -> Follower:
    return Follower(f"https://server{number % 7}.example/users/u{number}",
                    f"https://server{number % 7}.example/users/u{number}/inbox",
                    f"https://server{number % 7}.example/inbox", "2026-05-01T00:00:00+00:00",
                    f"https://server{number % 7}.example/follows/{number}")


def test_followers_are_recorded_listed_counted_and_removed(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    assert store.follower_count("stories") == 0 and store.followers("stories") == []
    store.record_follower("stories", follower(1))
    store.record_follower("stories", follower(1))  # a repeated Follow changes nothing
    store.record_follower("stories", follower(2))
    assert store.follower_count("stories") == 2
    assert {f.id for f in store.followers("stories")} == {follower(1).id, follower(2).id}
    assert store.followers("stories")[0].server.startswith("server")
    assert store.remove_follower("stories", follower(1).id) is True
    assert store.remove_follower("stories", follower(1).id) is False
    assert store.follower_count("stories") == 1 and store.follower_count("other") == 0
    assert store.actors_with_followers() == ["stories"]
    files = list((tmp_path / "followers/stories").iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text())["id"] == follower(2).id


def _settle(folder: Path) -> None:
    """Files as if written a minute ago: old enough for the followers' index."""
    for path in folder.iterdir():
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 60 * 10**9))


def test_the_followers_index_never_outlives_the_files(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    folder = tmp_path / "followers/stories"
    index = tmp_path / ".index/followers/stories.json"
    for number in range(3):
        store.record_follower("stories", follower(number))
    store.followers("stories")
    # Files this young may still change within their time stamp: not kept.
    assert not index.exists() or json.loads(index.read_text()) == {}
    _settle(folder)
    first = store.followers("stories")
    assert len(first) == 3 and len(json.loads(index.read_text())) == 3
    # Read from the index now: it is what the files say...
    stored = json.loads(index.read_text())
    name = sorted(stored)[0]
    stored[name][1]["acct"] = "from-the-index@example"
    index.write_text(json.dumps(stored))
    assert store.followers("stories")[0].acct == "from-the-index@example"
    # ...until a follower is added, removed or rewritten in place (same name and size).
    store.record_follower("stories", follower(3))
    assert len(store.followers("stories")) == 4
    store.remove_follower("stories", follower(3).id)
    _settle(folder)
    assert store.followers("stories") == first
    changed = replace(first[0], since="2026-05-02T00:00:00+00:00")
    path = next(p for p in folder.iterdir() if json.loads(p.read_text())["id"] == changed.id)
    path.write_text(path.read_text().replace("2026-05-01", "2026-05-02"))
    assert store.followers("stories")[0] == changed


def test_a_broken_followers_index_is_made_again(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.record_follower("stories", follower(1))
    _settle(tmp_path / "followers/stories")
    index = tmp_path / ".index/followers/stories.json"
    store.followers("stories")
    ((name, (stamp, _)),) = json.loads(index.read_text()).items()
    for broken in ("", "[]", "{\"a.json\": 1}", "{\"a.json\": [1, [2]]}", "nul\0",
                   json.dumps({name: [stamp, {"id": 1, "x": 2}]}), json.dumps({name: [stamp, {}]})):
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(broken)
        assert store.followers("stories") == [follower(1)]
    file = next((tmp_path / "followers/stories").iterdir())
    assert json.loads(index.read_text())[file.name][1] == json.loads(file.read_text())


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomically(target, b'{"old": true}')


    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b'{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def _record_many(folder: str, start: int) -> None:
    store = DataStore(Path(folder))
    for number in range(start, start + 50):
        store.record_follower("stories", follower(number))


def test_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_record_many, [str(tmp_path)] * 4, [0, 50, 100, 150]))
    assert DataStore(tmp_path).follower_count("stories") == 200


def test_every_story_with_replies_or_reactions_under_any_id_is_listed(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    assert store.stories_with_records() == frozenset()
    # agua came back after a Delete (agua.1); v.3's own slug ends in a number.
    store.record_reaction("likes", "es/agua.1", "https://a.example/users/1", "like-1")
    store.record_reaction("boosts", "es/v.3", "https://a.example/users/1", "boost-1")
    store.record_reaction("likes", "en/rain", "https://a.example/users/1", "like-2")
    (tmp_path / "replies/es/seeds.2.x").mkdir(parents=True)
    listed = store.stories_with_records()
    candidates = [("es", "agua"), ("es", "agua.1"), ("es", "v"), ("es", "v.3"), ("en", "rain"),
                  ("es", "rain"), ("es", "seeds"), ("es", "seeds.2.x"), ("fr", "agua")]
    for lang, slug in candidates:
        # Whatever a story would find by itself, the listing names it.
        answered = [key for key in store.ids_of_story(lang, slug)
                    if any((tmp_path / kind / key).exists()
                           for kind in ("replies", "likes", "boosts"))]
        assert not answered or f"{lang}/{slug}" in listed, (lang, slug)
    assert {"es/agua", "es/v.3", "en/rain"} <= listed and "fr/agua" not in listed
