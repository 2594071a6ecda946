"""Stories in from a Mastodon archive: built in the test, imported, built, announced."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import publish
from milpa.archives import ArchiveError, read_mastodon, read_x
from milpa.state import DataStore

from .conftest import MiniSite, photo_with_secrets, settings_file

OLD = "https://old.example/users/ana"


def note(number: int, content: str, **extra: object) -> dict:
    return {"id": f"{OLD}/statuses/{number}", "type": "Note", "attributedTo": OLD,
            "published": f"2024-03-0{number}T10:00:00Z", "content": content, **extra}


def archive(tmp: Path, items: list[dict], media: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("actor.json", json.dumps({"id": OLD, "preferredUsername": "ana"}))
        bundle.writestr("outbox.json", json.dumps({"type": "OrderedCollection",
                                                   "orderedItems": items}))
        for name, data in (media or {}).items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def create(item: dict) -> dict:
    return {"type": "Create", "actor": OLD, "object": item}


@pytest.fixture
def sample(tmp_path: Path) -> bytes:
    photo = photo_with_secrets(tmp_path / "p.jpg", (300, 200)).read_bytes()
    first = note(1, "<p>El agua volvió <a href='https://old.example/tags/agua'>#agua</a></p>",
                 contentMap={"es": "…"}, summary="Duelo",
                 tag=[{"type": "Hashtag", "name": "#agua"}],
                 attachment=[{"type": "Document", "mediaType": "image/jpeg",
                              "url": "/media_attachments/files/1/original/p.jpg",
                              "name": "Un manantial"}])
    thread = note(2, "<p>Y la milpa creció.</p>", inReplyTo=first["id"])
    other = note(3, "<p>@someone thanks</p>", inReplyTo="https://else.example/notes/9")
    script = note(4, "<p>水は戻った — الماء عاد</p>",
                  attachment=[{"type": "Document", "mediaType": "image/jpeg",
                               "url": "/media_attachments/files/4/original/p.jpg"}])
    boost = {"type": "Announce", "actor": OLD, "object": "https://else.example/notes/1"}
    return archive(tmp_path, [create(first), create(thread), create(other), create(script),
                              boost],
                   {"media_attachments/files/1/original/p.jpg": photo,
                    "media_attachments/files/4/original/p.jpg": photo})


def test_own_posts_become_stories_and_threads_one_story(sample: bytes) -> None:
    stories = read_mastodon(sample, "en")
    assert len(stories) == 2
    water, script = stories
    assert water.lang == "es" and water.content_warning == "Duelo" and water.tags == ["agua"]
    assert "Y la milpa creció." in water.body and water.title.startswith("El agua volvió")
    assert [(name, alt) for name, alt, _ in water.photos] == [("p.jpg", "Un manantial")]
    assert script.lang == "en" and "水は戻った" in script.title


@pytest.mark.parametrize(("damage", "message"), [
    (lambda data: data[: len(data) // 2], "not a zip file"),
    (lambda data: b"PK nonsense", "not a zip file"),
])
def test_broken_archives_are_refused(sample: bytes, damage, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        read_mastodon(damage(sample), "en")


def test_a_post_naming_missing_media_is_refused(tmp_path: Path) -> None:
    broken = archive(tmp_path, [create(note(1, "<p>x</p>", attachment=[
        {"type": "Document", "mediaType": "image/png", "url": "/media_attachments/gone.png"}]))])
    with pytest.raises(ArchiveError, match=re.escape(
            "media_attachments/gone.png is named by a post but missing")):
        read_mastodon(broken, "en")


def test_import_is_idempotent_builds_and_is_not_announced(
        mini_site: MiniSite, sample: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    (mini_site.base / "pelicanconf.py").write_text(settings_file(
        PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output),
        CACHE_PATH=str(mini_site.base / "cache"), SITEURL="https://stories.example.org"))
    (mini_site.base / "ana.zip").write_bytes(sample)
    monkeypatch.chdir(mini_site.base)
    monkeypatch.delitem(__import__("sys").modules, "pelicanconf", raising=False)

    def run(*arguments: str) -> str:
        result = CliRunner().invoke(publish.cli, list(arguments), catch_exceptions=False)
        print(result.output)
        assert result.exit_code == 0
        return result.output

    options = ["import", "mastodon", "ana.zip", "--territory", "Sierra Norte", "--author",
               "Ana"]
    assert "Imported 2 stories (2 photos); 0 were already here." in run(*options)
    assert "Imported 0 stories (0 photos); 2 were already here." in run(*options)
    assert "no problems" in run("check")
    run("build")
    pages = list(mini_site.output.glob("stories/imported-*/index.html"))
    assert len(pages) == 2
    assert any("Un manantial" in page.read_text() for page in pages)
    assert "Delivered 0" in run("announce")
    ledger = DataStore(mini_site.base / "data").ledger()
    assert sum(1 for key in ledger if not key.startswith("actors/")) == 2
    broken = mini_site.base / "broken.zip"
    broken.write_bytes(sample[:100])
    before = sorted(p.name for p in mini_site.content.rglob("*"))
    refused = CliRunner().invoke(publish.cli, ["import", "mastodon", "broken.zip",
                                               "--territory", "X", "--author", "Y"])
    assert refused.exit_code == 1 and "Nothing was imported" in refused.output
    assert sorted(p.name for p in mini_site.content.rglob("*")) == before


def x_archive(tmp: Path, tweets: list[dict], media: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("data/account.js", "window.YTD.account.part0 = " + json.dumps(
            [{"account": {"accountId": "42", "username": "ana"}}]))
        bundle.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + json.dumps(
            [{"tweet": tweet} for tweet in tweets]))
        for name, data in media.items():
            bundle.writestr(f"data/tweets_media/{name}", data)
    return buffer.getvalue()


def tweet(number: int, text: str, **extra: object) -> dict:
    return {"id_str": str(number), "full_text": text, "lang": "es",
            "created_at": f"Wed Oct 1{number} 20:19:24 +0000 2025", **extra}


@pytest.fixture
def x_sample(tmp_path: Path) -> bytes:
    photo = photo_with_secrets(tmp_path / "p.jpg", (300, 200)).read_bytes()
    first = tweet(1, "La asamblea decidió #agua con @rosa https://t.co/abc https://t.co/pic",
                  entities={"hashtags": [{"text": "agua"}],
                            "urls": [{"url": "https://t.co/abc",
                                      "expanded_url": "https://radio.example/asamblea"}],
                            "user_mentions": [{"screen_name": "rosa"}],
                            "media": [{"url": "https://t.co/pic"}]},
                  extended_entities={"media": [{"url": "https://t.co/pic", "type": "photo",
                                                "media_url_https": "https://pbs/abc.jpg",
                                                "ext_alt_text": "La asamblea en la plaza"}]})
    thread = tweet(2, "Segunda parte del hilo.", in_reply_to_status_id_str="1",
                   in_reply_to_user_id_str="42")
    retweet = tweet(3, "RT @someone: something")
    reply = tweet(4, "@other gracias", in_reply_to_status_id_str="999",
                  in_reply_to_user_id_str="7")
    chinese = tweet(5, "水は戻った", lang="ja")
    return x_archive(tmp_path, [chinese, reply, retweet, thread, first], {"1-abc.jpg": photo})


def test_x_posts_become_stories_with_links_mentions_threads_and_alt_text(
        x_sample: bytes) -> None:
    stories = read_x(x_sample, "en")
    assert len(stories) == 2
    assembly, japanese = stories
    assert '<a href="https://radio.example/asamblea">https://radio.example/asamblea</a>' \
        in assembly.body
    assert '<a href="https://x.com/rosa">@rosa</a>' in assembly.body
    assert "t.co" not in assembly.body and "Segunda parte del hilo." in assembly.body
    assert assembly.tags == ["agua"] and assembly.lang == "es"
    assert [(name, alt) for name, alt, _ in assembly.photos] == [
        ("1-abc.jpg", "La asamblea en la plaza")]
    assert japanese.lang == "ja" and japanese.title == "水は戻った"
    assert len(read_x(x_sample, "en", keep_replies=True)) == 3


def test_x_archives_missing_parts_are_refused(tmp_path: Path) -> None:
    missing_media = x_archive(tmp_path, [tweet(1, "x", extended_entities={"media": [
        {"type": "photo", "media_url_https": "https://pbs/gone.jpg"}]})], {})
    with pytest.raises(ArchiveError, match=re.escape("data/tweets_media/1-gone.jpg")):
        read_x(missing_media, "en")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("data/account.js", "window.YTD.account.part0 = []")
    with pytest.raises(ArchiveError, match=re.escape("no data/tweets.js")):
        read_x(buffer.getvalue(), "en")


def test_import_x_from_the_command_line(mini_site: MiniSite, x_sample: bytes,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (mini_site.base / "pelicanconf.py").write_text(settings_file(
        PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output),
        CACHE_PATH=str(mini_site.base / "cache")))
    (mini_site.base / "x.zip").write_bytes(x_sample)
    monkeypatch.chdir(mini_site.base)
    monkeypatch.delitem(__import__("sys").modules, "pelicanconf", raising=False)
    options = ["import", "x", "x.zip", "--territory", "Costa Chica", "--author", "Ana"]
    dry = CliRunner().invoke(publish.cli, [*options, "--dry-run"], catch_exceptions=False)
    assert "Would import 2 stories (1 photos); 0 already here." in dry.output
    assert not (mini_site.content / "stories/imported").exists()
    done = CliRunner().invoke(publish.cli, options, catch_exceptions=False)
    assert "Imported 2 stories (1 photos)" in done.output
    checked = CliRunner().invoke(publish.cli, ["check"], catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
