"""Stored input is data: replies, blocks, CSV cells and terminal lines never become code.

Hostile replies are stored as real files and built by real Pelican; the inbox receives
real signed activities over loopback; `moderate` and `followers` run through CliRunner.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import publish
from milpa.blocks import is_blocked, normal_actor, normal_blocks, normal_domain
from milpa.csvfiles import followers_csv, read_domain_blocks
from milpa.replies import Reply, reply_from_note, reply_record, story_key
from milpa.sanitize import plain_text, reply_html, web_url
from milpa.state import DataStore, Follower, FollowRequest
from milpa_inbox.web import CONTENT_SECURITY_POLICY, site_app

from .conftest import ROOT, MiniSite, settings_file, story
from .servers import serving
from .test_inbox import Peer, Site, post_signed, reply_note, run

BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# Plain text and links.

def test_names_lose_bidi_and_control_characters_and_are_capped() -> None:
    name = "\u202eevil\u2066 \x1b[31mred\x07\u200f\u061c \x85next\nline" + "x" * 500
    text = plain_text(name, 100)
    assert not BIDI.search(text) and not CONTROL.search(text)
    assert text.startswith("evil [31mred next line") and len(text) == 100


@given(st.text(max_size=300))
def test_plain_text_never_keeps_a_control_or_bidi_character(value: str) -> None:
    text = plain_text(value, 120)
    assert len(text) <= 120 and not BIDI.search(text)
    assert not [c for c in text if unicodedata.category(c) == "Cc"]


@given(st.text(max_size=80))
def test_a_link_is_http_or_nothing(value: str) -> None:
    for candidate in (value, f"https://a.example/{value}", f"{value}:x"):
        url = web_url(candidate)
        assert url is None or url.lower().startswith(("http://", "https://"))


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./:#-é", max_size=40))
def test_normal_actor_ids_stay_as_they_are(tail: str) -> None:
    actor = normal_actor(f"https://Evil.Example./{tail}")
    assert actor is None or normal_actor(actor) == actor


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)",
                                 " javascript:alert(1)", "data:text/html,<script>",
                                 "vbscript:x", "//evil.example/x", "/relative", "https://",
                                 "http://exa mple.org/", "https://a.example/\u202e", 7, None])
def test_only_http_urls_are_links(url: Any) -> None:
    assert web_url(url) is None


def test_reply_html_drops_bidi_controls_and_scripts() -> None:
    html = reply_html('<p>\u202eokay</p><a href="javascript:x">a</a><script>x()</script>')
    assert not BIDI.search(html) and "javascript" not in html and "script" not in html


# Story keys, dates and records.

@pytest.mark.parametrize("key", ["../x", "es/..", "/.dockerenv", "es/.hidden", "es//x",
                                 "es/a/b", "es/" + "a" * 300, "es/" + "é" * 150, "e/agua",
                                 "es\\agua", ""])
def test_story_keys_outside_lang_slug_are_refused(key: str) -> None:
    assert story_key(key) is None


def test_a_stored_reply_with_a_bad_date_or_link_is_refused_or_made_safe() -> None:
    good = {"id": "https://a.example/n/1", "story": "es/agua", "actor": "https://a.example/u",
            "author_name": "\u202eA", "author_handle": "@a@a.example",
            "author_url": "javascript:alert(1)", "url": "data:text/html,x",
            "published": "2026-06-01T10:00:00-05:00", "content": "<p>x</p>" * 10_000,
            "status": "approved"}
    reply = reply_record(good)
    assert (reply.author_name, reply.author_url, reply.url) == ("A", "", "")
    assert reply.published == "2026-06-01T15:00:00+00:00" and len(reply.content) == 20_000
    for field, value in (("published", "soon"), ("story", "../../etc"), ("id", "javascript:x"),
                         ("status", "shown"), ("content", None)):
        with pytest.raises(ValueError):
            reply_record({**good, field: value})


def test_a_note_with_a_bad_date_gets_the_time_it_arrived() -> None:
    actor = "https://a.example/users/a"
    note = {"id": f"{actor}/notes/1", "attributedTo": actor, "content": "<p>x</p>",
            "published": "soon", "url": "javascript:alert(1)"}
    author = {"name": "\u202e" + "N" * 300, "preferredUsername": "a\x1b[2J",
              "url": "javascript:alert(2)"}
    reply = reply_from_note(note, author, actor, "es/agua", "2026-06-01T12:00:00+00:00")
    assert reply is not None
    assert (reply.published, reply.url, reply.author_url) == (
        "2026-06-01T12:00:00+00:00", note["id"], actor)
    assert reply.author_name == "N" * 100 and reply.author_handle == "@a[2J@a.example"
    elsewhere = {**note, "id": "https://b.example/notes/1"}  # not on the actor's server
    assert reply_from_note(elsewhere, author, actor, "es/agua", "") is None


# A build with hostile replies already stored.

def write_reply(data: Path, key: str, record: dict[str, Any] | str) -> Path:
    """A reply file as the inbox lays them out (or, for a string, a broken one)."""
    name = hashlib.sha256(record["id"].encode()).hexdigest()[:32] \
        if isinstance(record, dict) else "broken"
    path = data / "replies" / key / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record) if isinstance(record, dict) else record)
    return path


def hostile(number: int, **fields: Any) -> dict[str, Any]:
    actor = f"https://evil.example/users/{number}"
    return {"id": f"{actor}/notes/{number}", "story": "es/agua", "actor": actor,
            "author_name": f"Name{number}", "author_handle": f"@u{number}@evil.example",
            "author_url": actor, "url": f"{actor}/notes/{number}",
            "published": "2026-06-01T10:00:00+00:00", "content": f"<p>Reply {number}</p>",
            "status": "approved", **fields}


def test_a_build_survives_hostile_stored_replies(mini_site: MiniSite,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    data = mini_site.base / "data"
    write_reply(data, "es/agua", hostile(1, url="javascript:alert(1)",
                                         author_url="javascript:alert(2)"))
    write_reply(data, "es/agua", hostile(2, author_name="\u202eoiranimda\u202c \u2066x\u2069",
                                         author_handle="@\u200fu2@evil.example"))
    soon = write_reply(data, "es/agua", hostile(3, published="soon"))
    write_reply(data, "es/agua", hostile(4, content="<p>" + "big " * 100_000 + "</p>"))
    write_reply(data, "es/agua", hostile(5, content="<p>\u202etxet</p><a href='javascript:x'>"
                                                    "go</a><img src=x onerror=alert(1)>"))
    broken = write_reply(data, "es/agua", "{not json")
    moved = write_reply(data, "es/agua", hostile(6, story="es/otra"))
    with caplog.at_level(logging.WARNING):
        mini_site.build()
    page = mini_site.read("stories/agua/index.html")
    assert "javascript:" not in page.lower() and not BIDI.search(page)
    assert "onerror" not in page and "Reply 1" in page and "txet" in page
    assert "oiranimda" in page and "big big" in page and "Reply 3" not in page
    assert len(re.findall(r'<a href="https://evil\.example', page)) >= 4  # the good links stay
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for path in (soon, broken, moved):
        assert str(path) in warned
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_story_that_came_back_shows_the_replies_to_each_of_its_ids(
        mini_site: MiniSite) -> None:
    """A story deleted and published again takes a new id (SLUG.1): replies to either show."""
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    data = mini_site.base / "data"
    write_reply(data, "es/agua", hostile(1))
    write_reply(data, "es/agua.1", hostile(2, story="es/agua.1", status="approved"))
    write_reply(data, "es/aguas", hostile(3, story="es/aguas", status="approved"))
    mini_site.build()
    page = mini_site.read("stories/agua/index.html")
    assert "Reply 1" in page and "Reply 2" in page and "Reply 3" not in page


def test_the_theme_needs_nothing_the_content_security_policy_forbids(
        mini_site: MiniSite) -> None:
    """No script, no inline event handler, no image from elsewhere: a page works under the
    policy (no browser here to load it; this is what it would refuse). Inline styles are
    allowed by it ('unsafe-inline' for styles only)."""
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    write_reply(mini_site.base / "data", "es/agua", hostile(1))
    mini_site.build()
    for page in mini_site.output.rglob("*.html"):
        html = page.read_text()
        assert "<script" not in html and "javascript:" not in html, page
        assert not re.search(r"\son[a-z]+=", html), page
        for source in re.findall(r'<(?:img|video|source|audio)[^>]*\ssrcs?e?t?="([^"]+)"', html):
            assert source.startswith(("/", "data:", "http://127.0.0.1:8000/")), (page, source)


# The inbox, over loopback with real signatures.

@pytest.fixture
def peer() -> Iterator[Peer]:
    remote = Peer()
    with serving(remote.app):
        yield remote


def two_story_site(mini_site: MiniSite, **overrides: Any) -> Iterator[Site]:
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    mini_site.add("stories/b.md", story("Otra", Slug="otra"))
    with serving(lambda base: mini_site.served_with_inbox(base, **overrides)) as base:
        yield Site(base, DataStore(mini_site.base / "data"))


@pytest.fixture
def site(mini_site: MiniSite) -> Iterator[Site]:
    yield from two_story_site(mini_site)


def create(peer: Peer, number: int, note: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Create", "id": f"{note['id']}/create", "actor": peer.actor(number),
            "object": note}


def test_an_edited_approved_reply_is_held_again(site: Site, peer: Peer) -> None:
    note = reply_note(peer, 60, site, "<p>Good words</p>")
    assert run(post_signed(site.inbox(), create(peer, 60, note), peer.key(60))) == 202
    [held] = site.store.replies()
    site.store.save_reply(replace(held, status="approved"))
    same_words = {**create(peer, 60, {**note, "published": "2026-06-02T10:00:00Z"}),
                  "type": "Update"}
    assert run(post_signed(site.inbox(), same_words, peer.key(60))) == 202
    assert [r.status for r in site.store.replies()] == ["approved"]
    new_words = {**same_words, "object": {**note, "content": "<p>Bad words</p>"}}
    assert run(post_signed(site.inbox(), new_words, peer.key(60))) == 202
    [edited] = site.store.replies()
    assert (edited.status, edited.content) == ("held", "<p>Bad words</p>")
    site.store.save_reply(replace(edited, status="approved"))
    other_story = {**same_words, "object": {**note, "content": "<p>Bad words</p>",
                                            "inReplyTo": f"{site.base}/ap/objects/es/otra"}}
    assert run(post_signed(site.inbox(), other_story, peer.key(60))) == 202
    [moved] = site.store.replies()  # one file: the old story's is gone
    assert (moved.status, moved.story) == ("held", "es/otra")
    assert site.store.find_reply(note["id"]) == moved
    assert site.store.replies("es/agua") == []


def test_held_replies_are_capped_per_actor_and_in_all(mini_site: MiniSite, peer: Peer) -> None:
    for site in two_story_site(mini_site, MILPA_REPLIES_HELD_PER_ACTOR=3,
                               MILPA_REPLIES_HELD_TOTAL=5):
        for number in (61, 62, 63):
            for count in range(4):
                note = {**reply_note(peer, number, site, f"<p>{count}</p>"),
                        "id": f"{peer.actor(number)}/notes/{count}"}
                assert run(post_signed(site.inbox(), create(peer, number, note),
                                       peer.key(number))) == 202
        by_actor = [r.actor for r in site.store.replies()]
        assert (by_actor.count(peer.actor(61)), by_actor.count(peer.actor(62)),
                by_actor.count(peer.actor(63))) == (3, 2, 0)
        assert site.store.held_count() == 5
        # An approved one no longer counts: its actor may send another.
        first = site.store.replies()[0]
        site.store.save_reply(replace(first, status="approved"))
        note = {**reply_note(peer, 63, site, "<p>now</p>"), "id": f"{peer.actor(63)}/notes/9"}
        assert run(post_signed(site.inbox(), create(peer, 63, note), peer.key(63))) == 202
        assert site.store.held_count(peer.actor(63)) == 1


def test_replies_outside_our_stories_and_long_names_get_4xx_or_202_not_500(
        site: Site, peer: Peer) -> None:
    for target in ("//.dockerenv", "/../../../etc/hostname", "es/../../x", "es/" + "a" * 300,
                   "es/agua/../../x", "es/" + "ñ" * 150):
        note = {**reply_note(peer, 64, site, "<p>x</p>"),
                "inReplyTo": f"{site.base}/ap/objects/{target}"}
        assert run(post_signed(site.inbox(), create(peer, 64, note), peer.key(64))) == 202
    assert site.store.replies() == []
    note = reply_note(peer, 64, site, "<p>x</p>")
    for name in ("n" * 300, "ñ" * 150):
        long_name = f"{site.base}/ap/inboxes/{name}"
        assert run(post_signed(long_name, create(peer, 64, note), peer.key(64))) == 404


def test_a_hostile_reply_is_stored_as_data(site: Site, peer: Peer) -> None:
    note = {**reply_note(peer, 65, site, "<p>x</p>"), "published": "soon",
            "url": "javascript:alert(1)"}
    assert run(post_signed(site.inbox(), create(peer, 65, note), peer.key(65))) == 202
    [reply] = site.store.replies()
    assert reply.url == note["id"] and reply.published[:4] >= "2026"


def test_replies_are_found_by_index_not_by_reading_every_file(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    replies = [Reply(id=f"https://a.example/u/{n}/notes/1", story=f"es/s{n % 50}",
                     actor=f"https://a.example/u/{n}", author_name="a", author_handle="@a",
                     author_url="", url="", published="2026-06-01T10:00:00+00:00",
                     content="<p>" + "x" * 19_000 + "</p>", status="approved")
               for n in range(300)]
    for reply in replies:
        store.save_reply(reply)
    started = time.perf_counter()
    for reply in replies[::5]:
        assert store.find_reply(reply.id) == reply
        assert store.find_reply(store.short_id(reply)) == reply
    elapsed = time.perf_counter() - started
    # Reading every file for each lookup takes seconds here; the index, milliseconds.
    assert elapsed < 1, f"120 lookups among 300 replies took {elapsed:.1f} s"
    assert store.find_reply("*") is None and store.find_reply("../x") is None


def test_a_data_folder_from_before_the_index_is_indexed_once(tmp_path: Path) -> None:
    reply = reply_record(hostile(7, status="held"))
    write_reply(tmp_path, reply.story, hostile(7, status="held"))
    store = DataStore(tmp_path)
    assert store.find_reply(reply.id) == reply and store.held_count(reply.actor) == 1


# Blocks.

VARIANTS = ["Evil.Example", "evil.example.", "EVIL.EXAMPLE.", "evil.example:443",
            "https://evil.example/", "*.evil.example", "xn--vil-9la.example", "évil.example"]


@pytest.mark.parametrize("actor", [
    "https://evil.example/users/a", "https://EVIL.example./users/a",
    "https://evil.example:443/users/a/", "https://sub.Evil.Example/users/a#main-key",
    "http://evil.example:80/users/a"])
def test_a_blocked_domain_covers_every_spelling_of_it(actor: str) -> None:
    for entry in VARIANTS[:6]:
        assert is_blocked(actor, normal_blocks([entry], [])), (actor, entry)
    assert not is_blocked(actor, normal_blocks(["notevil.example", "example.evil"], []))


def test_idna_spellings_are_one_domain() -> None:
    assert normal_domain("évil.example") == normal_domain("XN--VIL-9LA.example.") == \
        "xn--vil-9la.example"
    assert is_blocked("https://sub.xn--vil-9la.example/u", normal_blocks(["Évil.example"], []))


@pytest.mark.parametrize("entry", [
    "https://evil.example/users/a/", "HTTPS://EVIL.EXAMPLE/users/a", "https://evil.example:443/users/a",
    "https://evil.example./users/a#main-key", "https://evil.example/users/a/#x"])
def test_a_blocked_actor_covers_every_spelling_of_it(entry: str) -> None:
    blocks = normal_blocks([], [entry])
    for actor in ("https://evil.example/users/a", "https://Evil.Example:443/users/a/",
                  "https://evil.example./users/a#main-key"):
        assert is_blocked(actor, blocks), (actor, entry)
    assert not is_blocked("https://evil.example/users/b", blocks)
    assert normal_actor("javascript:alert(1)") is None


@pytest.mark.parametrize("kind,entry", [
    ("domains", "127.0.0.1."), ("domains", "127.0.0.1:{port}"), ("domains", "http://127.0.0.1/"),
    ("actors", "HTTP://127.0.0.1.:{port}/users/70/"), ("actors", "{actor}#main-key"),
    ("actors", "{actor}/")])
def test_the_inbox_refuses_blocked_actors_however_the_block_is_spelled(
        site: Site, peer: Peer, kind: str, entry: str) -> None:
    port = peer.base.rsplit(":", 1)[1]
    entry = entry.format(port=port, actor=peer.actor(70))
    (site.store.folder / "blocks.json").parent.mkdir(parents=True, exist_ok=True)
    (site.store.folder / "blocks.json").write_text(json.dumps({kind: [entry]}))  # by hand
    follow = {"id": f"{peer.actor(70)}/follows/1", "type": "Follow", "actor": peer.actor(70),
              "object": site.actor()}
    assert run(post_signed(site.inbox(), follow, peer.key(70))) == 403
    assert site.store.follower_count("stories") == 0


def test_block_import_normalises_mastodon_exports(tmp_path: Path) -> None:
    export = tmp_path / "blocks.csv"
    export.write_text("#domain,#severity\nEvil.Example.,suspend\n*.bad.org,silence\n"
                      "https://worse.example:443/,suspend\n,\n#comment,x\n")
    assert read_domain_blocks(export) == ["evil.example", "bad.org", "worse.example"]


# Spreadsheets and terminals.

def test_followers_csv_cells_never_become_formulas(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    for number, acct in enumerate(['=HYPERLINK("https://evil.example","x")@evil.example',
                                   "+1@a.example", "-1@a.example", "@x@a.example",
                                   "\tx@a.example", "\rx@a.example", "fine@a.example"]):
        store.record_follower("stories", Follower(
            id=f"https://a.example/u/{number}", inbox="https://a.example/inbox",
            shared_inbox=None, since="2026-06-01T10:00:00+00:00", acct=acct))
    rows = list(csv.reader(io.StringIO(followers_csv(store))))[1:]
    accounts = sorted(row[0] for row in rows)
    assert all(a[0] not in "=+-@\t\r" for a in accounts), accounts
    assert "'=HYPERLINK(\"https://evil.example\",\"x\")@evil.example" in accounts
    assert "fine@a.example" in accounts


def test_moderate_prints_no_escape_sequences(mini_site: MiniSite,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = mini_site.base / "data"
    store = DataStore(data)
    sneaky = reply_record(hostile(
        8, status="held", author_handle="@u\x1b[8m@evil.example\u202e",
        content="<p>Nice\x1b[2J\x1b]0;title\x07 &#27;[1A&#x1b;[2K story\u202e</p>"))
    store.save_reply(sneaky)
    knocking = Follower(id="https://evil.example/u/\x1b[2J\u202e", inbox="https://evil.example/i",
                        shared_inbox=None, since="2026-06-01T10:00:00+00:00")
    store.save_follow_request(FollowRequest("stories", knocking, {"type": "Follow"}))
    (mini_site.base / "pelicanconf.py").write_text(settings_file(
        PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output),
        MILPA_DATA_PATH=str(data)))
    monkeypatch.chdir(mini_site.base)
    monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
    listed = CliRunner().invoke(publish.cli, ["moderate"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert "Nice" in listed.output and store.short_id(sneaky) in listed.output
    assert "https://evil.example/u/[2J" in listed.output
    assert not CONTROL.search(listed.output) and not BIDI.search(listed.output), \
        repr(listed.output)
    approved = CliRunner().invoke(publish.cli, ["moderate", "--approve",
                                                store.short_id(sneaky)])
    assert approved.exit_code == 0, approved.output
    assert not CONTROL.search(approved.output), repr(approved.output)
    assert store.find_reply(sneaky.id).status == "approved"


# Response headers.

def test_serve_sends_the_content_security_policy_and_nosniff(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", Slug="agua"))
    mini_site.build()

    async def headers(base: str, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.get(base + path) as response:
            return response.status, response.headers

    for allow, images in ((False, "img-src 'self' data:;"), (True, "img-src 'self' data: https:;")):
        with serving(site_app(mini_site.output, allow_remote_images=allow)) as base:
            for path in ("/", "/feeds/all.atom.xml", "/nowhere"):
                status, sent = run(headers(base, path))
                assert status in (200, 404)
                assert sent["X-Content-Type-Options"] == "nosniff"
                assert "script-src" not in sent["Content-Security-Policy"]
                assert sent["Content-Security-Policy"].startswith("default-src 'none';")
                assert images in sent["Content-Security-Policy"], path


@pytest.mark.parametrize("config", ["nginx.conf", "Caddyfile", "apache.htaccess", "_headers"])
def test_each_shipped_configuration_sends_the_policy(config: str) -> None:
    text = (ROOT / "deploy" / config).read_text()
    assert CONTENT_SECURITY_POLICY in text and "nosniff" in text
    if config == "nginx.conf":
        # nginx drops server-level add_header lines in a location that has its own.
        for location in re.findall(r"\nlocation[^{]*\{(.*?)\n\}", text, re.S):
            if "add_header" in location:
                assert f'add_header Content-Security-Policy "{CONTENT_SECURITY_POLICY}" always;' \
                    in location and "add_header X-Content-Type-Options nosniff always;" \
                    in location, location
