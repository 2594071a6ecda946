"""What `check` says is what the build does: one set of rules, through the CLI and Pelican."""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from click.testing import Result

import publish
from milpa.activitypub import OBJECT_CONTEXT, PUBLIC, ApUrls
from milpa.announce import LedgerEntry, plan_changes, returning_slug

from .conftest import ROOT, MiniSite, run, settings_file, story
from .test_announce import World, world  # noqa: F401 — the real-inbox fixture

PHOTO_WITHOUT_ALT = "![](photos/missing.jpg)"


def plain_pelican(site: MiniSite) -> subprocess.CompletedProcess[str]:
    """`pelican content -s pelicanconf.py`, as the README writes it, in its own process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py"],
                          cwd=site.base, env=env, capture_output=True, text=True, timeout=300)


def test_an_unknown_status_is_reported_by_check_with_its_line_and_left_out_by_build(
        site: MiniSite) -> None:
    site.add("stories/a.md", story("A", Status="publicado", Slug="a"))
    site.add("stories/b.md", story("B", Slug="b"))
    check = run("check")
    assert check.exit_code == 1
    assert ("content/stories/a.md:5: Status: 'publicado' is not one of published, draft, "
            "hidden") in check.output
    built = run("build")
    assert built.exit_code == 1
    assert "left out: content/stories/a.md:5: Status: 'publicado'" in built.output
    assert (site.output / "stories/b/index.html").is_file()
    assert not (site.output / "stories/a/index.html").exists()


def test_check_and_the_media_plugin_say_the_same_sentence(site: MiniSite) -> None:
    site.add("stories/a.md", story("A", body=PHOTO_WITHOUT_ALT, Slug="a"))
    said_by_check = [line for line in run("check").output.splitlines() if "alt text" in line]
    built = run("build")
    said_by_build = [line.removeprefix("left out: ") for line in built.output.splitlines()
                     if "alt text" in line]
    assert said_by_check and set(said_by_check) <= set(said_by_build)


def test_plain_pelican_refuses_what_the_build_refuses_and_writes_nothing(site: MiniSite) -> None:
    site.add("stories/a.md", story("A", body=PHOTO_WITHOUT_ALT, Slug="a", Colour="red"))
    refused = plain_pelican(site)
    print(refused.stdout, refused.stderr)
    assert refused.returncode == 1
    assert "unknown field 'colour'" in refused.stdout + refused.stderr
    assert not (site.output / "stories/a/index.html").exists()
    site.add("stories/a.md", story("A", Slug="a"))
    built = plain_pelican(site)
    print(built.stdout, built.stderr)
    assert built.returncode == 0
    assert (site.output / "stories/a/index.html").is_file()


def test_expired_and_scheduled_stories_are_information_not_errors(site: MiniSite) -> None:
    site.add("stories/old.md", story("Old", Slug="old", Expires="1d"))
    site.add("stories/later.md", story("Later", Slug="later", Date="2026-07-01 09:00"))
    site.add("stories/now.md", story("Now", Slug="now"))
    check = run("check")
    assert check.exit_code == 0
    assert "content/stories/old.md:6: expired on 2026-05-02" in check.output
    assert "content/stories/later.md:2: scheduled for 2026-07-01 09:00" in check.output
    assert run("build").exit_code == 0
    assert (site.output / "stories/now/index.html").is_file()
    for gone in ("later", "old"):
        assert not list(site.output.rglob(f"*{gone}*")), gone


def test_a_scheduled_story_is_published_by_the_first_build_after_its_date(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/later.md", story("Later", Slug="later", Date="2026-07-01 09:00"))
    mini_site.build()
    assert not (mini_site.output / "stories/later/index.html").exists()
    assert "later" not in (mini_site.output / "index.html").read_text()
    mini_site.build(MILPA_NOW="2026-07-01T09:01:00-06:00")
    assert (mini_site.output / "stories/later/index.html").is_file()


def test_new_writes_a_draft_in_the_site_language_that_is_neither_built_nor_checked_wrong(
        site: MiniSite) -> None:
    (site.base / "pelicanconf.py").write_text(settings_file(DEFAULT_LANG="es"))
    made = run("new", "Agua", "--territory", "X", "--lang", "es")
    assert made.exit_code == 0
    text = Path(made.stdout.strip()).read_text()
    assert "Status: draft" in text.splitlines() and "Escribe aquí la historia" in text
    assert "Status: published" in made.stderr
    assert run("check").exit_code == 0
    assert run("build").output.startswith("Built 0 stories")
    assert not (site.output / "stories/agua/index.html").exists()


def publish_site() -> Result:
    result = run("publish", "--no-ping")
    assert result.exit_code == 0
    return result


def served(site: World, object_id: str) -> dict[str, Any] | None:
    path = site.mini.output / object_id.removeprefix(site.site.base + "/")
    return json.loads(path.read_text()) if path.is_file() else None


def test_a_story_that_comes_back_gets_an_id_that_was_never_deleted(
        world: World) -> None:  # noqa: F811 — the fixture imported above
    world.announce()  # the first run records what is already there
    path = world.mini.add("stories/notice.md", story("Notice", Authors="Ixchel Tzoc",
                                                     Slug="notice", Status="published"))
    publish_site()
    first = world.writers.received[-1][0]
    assert first["type"] == "Create"
    ids = [first["object"]["id"]]
    for generation in (1, 2):
        path.write_text(path.read_text().replace("Status: published", "Status: draft"))
        publish_site()
        deleted = world.writers.received[-1][0]
        assert deleted["type"] == "Delete" and deleted["object"]["id"] == ids[-1]
        path.write_text(path.read_text().replace("Status: draft", "Status: published"))
        publish_site()
        back = world.writers.received[-1][0]
        assert back["type"] == "Create"
        assert back["object"]["id"] == f"{world.site.base}/ap/objects/es/notice.{generation}"
        assert back["object"]["id"] not in ids and back["id"] != first["id"]
        assert served(world, back["object"]["id"]) == {**back["object"],
                                                        "@context": back["@context"]}
        ids.append(back["object"]["id"])
    assert all(served(world, old) is None for old in ids[:-1])


def test_the_served_object_says_when_it_was_edited_as_the_update_did(
        world: World) -> None:  # noqa: F811 — the fixture imported above
    world.announce()
    path = world.mini.add("stories/notice.md", story("Notice", Authors="Ixchel Tzoc",
                                                     Slug="notice"))
    publish_site()
    object_id = world.writers.received[-1][0]["object"]["id"]
    assert "updated" not in served(world, object_id)
    path.write_text(path.read_text().replace("Text.", "Text, corrected."))
    publish_site()
    update = world.writers.received[-1][0]
    assert update["type"] == "Update"
    assert served(world, object_id)["updated"] == update["object"]["updated"]
    sent = len(world.writers.received)
    publish_site()  # nothing changed since: nothing is sent, the edit time stays
    assert len(world.writers.received) == sent
    assert served(world, object_id)["updated"] == update["object"]["updated"]


def test_announce_never_creates_again_an_id_it_deleted() -> None:
    urls = ApUrls("https://milpa.example")
    story_document = {"@context": OBJECT_CONTEXT, "id": urls.story("es", "notice"),
                      "type": "Note", "attributedTo": urls.actor("site"),
                      "published": "2026-06-01T05:00:00-06:00", "to": [PUBLIC],
                      "cc": [urls.followers("site")], "content": "<p>Text.</p>"}
    deleted = LedgerEntry("es/notice", story_document["id"], "old", "deleted", "Note", "site",
                          ("site",))
    plan = plan_changes({"es/notice": story_document}, {}, {"es/notice": deleted}, urls,
                        "2026-06-02T00:00:00+00:00")
    assert plan.changes == [] and plan.quiet == []
    assert returning_slug("es", "notice", {"es/notice": asdict(deleted)}) == "notice.1"


def test_a_warning_stays_a_warning_and_a_tag_has_one_name(mini_site: MiniSite) -> None:
    mini_site.add("stories/raid.md", story("Raid", Slug="raid", Content_Warning="Police violence",
                                           Tags="land defence"))
    mini_site.add("stories/seeds.md", story("Seeds", Slug="seeds", Tags="land defence"))
    assert mini_site.build(MILPA_OBJECT_TYPE="Article").left_out == ()
    objects = mini_site.output / "ap/objects/es"
    raid = json.loads((objects / "raid").read_text())
    seeds = json.loads((objects / "seeds").read_text())
    assert (raid["type"], raid["summary"], raid["sensitive"]) == ("Note", "Police violence", True)
    assert seeds["type"] == "Article" and "summary" not in seeds
    assert raid["tag"][0]["name"] == seeds["tag"][0]["name"] == "#LandDefence"
    page = mini_site.read("stories/seeds/index.html")
    assert "LandDefence" in page and "land defence" not in page


# Straight to loopback, whatever proxy the environment names.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_for_port(port: int) -> None:
    """Until the server accepts connections, for at most ten seconds."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_prints_the_handle_to_follow_and_compresses_text(site: MiniSite) -> None:
    site.add("stories/a.md", story("A", Slug="a", Status="published"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    server = subprocess.Popen([sys.executable, str(ROOT / "publish.py"), "serve", "--port",
                               str(port)], cwd=site.base, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        said = [server.stdout.readline() for _ in range(3)]
        print(said)
        assert f"Follow @stories@127.0.0.1:{port} from a Fediverse server" in "".join(said)
        base = f"http://127.0.0.1:{port}"
        wait_for_port(port)
        gzipped = urllib.request.Request(f"{base}/stories/a/",
                                         headers={"Accept-Encoding": "gzip"})
        with DIRECT.open(gzipped, timeout=10) as page:
            assert page.headers["Content-Encoding"] == "gzip"
            squeezed = page.read()
        with DIRECT.open(f"{base}/stories/a/", timeout=10) as plain:
            assert plain.headers["Content-Encoding"] is None
            raw = plain.read()
        assert gzip.decompress(squeezed) == raw and len(squeezed) * 2 < len(raw)
        print(f"story page: {len(raw)} bytes raw, {len(squeezed)} gzip")
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()


def test_publish_delivers_to_a_peer_on_this_machine_during_a_local_preview(
        world: World) -> None:  # noqa: F811 — the fixture imported above
    settings = world.mini.base / "pelicanconf.py"
    settings.write_text(settings.read_text().replace("MILPA_INBOX_ALLOW_LOOPBACK = True",
                                                     "MILPA_INBOX_ALLOW_LOOPBACK = False"))
    world.announce()
    world.mini.add("stories/notice.md", story("Notice", Authors="Ixchel Tzoc", Slug="notice"))
    publish_site()
    assert world.writers.received and world.writers.received[-1][0]["type"] == "Create"


def test_import_x_takes_the_author_from_the_archive(site: MiniSite) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("data/account.js", "window.YTD.account.part0 = " + json.dumps(
            [{"account": {"accountId": "42", "username": "ana",
                          "accountDisplayName": "Ana Pérez, radio\nStatus: draft"}}]))
        bundle.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + json.dumps(
            [{"tweet": {"id_str": "1", "full_text": "La asamblea decidió.", "lang": "es",
                        "created_at": "Wed Oct 15 20:19:24 +0000 2025"}}]))
    (site.base / "x.zip").write_bytes(buffer.getvalue())
    imported = run("import", "x", "x.zip", "--territory", "Costa Chica")
    assert imported.exit_code == 0
    text = next((site.content / "stories/imported").glob("*.md")).read_text()
    assert "Authors: Ana Pérez radio Status: draft" in text.splitlines()
    assert "Status: draft" not in text.splitlines()
    assert run("import", "mastodon", "x.zip", "--territory", "T").exit_code == 2


def test_the_main_help_cuts_no_description() -> None:
    listed = run("--help").output.split("Commands:", 1)[1]
    assert "..." not in listed and "…" not in listed
    assert len(listed.strip().splitlines()) == len(publish.cli.commands)
