"""Followers in sync across servers (FEP-8fcf): the digest, the header, the partial list.

A server that receives our deliveries through its shared inbox shows them to the people
it believes follow us. If it missed an Undo, or we removed a follower (a block, a
moderation decision), it would go on showing them our stories. With each delivery of an
activity addressed to an actor's followers we send, in ``Collection-Synchronization``, a
digest of the followers we have *on that server*; a server that finds another digest
asks for the list (only its own users, see ``partial_followers``) and mends its side.

Pure: no network, no files. The digest is Mastodon's: the XOR of the SHA-256 of each
follower id, as hex; the "server" is the scheme and authority of a URL, compared as
written (Mastodon compares them case-sensitively, and both sides must agree).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

HEADER = "Collection-Synchronization"
EMPTY_DIGEST = "0" * 64


def server_prefix(url: str) -> str | None:
    """``scheme://authority`` of an http(s) URL, as written; None for anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def on_server(follower_id: str, prefix: str) -> bool:
    """Whether an actor id lives on the server ``prefix`` names. The slash matters:
    ``https://a.example`` must not take in ``https://a.example.evil.net/x``, nor
    ``http://h:80`` the ids of ``http://h:8080``."""
    return follower_id == prefix or follower_id.startswith(prefix + "/")


def partial_followers(follower_ids: Iterable[str], prefix: str) -> list[str]:
    """The followers on one server, sorted: never anybody else's."""
    return sorted({follower for follower in follower_ids if on_server(follower, prefix)})


def followers_digest(follower_ids: Iterable[str]) -> str:
    """XOR of SHA-256 of each id, hex (64 zeros for none). Order does not matter; an id
    counted twice would cancel itself out, so each counts once."""
    digest = 0
    for follower in set(follower_ids):
        digest ^= int.from_bytes(hashlib.sha256(follower.encode()).digest(), "big")
    return f"{digest:064x}"


def sync_header(collection_id: str, url: str, digest: str) -> str:
    """The header's value, in the parameter syntax of draft-cavage's Signature header."""
    return f'collectionId="{collection_id}", url="{url}", digest="{digest}"'


def addressed_to(activity: Mapping[str, Any], collection: str) -> bool:
    """Whether ``collection`` is among the activity's (or its object's) to/cc."""
    for document in (activity, activity.get("object")):
        if not isinstance(document, Mapping):
            continue
        for field in ("to", "cc"):
            value = document.get(field)
            if value == collection or (isinstance(value, list) and collection in value):
                return True
    return False


class FollowerDigests:
    """Digests per (actor, server), each computed once: one per delivery run, so a run
    reads an actor's followers once however many servers it reaches, and sorts them by
    server once (a digest then costs the followers on that server, not all of them).
    Deliveries made in the same run see the followers as they were at its start."""

    def __init__(self, followers_of: Callable[[str], Iterable[str]]) -> None:
        self.followers_of = followers_of
        self._by_server: dict[str, dict[str | None, list[str]]] = {}
        self._digests: dict[tuple[str, str], str] = {}

    def digest(self, actor: str, prefix: str) -> str:
        key = (actor, prefix)
        if key not in self._digests:
            if actor not in self._by_server:
                grouped: dict[str | None, list[str]] = {}
                for follower in self.followers_of(actor):
                    grouped.setdefault(server_prefix(follower), []).append(follower)
                self._by_server[actor] = grouped
            self._digests[key] = followers_digest(partial_followers(
                self._by_server[actor].get(prefix, ()), prefix))
        return self._digests[key]
