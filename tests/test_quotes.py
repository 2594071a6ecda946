"""Who may quote a story (FEP-044f): what the build declares and what the inbox answers.

Over loopback with real signatures: a peer (its requests signed by bovine's client, our
answers verified by bovine on its side) asks to quote stories; the answers arrive signed,
through the durable queue, and an Accept's stamp is fetched over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import publish
from milpa.activitypub import ACTIVITY_JSON, PUBLIC
from milpa.checks import check_site
from milpa.stamps import StampStore
from milpa.state import DataStore
from milpa_delivery.queue import DeliveryQueue
from milpa_site.build import BuildFailed
from milpa_stories.fields import read_story_fields

from .conftest import MiniSite, story
from .servers import serving
from .test_inbox import OTHER_PRIVATE, Peer, post_signed, run, wait_for

AUTHOR = "ixchel_tzoc"


@dataclass
class QuotingPeer:
    """The remote server, which also serves the posts that quote our stories."""

    peer: Peer
    posts: dict[str, dict[str, Any]]

    def post(self, number: int, post: int, quoted: str, by: int | None = None) -> str:
        """A post of actor ``by`` (default: ``number``) at actor ``number``'s address."""
        url = f"{self.peer.actor(number)}/statuses/{post}"
        self.posts[url] = {"@context": "https://www.w3.org/ns/activitystreams", "id": url,
                           "type": "Note", "attributedTo": self.peer.actor(by or number),
                           "content": "<p>Look</p>", "quote": quoted}
        return url

    def request(self, number: int, target: str, instrument: str) -> dict[str, Any]:
        return {"@context": ["https://www.w3.org/ns/activitystreams",
                             {"QuoteRequest": "https://w3id.org/fep/044f#QuoteRequest"}],
                "id": f"{instrument}/quote-request", "type": "QuoteRequest",
                "actor": self.peer.actor(number), "object": target, "instrument": instrument}

    def answers(self) -> list[tuple[dict[str, Any], str | None]]:
        """Answers to quote requests received, in order, with who signed each."""
        return [(body, signer) for body, signer in self.peer.received
                if isinstance(body.get("object"), dict)
                and body["object"].get("type") == "QuoteRequest"]


@pytest.fixture
def remote() -> Iterator[QuotingPeer]:
    quoting = QuotingPeer(Peer(), {})

    def app(base: str) -> web.Application:
        made = quoting.peer.app(base)

        async def post(request: web.Request) -> web.Response:
            found = quoting.posts.get(f"{base}{request.path}")
            if found is None:
                raise web.HTTPNotFound()
            return web.json_response(found, content_type=ACTIVITY_JSON)

        made.router.add_get("/users/{number}/statuses/{post}", post)
        return made

    with serving(app):
        yield quoting


@dataclass
class Site:
    base: str
    mini: MiniSite
    store: DataStore

    def story(self, slug: str = "agua") -> str:
        return f"{self.base}/ap/objects/es/{slug}"

    def actor(self, name: str = AUTHOR) -> str:
        return f"{self.base}/ap/actors/{name}"

    @property
    def inbox(self) -> str:
        return f"{self.base}/ap/inboxes/{AUTHOR}"

    def rebuild(self, **overrides: Any) -> None:
        self.mini.build(SITEURL=self.base, MILPA_INBOX_ALLOW_LOOPBACK=True, **overrides)

    def queued(self) -> int:
        return DeliveryQueue(self.store.folder).pending()

    def stamps(self) -> int:
        root = StampStore(self.store.folder).root
        return sum(1 for _ in root.rglob("*.json")) if root.is_dir() else 0


def agua(policy: str | None = None) -> str:
    fields = {"Quote_Policy": policy} if policy else {}
    return story("Agua", Authors="Ixchel Tzoc", Slug="agua", **fields)


def serve(mini_site: MiniSite, policy: str | None = None, **settings: Any) -> Iterator[Site]:
    mini_site.add("stories/agua.md", agua(policy))
    with serving(lambda base: mini_site.served_with_inbox(base, **settings)) as base:
        yield Site(base, mini_site, DataStore(mini_site.base / "data"))


@pytest.fixture
def site(mini_site: MiniSite) -> Iterator[Site]:
    yield from serve(mini_site)


@pytest.fixture
def public_site(mini_site: MiniSite) -> Iterator[Site]:
    yield from serve(mini_site, "public")


async def fetch(url: str) -> tuple[int, str, dict[str, Any] | None]:
    async with aiohttp.ClientSession() as http, http.get(
            url, headers={"Accept": ACTIVITY_JSON}) as response:
        body = await response.read()
        document = json.loads(body) if response.status == 200 else None
        return response.status, response.headers.get("Content-Type", ""), document


def ask(site: Site, remote: QuotingPeer, number: int, post: int = 1,
        target: str | None = None) -> tuple[int, dict[str, Any]]:
    """A signed QuoteRequest of ``number``'s post quoting ``target``: (status, request)."""
    target = target or site.story()
    request = remote.request(number, target, remote.post(number, post, target))
    return run(post_signed(site.inbox, request, remote.peer.key(number))), request


def test_the_built_story_says_who_may_quote_it(mini_site: MiniSite) -> None:
    mini_site.add("stories/agua.md", agua())
    mini_site.add("stories/maiz.md", story("Maíz", Slug="maiz", Quote_Policy="Public"))
    mini_site.add("stories/maiz-en.md", story("Corn", Slug="maiz", Lang="en",
                                              Translation="true"))
    mini_site.add("stories/luna.md", story("Luna", Authors="Ixchel Tzoc", Slug="luna",
                                           Quote_Policy="followers"))
    mini_site.add("stories/sol.md", story("Sol", Slug="sol", Quote_Policy="nobody"))
    mini_site.build()
    base = "http://127.0.0.1:8000"

    def policy(path: str) -> dict[str, Any]:
        document = json.loads(mini_site.read(f"ap/objects/{path}"))
        terms = document["@context"][1]
        assert terms["interactionPolicy"]["@id"] == "gts:interactionPolicy"
        assert terms["automaticApproval"] == {"@id": "gts:automaticApproval", "@type": "@id"}
        return document["interactionPolicy"]

    default = policy("es/agua")
    assert default["canQuote"] == {"automaticApproval": [f"{base}/ap/actors/{AUTHOR}"]}
    # Replies are kept (held for an editor) and likes and boosts counted, without asking.
    for kind in ("canReply", "canLike", "canAnnounce"):
        assert default[kind] == {"automaticApproval": [PUBLIC]}
    assert policy("es/maiz")["canQuote"]["automaticApproval"] == [PUBLIC]
    assert policy("en/maiz")["canQuote"]["automaticApproval"] == [PUBLIC]  # its original's
    assert policy("es/luna")["canQuote"]["automaticApproval"] == [
        f"{base}/ap/followers/{AUTHOR}"]
    assert policy("es/sol")["canQuote"]["automaticApproval"] == []
    # The Create that followers receive carries the same policy and its terms.
    pages = [json.loads(path.read_text())
             for path in (mini_site.output / "ap/outbox-pages").glob("*/*")]
    page, create = next((page, item) for page in pages for item in page["orderedItems"]
                        if item["type"] == "Create" and item["object"]["id"].endswith("/es/maiz"))
    assert create["object"]["interactionPolicy"]["canQuote"]["automaticApproval"] == [PUBLIC]
    assert "canQuote" in page["@context"][1]
    # The site's setting is the default of stories that name none.
    mini_site.build(MILPA_QUOTE_POLICY="public")
    assert policy("es/agua")["canQuote"]["automaticApproval"] == [PUBLIC]
    assert policy("es/sol")["canQuote"]["automaticApproval"] == []


def test_a_bad_quote_policy_is_reported_by_line_in_the_sites_language(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/agua.md", agua("everyone"))
    mini_site.add("stories/maiz.md", story("Maíz", Slug="maiz"))
    problems = check_site(mini_site.settings(DEFAULT_LANG="es"), lambda text: text.lower())
    [problem] = [p for p in problems if "Quote-Policy" in p.message]
    assert problem.line == 7 and problem.blocks_build  # its own line
    assert problem.message == ("Quote-Policy: 'everyone' no es ninguno de author, followers, "
                               "public, nobody (escribe 'Quote-Policy: followers')")
    summary = mini_site.build()
    [left_out] = summary.left_out
    assert "agua.md:7: Quote-Policy: 'everyone'" in left_out
    assert not (mini_site.output / "ap/objects/es/agua").exists()
    assert (mini_site.output / "ap/objects/es/maiz").is_file()


def test_a_bad_site_quote_policy_stops_the_build(mini_site: MiniSite) -> None:
    mini_site.add("stories/agua.md", agua())
    with pytest.raises(BuildFailed, match="MILPA_QUOTE_POLICY"):
        mini_site.build(MILPA_QUOTE_POLICY="anyone")


def test_by_default_a_quote_request_gets_a_signed_reject(site: Site,
                                                          remote: QuotingPeer) -> None:
    status, request = ask(site, remote, 1)
    assert status == 202
    wait_for(lambda: remote.answers())
    [(reject, signer)] = remote.answers()
    assert reject["type"] == "Reject" and reject["actor"] == site.actor()
    assert signer == site.actor()  # verified by bovine on the peer's side
    assert reject["object"] == {"id": request["id"], "type": "QuoteRequest",
                                "actor": remote.peer.actor(1), "object": site.story(),
                                "instrument": request["instrument"]}
    assert "result" not in reject
    assert site.stamps() == 0
    wait_for(lambda: site.queued() == 0)  # delivered, so gone from the queue


def test_an_allowed_quote_gets_an_accept_whose_stamp_is_served_while_allowed(
        public_site: Site, remote: QuotingPeer) -> None:
    site = public_site
    status, request = ask(site, remote, 2)
    assert status == 202
    wait_for(lambda: remote.answers())
    [(accept, signer)] = remote.answers()
    assert (accept["type"], accept["actor"], signer) == ("Accept", site.actor(), site.actor())
    assert accept["object"]["id"] == request["id"]
    status, content_type, stamp = run(fetch(accept["result"]))
    assert (status, content_type) == (200, ACTIVITY_JSON)
    assert stamp == {
        "@context": stamp["@context"], "id": accept["result"], "type": "QuoteAuthorization",
        "attributedTo": site.actor(), "interactingObject": request["instrument"],
        "interactionTarget": site.story()}
    assert stamp["@context"][1]["QuoteAuthorization"] == \
        "https://w3id.org/fep/044f#QuoteAuthorization"
    # Asking again for the same quote gives the same stamp, kept once.
    assert run(post_signed(site.inbox, {**request, "id": request["id"] + "/again"},
                           remote.peer.key(2))) == 202
    wait_for(lambda: len(remote.answers()) == 2)
    assert remote.answers()[1][0]["result"] == accept["result"]
    assert site.stamps() == 1
    # The story now allows its author only: the stamp is no longer served.
    site.mini.add("stories/agua.md", agua("author"))
    site.rebuild()
    assert run(fetch(accept["result"]))[0] == 404
    # Public again: served again; the story gone: not served.
    site.mini.add("stories/agua.md", agua("public"))
    site.rebuild()
    assert run(fetch(accept["result"]))[0] == 200
    (site.mini.content / "stories/agua.md").unlink()
    site.mini.add("stories/otra.md", story("Otra", Slug="otra"))
    site.rebuild()
    assert run(fetch(accept["result"]))[0] == 404
    assert run(fetch(f"{site.base}/ap/stamps/{'0' * 32}/{'1' * 32}"))[0] == 404
    assert run(fetch(f"{site.base}/ap/stamps/..%2F..%2Fkeys/x"))[0] == 404


def test_announce_withdraws_stamps_their_stories_no_longer_allow(
        public_site: Site, remote: QuotingPeer, capsys: pytest.CaptureFixture[str]) -> None:
    site = public_site
    settings = site.mini.settings(SITEURL=site.base, MILPA_INBOX_ALLOW_LOOPBACK=True)
    assert ask(site, remote, 12)[0] == 202
    wait_for(lambda: remote.answers())
    stamp = remote.answers()[0][0]["result"]
    publish._announce(settings, dry_run=False, backfill=0)
    assert site.stamps() == 1  # still allowed: nothing withdrawn
    site.mini.add("stories/agua.md", agua("author"))
    site.rebuild()
    publish._announce(settings, dry_run=True, backfill=0)
    assert "Would withdraw 1 quote approvals" in capsys.readouterr().out
    assert site.stamps() == 1
    publish._announce(settings, dry_run=False, backfill=0)
    deletes = [(body, signer) for body, signer in remote.peer.received
               if body.get("type") == "Delete"]
    assert deletes == [({"@context": "https://www.w3.org/ns/activitystreams",
                         "id": f"{stamp}#delete", "type": "Delete", "actor": site.actor(),
                         "to": [PUBLIC], "object": stamp}, site.actor())]
    assert remote.peer.paths[-1] == "/users/12/inbox"
    assert site.stamps() == 0 and site.queued() == 0
    publish._announce(settings, dry_run=False, backfill=0)  # once only
    assert len([body for body, _ in remote.peer.received if body.get("type") == "Delete"]) == 1


def test_the_site_setting_allows_quotes_too(mini_site: MiniSite,
                                            remote: QuotingPeer) -> None:
    for site in serve(mini_site, MILPA_QUOTE_POLICY="public"):
        assert ask(site, remote, 3)[0] == 202
        wait_for(lambda: remote.answers())
        assert remote.answers()[0][0]["type"] == "Accept"


def test_followers_of_the_author_may_quote_and_others_may_not(
        mini_site: MiniSite, remote: QuotingPeer) -> None:
    for site in serve(mini_site, "followers"):
        assert ask(site, remote, 4)[0] == 202
        wait_for(lambda: remote.answers())
        assert remote.answers()[0][0]["type"] == "Reject"
        follow = {"type": "Follow", "id": f"{remote.peer.actor(4)}/follow",
                  "actor": remote.peer.actor(4), "object": site.actor()}
        assert run(post_signed(site.inbox, follow, remote.peer.key(4))) == 202
        assert ask(site, remote, 4, post=2)[0] == 202
        wait_for(lambda: len(remote.answers()) == 2)
        accept = remote.answers()[1][0]
        assert accept["type"] == "Accept" and accept["object"]["instrument"].endswith(
            "/statuses/2")
        # Following the site actor is not following the story's author.
        other = {**follow, "id": f"{remote.peer.actor(5)}/follow", "actor": remote.peer.actor(5),
                 "object": site.actor("stories")}
        assert run(post_signed(site.inbox, other, remote.peer.key(5))) == 202
        assert ask(site, remote, 5)[0] == 202
        wait_for(lambda: len(remote.answers()) == 3)
        assert remote.answers()[2][0]["type"] == "Reject"
        assert site.stamps() == 1


def test_a_forged_requester_gets_401_and_nothing_is_queued(public_site: Site,
                                                           remote: QuotingPeer) -> None:
    site = public_site
    target = site.story()
    request = remote.request(6, target, remote.post(6, 1, target))
    # Signed with a key actor 6 does not publish; then by actor 7 for actor 6's request.
    assert run(post_signed(site.inbox, request, remote.peer.key(6), OTHER_PRIVATE)) == 401
    assert run(post_signed(site.inbox, request, remote.peer.key(7))) == 401
    assert site.queued() == 0 and site.stamps() == 0 and remote.answers() == []


@pytest.fixture
def elsewhere() -> Iterator[dict[str, dict[str, Any]]]:
    """Another server (another origin), serving whatever posts the test puts here."""
    posts: dict[str, dict[str, Any]] = {}

    def app(base: str) -> web.Application:
        async def post(request: web.Request) -> web.Response:
            return web.json_response({**posts["post"], "id": f"{base}{request.path}"},
                                     content_type=ACTIVITY_JSON)

        made = web.Application()
        made.router.add_get("/statuses/{post}", post)
        return made

    with serving(app) as base:
        posts["base"] = {"url": base}
        yield posts


@pytest.mark.parametrize("case", ["no instrument", "instrument elsewhere", "request elsewhere",
                                  "not ours", "someone else's post", "does not quote it",
                                  "post missing"])
def test_malformed_requests_get_a_4xx_and_nothing_is_stored(
        public_site: Site, remote: QuotingPeer, elsewhere: dict[str, dict[str, Any]],
        case: str, caplog: pytest.LogCaptureFixture) -> None:
    site, target = public_site, public_site.story()
    request = remote.request(8, target, remote.post(8, 1, target))
    expected = 400
    if case == "no instrument":
        del request["instrument"]
    elif case == "instrument elsewhere":  # a post on another server claiming to be actor 8's
        elsewhere["post"] = {**remote.posts[request["instrument"]]}
        request["instrument"] = f"{elsewhere['base']['url']}/statuses/1"
    elif case == "request elsewhere":
        request["id"] = f"{elsewhere['base']['url']}/quote-request"
    elif case == "not ours":
        request["object"] = f"{site.base}/ap/objects/es/nothing"
        expected = 404
    elif case == "someone else's post":  # actor 9's post, at an address of the same server
        request["instrument"] = remote.post(8, 2, target, by=9)
    elif case == "does not quote it":
        request["instrument"] = remote.post(8, 3, f"{site.base}/ap/objects/es/other")
    else:
        request["instrument"] = f"{remote.peer.actor(8)}/statuses/404"
    assert run(post_signed(site.inbox, request, remote.peer.key(8))) == expected
    assert site.queued() == 0 and site.stamps() == 0
    wait_for(lambda: any("inbox: refused" in r.getMessage() for r in caplog.records), 5)


def test_stamps_per_actor_are_capped(mini_site: MiniSite, remote: QuotingPeer) -> None:
    for site in serve(mini_site, "public", MILPA_QUOTE_STAMPS_PER_ACTOR=2):
        for post in (1, 2, 3):
            assert ask(site, remote, 10, post=post)[0] == 202
        wait_for(lambda: len(remote.answers()) == 3)
        kinds = sorted(body["type"] for body, _ in remote.answers())
        assert kinds == ["Accept", "Accept", "Reject"]
        assert site.stamps() == 2
        # Another account has its own allowance.
        assert ask(site, remote, 11)[0] == 202
        wait_for(lambda: len(remote.answers()) == 4)
        assert site.stamps() == 3


def test_stamps_are_capped_in_all_across_accounts(mini_site: MiniSite,
                                                 remote: QuotingPeer) -> None:
    """One server can mint accounts: the total holds when no account reaches its own cap."""
    for site in serve(mini_site, "public", MILPA_QUOTE_STAMPS_TOTAL=2):
        for number in (10, 11, 12):
            assert ask(site, remote, number)[0] == 202
            wait_for(lambda n=number: len(remote.answers()) == n - 9)
        kinds = [body["type"] for body, _ in remote.answers()]
        assert kinds == ["Accept", "Accept", "Reject"]
        assert site.stamps() == 2
        # A stamp already given is given again: asking twice takes no more room.
        again = remote.request(10, site.story(), f"{remote.peer.actor(10)}/statuses/1")
        again["id"] += "/again"
        assert run(post_signed(site.inbox, again, remote.peer.key(10))) == 202
        wait_for(lambda: len(remote.answers()) == 4)
        assert remote.answers()[-1][0]["type"] == "Accept"


def test_a_stamp_is_read_only_by_names_that_are_digests(tmp_path: Path) -> None:
    stamps = StampStore(tmp_path)
    planted = {"requester": "r", "inbox": "b", "instrument": "i", "target": "t", "author": "a"}
    stamps.root.mkdir()
    (tmp_path / "planted.json").write_text(json.dumps(planted))  # data/, beside the stamps
    assert stamps.read("..", "planted") is None


def test_the_build_reports_a_bad_quote_policy_by_line_too(
        mini_site: MiniSite, caplog: pytest.LogCaptureFixture) -> None:
    """The plugin's own guard, for when a story reaches Pelican without `check`."""
    path = mini_site.add("stories/agua.md", agua("everyone"))
    story_object = SimpleNamespace(
        metadata={"quote-policy": "everyone"}, settings=mini_site.settings(),
        source_path=str(path), lang="es", date=None)
    read_story_fields(story_object)
    assert story_object.quote_policy is None
    [record] = [r for r in caplog.records if "Quote-Policy" in r.getMessage()]
    assert record.levelname == "ERROR" and "agua.md:7: Quote-Policy: 'everyone'" in \
        record.getMessage()
