"""Hostile requests, generated: the inbox answers every one with less than 500, and
nothing reaches the data folder from a request whose signature did not verify."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milpa.activitypub import ACTIVITY_JSON

from .conftest import MiniSite
from .servers import serving
from .test_inbox import Site, run
from .test_inbox_trust import VICTIM_PRIVATE, Documents, cavage, site_serving

TYPES = ["Follow", "Undo", "Create", "Update", "Delete", "Like", "Announce", "Move", "Note",
         "", "follow", "Follow\x00"]
CONTENT_TYPES = [ACTIVITY_JSON, "application/ld+json", "application/activity+jsonEVIL",
                 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
                 "text/plain", "", "application/activity+json; charset=utf-8", "a/b/c",
                 "application/activity+json; profile=\"é\"", "application/activity+json;;;"]
# Text that has broken parsers before: paths, NULs, long runs, non-ASCII, URL tricks.
NASTY = st.sampled_from(["..", "../..", "/etc/passwd", "\x00", "a" * 300, "é/ñ", "%2e%2e",
                         "http://[::1", "http://127.0.0.1:0/", "file:///etc/passwd", "",
                         "javascript:alert(1)", "\ud7ff", "https://x/" + "b" * 5000])
TEXT = st.one_of(st.text(max_size=40), NASTY)


def json_values(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), leaf),
                        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4)),
                        max_leaves=12)


def activity(site_base: str, actor: str) -> st.SearchStrategy[dict[str, Any]]:
    ours = st.sampled_from([f"{site_base}/ap/actors/stories", f"{site_base}/ap/objects/es/agua",
                            f"{site_base}/ap/objects/es/..", f"{site_base}/ap/objects/../x/y"])
    field = st.one_of(ours, TEXT, json_values(st.one_of(ours, TEXT)))
    note = st.fixed_dictionaries({"id": field, "type": st.sampled_from(["Note", "Article"]),
                                  "attributedTo": st.one_of(st.just(actor), field),
                                  "inReplyTo": field, "content": field})
    return st.fixed_dictionaries({
        "type": st.sampled_from(TYPES), "id": field,
        "actor": st.one_of(st.just(actor), field),
        "object": st.one_of(field, note, st.fixed_dictionaries({
            "type": st.sampled_from(TYPES), "actor": st.one_of(st.just(actor), field),
            "object": field})),
        "target": field})


def files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()} if folder.is_dir() else {}


def settled(folder: Path, quiet: float = 0.3, limit: float = 15.0) -> dict[str, bytes]:
    """The data folder once the inbox's background work (an Accept being delivered after a
    signed Follow) has left it unchanged for ``quiet`` seconds, so that what an example
    finds changed is that example's doing."""
    deadline = time.monotonic() + limit
    previous = files(folder)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        current = files(folder)
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"{folder} kept changing for {limit} s")


@pytest.fixture
def served(mini_site: MiniSite) -> Iterator[tuple[Site, Documents]]:
    victim = Documents()
    with serving(victim.app):
        for site in site_serving(mini_site):
            yield site, victim


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            url, data=body, headers=headers,
            timeout=aiohttp.ClientTimeout(total=30)) as response:
        return response.status


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_no_input_gets_a_5xx_nor_stores_unless_signed(
        served: tuple[Site, Documents], mini_site: MiniSite, data: st.DataObject) -> None:
    site, victim = served
    actor = victim.actor("/users/ana")
    path = data.draw(st.one_of(st.just("/ap/inboxes/stories"), st.just("/ap/inbox"),
                               st.text(alphabet="abcé.%/\\-_", max_size=60).map(
                                   lambda name: f"/ap/inboxes/{name}")))
    url = site.base + path
    body = data.draw(st.one_of(
        activity(site.base, actor).map(lambda value: json.dumps(value).encode()),
        json_values(TEXT).map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=200), st.just(b"[" * 50_000 + b"]" * 50_000)))
    mode = data.draw(st.sampled_from(["signed", "garbage", "unsigned", "wrong key"]))
    headers: dict[str, str] = {"content-type": data.draw(st.sampled_from(CONTENT_TYPES))}
    if mode in ("signed", "wrong key"):
        key_id = f"{actor}#main-key" if mode == "signed" else data.draw(st.sampled_from(
            [f"{actor}#other", f"{site.base}/ap/actors/stories#main-key", "x", "",
             "http://[::1#k", "file:///etc/passwd#k", f"{actor}#" + "k" * 3000]))
        headers = {**cavage(url, body, key_id or "x", VICTIM_PRIVATE), **headers}
    elif mode == "garbage":
        for name in ("signature", "signature-input", "date", "digest", "content-digest"):
            if data.draw(st.booleans()):
                headers[name] = data.draw(st.text(
                    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80))
    data_folder = mini_site.base / "data"
    before = settled(data_folder) if mode != "signed" else {}
    status = run(post(url, body, headers))
    assert status < 500
    if mode != "signed":
        assert files(data_folder) == before
