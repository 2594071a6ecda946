"""The ActivityPub documents the build writes, read back as files."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

import publish
from milpa.activitypub import (
    PUBLIC,
    ApUrls,
    Media,
    StoryPost,
    hashtag_name,
    paged_collection,
    story_object,
)
from milpa.discovery import webfinger_name
from milpa.keys import PRIVATE_KEY, PUBLIC_KEY
from milpa.state import DataStore, Follower
from milpa_site.build import BuildFailed

from .conftest import TEST_KEYS, MiniSite, photo_with_secrets, story

BASE = "https://stories.example.org"
URLS = ApUrls(BASE)
WHEN = datetime(2026, 5, 1, 10, tzinfo=UTC)


def post(**changes: Any) -> StoryPost:
    fields = dict(lang="quc", slug="ja", title="Ri ja'", url=f"{BASE}/stories/ja/",
                  attributed_to=URLS.actor("ixchel"), content="<p>Text</p>", published=WHEN,
                  updated=None, content_warning="", tags=(("land defence", f"{BASE}/tag/x/"),),
                  attachments=(Media(f"{BASE}/media/a.jpg", "image/jpeg", 1024, 683, "Maize",
                                     "LKO2?U%2Tw=w]~RBVZRi};RPxuwH"),),
                  audience=(URLS.followers("ixchel"),), summary="Short")
    return StoryPost(**{**fields, **changes})


def test_a_note_carries_what_mastodon_shows() -> None:
    note = story_object(post(), URLS)
    assert note["id"] == f"{BASE}/ap/objects/quc/ja" and note["type"] == "Note"
    assert note["contentMap"] == {"quc": "<p>Text</p>"} and note["content"] == "<p>Text</p>"
    assert note["to"] == [PUBLIC] and note["cc"] == [URLS.followers("ixchel")]
    assert "summary" not in note and note["sensitive"] is False
    assert note["tag"] == [{"type": "Hashtag", "name": "#LandDefence", "href": f"{BASE}/tag/x/"}]
    assert note["attachment"][0] == {
        "type": "Image", "mediaType": "image/jpeg", "url": f"{BASE}/media/a.jpg",
        "name": "Maize", "width": 1024, "height": 683,
        "blurhash": "LKO2?U%2Tw=w]~RBVZRi};RPxuwH"}
    assert note["replies"] == {"id": f"{BASE}/ap/objects/quc/ja#replies",
                              "type": "OrderedCollection", "totalItems": 0, "orderedItems": []}
    assert note["published"] == "2026-05-01T10:00:00+00:00"


def test_only_a_content_warning_goes_in_summary() -> None:
    warned = story_object(post(content_warning="Violence"), URLS)
    assert warned["summary"] == "Violence" and warned["sensitive"] is True
    article = story_object(post(), URLS, "Article")
    assert article["name"] == "Ri ja'" and "summary" not in article
    assert article["preview"]["type"] == "Note" and "Short" in article["preview"]["content"]


@pytest.mark.parametrize(("tag", "name"), [("agua", "#agua"), ("land defence", "#LandDefence"),
                                           ("maíz", "#maíz"), ("sierra-norte", "#SierraNorte")])
def test_hashtag_names(tag: str, name: str) -> None:
    assert hashtag_name(tag) == name


def test_outbox_pages_link_both_ways_newest_first() -> None:
    documents = paged_collection(URLS.outbox("s"), lambda n: URLS.outbox_page("s", n),
                                 list(range(45, 0, -1)), 20)
    collection, *pages = documents
    assert collection["totalItems"] == 45 and collection["type"] == "OrderedCollection"
    # Page 1 holds the oldest items; the collection starts at the newest page.
    assert collection["first"] == pages[2]["id"] and collection["last"] == pages[0]["id"]
    assert [p["orderedItems"] for p in pages] == [
        list(range(20, 0, -1)), list(range(40, 20, -1)), [45, 44, 43, 42, 41]]
    assert pages[2]["next"] == pages[1]["id"] and "prev" not in pages[2]
    assert pages[0]["prev"] == pages[1]["id"] and "next" not in pages[0]
    assert all(p["partOf"] == collection["id"] for p in pages)


def test_a_new_item_changes_the_newest_outbox_page_alone() -> None:
    def pages(count: int) -> list[dict[str, object]]:
        return paged_collection(URLS.outbox("s"), lambda n: URLS.outbox_page("s", n),
                                list(range(count, 0, -1)), 20)[1:]

    before, after = pages(45), pages(46)
    assert before[:2] == after[:2] and before[2] != after[2]
    # The 61st item starts a page: the page before it gains its "prev" link, no more.
    before, after = pages(60), pages(61)
    assert before[:2] == after[:2] and len(after) == 4
    assert after[2] == {**before[2], "prev": after[3]["id"]}


@pytest.mark.parametrize(("resource", "name"), [
    ("acct:stories@stories.example.org", "stories"),
    ("acct%3Astories%40stories.example.org", "stories"),
    ("acct:Stories@STORIES.example.org", "stories"),
    (f"{BASE}/ap/actors/sierra_norte", "sierra_norte"),
    ("acct:stories@elsewhere.example", None),
    ("https://elsewhere.example/ap/actors/stories", None),
    ("mailto:stories@stories.example.org", None),
])
def test_webfinger_resources(resource: str, name: str | None) -> None:
    assert webfinger_name(resource, BASE) == name


def read(site: MiniSite, path: str) -> dict[str, Any]:
    return json.loads((site.output / path).read_text(encoding="utf-8"))


@pytest.fixture
def site(mini_site: MiniSite) -> MiniSite:
    photo_with_secrets(mini_site.content / "photos/field.jpg", (1200, 800))
    photo_with_secrets(mini_site.content / "photos/avatar.jpg", (600, 600))
    mini_site.add("stories/a.md", story(
        "Agua", "Before.\n\n![A spring](photos/field.jpg)\n\n<script>alert(1)</script>",
        Authors="Ixchel Tzoc", Tags="agua", Lang="quc", Pinned="true", Slug="agua"))
    mini_site.add("stories/b.md", story(
        "Roads", "Closed.", Authors="Tomás Xolo", Territory="Costa Chica", Lang="en",
        Content_Warning="Police violence", Date="2026-05-02", Slug="roads"))
    mini_site.add("stories/b-es.md", story(
        "Caminos", "Cerrados.", Authors="Tomás Xolo", Territory="Costa Chica",
        Date="2026-05-02", Slug="roads", Translation="true"))
    store = DataStore(mini_site.base / "data")
    for number in (1, 2):
        store.record_follower("stories", Follower(
            f"https://s{number}.example/u/{number}", f"https://s{number}.example/inbox",
            None, "2026-05-01T00:00:00+00:00"))
    return mini_site


def test_actors_for_the_site_each_author_and_each_territory(site: MiniSite) -> None:
    site.build(SITEURL=BASE, MILPA_ACTOR_ICON="photos/avatar.jpg",
               MILPA_ACTOR_LINKS=[("Website", "https://example.org/")],
               MILPA_ACTOR_ALSO_KNOWN_AS=["https://old.example/users/stories"])
    names = sorted(p.name for p in (site.output / "ap/actors").iterdir())
    assert names == ["costa_chica", "ixchel_tzoc", "sierra_norte", "stories", "tomas_xolo"]
    actor = read(site, "ap/actors/stories")
    assert actor["id"] == URLS.actor("stories") and actor["preferredUsername"] == "stories"
    assert actor["type"] == "Organization" and actor["url"] == f"{BASE}/"
    assert actor["publicKey"] == {"id": f"{URLS.actor('stories')}#main-key",
                                  "owner": actor["id"],
                                  "publicKeyPem": (TEST_KEYS / PUBLIC_KEY).read_text()}
    assert actor["inbox"] == URLS.inbox("stories")
    assert actor["endpoints"] == {"sharedInbox": f"{BASE}/ap/inbox"}
    for key in ("outbox", "followers", "following", "featured"):
        assert (site.output / URLS.path_of(actor[key])).is_file(), key
    assert actor["icon"]["mediaType"] == "image/jpeg"
    assert (site.output / actor["icon"]["url"].removeprefix(f"{BASE}/")).is_file()
    assert actor["attachment"][0]["type"] == "PropertyValue"
    assert 'rel="me' in actor["attachment"][0]["value"]
    assert actor["alsoKnownAs"] == ["https://old.example/users/stories"]
    assert actor["discoverable"] is True and actor["indexable"] is True
    assert actor["manuallyApprovesFollowers"] is False
    assert "https://w3id.org/security/v1" in actor["@context"]
    assert read(site, "ap/actors/ixchel_tzoc")["type"] == "Person"
    assert read(site, "ap/actors/costa_chica")["type"] == "Group"
    followers = read(site, "ap/followers/stories")
    assert followers["totalItems"] == 2 and "orderedItems" not in followers
    assert "first" not in followers
    assert read(site, "ap/followers/costa_chica")["totalItems"] == 0


def test_stories_are_written_by_authors_and_shared_by_site_and_territory(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    note = read(site, "ap/objects/quc/agua")
    assert note["attributedTo"] == URLS.actor("ixchel_tzoc")
    assert note["cc"] == [URLS.followers(n) for n in ("ixchel_tzoc", "stories", "sierra_norte")]
    assert note["content"].startswith("<p><strong>Agua</strong></p><p>Before.</p>")
    assert "<script" not in note["content"] and "alert" not in note["content"]
    assert "<img" not in note["content"] and "<picture" not in note["content"]
    assert note["attachment"][0]["name"] == "A spring"
    assert note["attachment"][0]["url"].startswith(f"{BASE}/media/field-")
    assert note["url"] == f"{BASE}/stories/agua/"
    assert not (site.output / "ap/creates").exists() and not (site.output / "ap/replies").exists()
    warned = read(site, "ap/objects/en/roads")
    assert warned["summary"] == "Police violence" and warned["sensitive"] is True
    assert read(site, "ap/objects/es/roads")["contentMap"].keys() == {"es"}

    def outbox_items(name: str) -> list[dict[str, Any]]:
        outbox = read(site, f"ap/outboxes/{name}")
        return read(site, URLS.path_of(outbox["first"]))["orderedItems"]

    author = outbox_items("tomas_xolo")
    assert [(i["type"], i["object"]["id"]) for i in author] == [
        ("Create", URLS.story("en", "roads")), ("Create", URLS.story("es", "roads"))]
    site_items = outbox_items("stories")
    assert [i["type"] for i in site_items] == ["Announce"] * 3
    assert site_items[-1]["object"] == URLS.story("quc", "agua")
    assert {i["object"] for i in outbox_items("costa_chica")} == {
        URLS.story("en", "roads"), URLS.story("es", "roads")}
    # A share is made from the story, not its document: it says what the document says.
    for share in site_items + outbox_items("costa_chica"):
        shared = read(site, URLS.path_of(share["object"]))
        assert share["published"] == shared["published"]
        assert shared["attributedTo"] in share["cc"]
    featured = read(site, "ap/featured/stories")
    assert featured["orderedItems"] == [URLS.story("quc", "agua")]
    assert read(site, "ap/featured/tomas_xolo")["totalItems"] == 0


def test_families_can_be_turned_off(site: MiniSite) -> None:
    site.build(SITEURL=BASE, MILPA_AUTHOR_ACTORS=False, MILPA_TERRITORY_ACTORS=False,
               MILPA_OBJECT_TYPE="Article")
    assert [p.name for p in (site.output / "ap/actors").iterdir()] == ["stories"]
    article = read(site, "ap/objects/quc/agua")
    assert article["type"] == "Article" and article["attributedTo"] == URLS.actor("stories")
    outbox = read(site, URLS.path_of(read(site, "ap/outboxes/stories")["first"]))
    assert {item["type"] for item in outbox["orderedItems"]} == {"Create"}


def test_discovery_documents(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    jrd = read(site, ".well-known/jrd/sierra_norte.json")
    assert jrd["subject"] == "acct:sierra_norte@stories.example.org"
    assert {"rel": "self", "type": "application/activity+json",
            "href": URLS.actor("sierra_norte")} in jrd["links"]
    assert {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
            "href": f"{BASE}/territory/sierra-norte/"} in jrd["links"]
    host_meta = (site.output / ".well-known/host-meta").read_text()
    assert f'template="{BASE}/.well-known/webfinger?resource={{uri}}"' in host_meta
    links = read(site, ".well-known/nodeinfo")["links"]
    assert links == [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                      "href": f"{BASE}/nodeinfo/2.1"}]
    nodeinfo = read(site, "nodeinfo/2.1")
    assert nodeinfo["protocols"] == ["activitypub"] and nodeinfo["openRegistrations"] is False
    assert nodeinfo["usage"] == {"users": {"total": 5}, "localPosts": 3}
    assert nodeinfo["software"]["name"] == "milpa"


def test_pages_link_their_json(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    for path, expected in (("stories/agua/index.html", URLS.story("quc", "agua")),
                           ("stories/roads/es/index.html", URLS.story("es", "roads")),
                           ("index.html", URLS.actor("stories")),
                           ("author/tomas-xolo/index.html", URLS.actor("tomas_xolo")),
                           ("territory/costa-chica/index.html", URLS.actor("costa_chica"))):
        page = BeautifulSoup(site.read(path), "html.parser")
        link = page.find("link", rel="alternate", type="application/activity+json")
        assert link["href"] == expected, path


def test_keys_command_makes_a_private_key_only_its_owner_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "pelicanconf", raising=False)
    (tmp_path / "content").mkdir()  # keys may not live inside it (the default PATH is .)
    (tmp_path / "pelicanconf.py").write_text("PATH = 'content'\nMILPA_KEYS_PATH = 'secrets'\n")
    made = CliRunner().invoke(publish.cli, ["keys"])
    assert made.exit_code == 0, made.output
    assert "Back up secrets/actor.private.pem" in made.output
    private = tmp_path / "secrets" / PRIVATE_KEY
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    before = private.read_bytes()
    again = CliRunner().invoke(publish.cli, ["keys"])
    assert again.exit_code == 1 and "--force" in again.output
    assert private.read_bytes() == before
    forced = CliRunner().invoke(publish.cli, ["keys", "--force"])
    assert forced.exit_code == 0 and private.read_bytes() != before
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_without_a_key_the_build_says_what_to_run(site: MiniSite, tmp_path: Path) -> None:
    with pytest.raises(BuildFailed) as failure:
        site.build(MILPA_KEYS_PATH=str(tmp_path / "none"))
    assert any("run `python publish.py keys`" in r for r in failure.value.reasons)


def test_no_private_key_material_is_published(site: MiniSite) -> None:
    site.build(SITEURL=BASE)
    private = (TEST_KEYS / PRIVATE_KEY).read_text()
    body = "".join(private.strip().splitlines()[1:-1])
    for path in site.output.rglob("*"):
        if path.is_file():
            data = path.read_text(encoding="utf-8", errors="ignore")
            assert "PRIVATE KEY" not in data, path
            assert body[:64] not in data.replace("\n", ""), path
