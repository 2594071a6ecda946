"""Bluesky through the Bridgy Fed bridge: the rules and activities of opting in and out.

An actor of ours joins the bridge by following the bridge's actor; the bridge follows back,
and from then on it is a follower like any other (stories, edits and Deletes reach it).
Leaving is what Bridgy Fed documents: undo the Follow and block the bridge's actor. Pure:
documents in, decisions and activities out; `milpa_delivery.bridge` sends them and
`milpa.state` keeps the record.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

from .activitypub import AS_CONTEXT, ApUrls

# What `bridge on` leaves behind: the Follow is on its way, the bridge accepted it, the
# bridge refused it, or `bridge off` undid it.
PENDING, BRIDGED, REFUSED, OFF = "pending", "bridged", "refused", "off"
# Bridgy Fed's spam filter: younger accounts are not bridged (when their age is published).
MIN_ACCOUNT_AGE = timedelta(days=7)
# Usernames the bridge can turn into a Bluesky handle: letters, digits, _ - ~ inside.
_BRIDGEABLE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_~-]*[A-Za-z0-9])?")
_TAG = re.compile(r"<[^>]*>")
# Where a domain proves to Bluesky which account it names (the HTTPS method).
ATPROTO_DID_PATH = ".well-known/atproto-did"
# did:plc is 24 base32 characters; did:web names a host (no path, no port: atproto's rule).
_DID = re.compile(r"did:plc:[a-z2-7]{24}|did:web:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                  r"[a-z][a-z0-9-]{0,61}[a-z0-9]")


@dataclass(frozen=True)
class Bridging:
    """One actor's standing with the bridge (``data/bridge/NAME.json``)."""

    status: str  # PENDING, BRIDGED, REFUSED or OFF
    bridge: str  # the bridge actor's id
    bridge_inbox: str  # where our Follow, Undo and Block go
    follow: dict[str, Any]  # our Follow: the Accept names it, the Undo carries it
    handle: str  # the actor's Bluesky handle, as the bridge makes it
    since: str  # ISO 8601, when the status last changed
    opt_out: tuple[str, ...] = ()  # ids of the Undo and Block `bridge off` queued

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Bridging:
        return cls(**{**record, "opt_out": tuple(record.get("opt_out", ()))})


def bluesky_handle(username: str, site_host: str, handle_domain: str) -> str | None:
    """The handle the bridge gives ``@username@site_host`` on Bluesky, e.g.
    ``stories.example.org.ap.brid.gy``; None when the bridge cannot bridge that username."""
    if not _BRIDGEABLE_NAME.fullmatch(username):
        return None
    flattened = f"{username}.{site_host}".replace("_", "-").replace("~", "-")
    return f"{flattened}.{handle_domain}".lower()


def _plain(html: str) -> str:
    return unescape(_TAG.sub(" ", html))


def bridge_problems(actor: dict[str, Any], moment: datetime, handle: str | None) -> list[str]:
    """Why the bridge would not bridge this actor document (its documented requirements)."""
    problems = []
    username = actor.get("preferredUsername", "")
    if handle is None:
        problems.append(f"the bridge cannot make a Bluesky handle of '{username}' (only "
                        "letters, digits and _ - ~ inside the name)")
    if not actor.get("icon"):
        problems.append("it has no profile picture (MILPA_ACTOR_ICON, or an icon in "
                        "MILPA_AUTHORS / MILPA_TERRITORIES)")
    name = actor.get("name") or ""
    if not name or name.lower() == username.lower():
        problems.append("its display name is missing or the same as its username")
    published = actor.get("published")
    if isinstance(published, str) and moment - datetime.fromisoformat(published) < \
            MIN_ACCOUNT_AGE:
        problems.append("it is less than a week old (its first story's date)")
    words = f"{_plain(actor.get('summary') or '')} {name}".lower()
    for tag in ("#nobridge", "#nobot"):
        if tag in words:
            problems.append(f"its name or bio says {tag}")
    if actor.get("movedTo"):
        problems.append("it has moved to another account")
    return problems


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def follow_activity(urls: ApUrls, name: str, bridge: str) -> dict[str, Any]:
    """A new Follow of the bridge: each opt-in its own id, as the bridge remembers ids."""
    actor = urls.actor(name)
    return {"@context": AS_CONTEXT, "id": f"{actor}#follows/{uuid4()}", "type": "Follow",
            "actor": actor, "object": bridge}


def opt_out_activities(urls: ApUrls, name: str, bridging: Bridging
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Undo of our Follow and the Block of the bridge, which is how Bridgy Fed is told
    to stop (unfollowing alone leaves an account bridged). Ids follow from the Follow's,
    so running `bridge off` again queues the same two."""
    actor, follow_id = urls.actor(name), bridging.follow["id"]
    undo = {"@context": AS_CONTEXT, "id": f"{actor}#undo/{_digest(follow_id)}",
            "type": "Undo", "actor": actor, "object": bridging.follow}
    block = {"@context": AS_CONTEXT, "id": f"{actor}#blocks/{_digest(follow_id)}",
             "type": "Block", "actor": actor, "object": bridging.bridge}
    return undo, block


def unblock_activity(urls: ApUrls, name: str, bridging: Bridging) -> dict[str, Any]:
    """The Undo of the Block that `bridge off` sent: Bridgy Fed keeps a blocked bridge off."""
    block = opt_out_activities(urls, name, bridging)[1]
    return {"@context": AS_CONTEXT, "id": f"{block['id']}/undo", "type": "Undo",
            "actor": urls.actor(name), "object": block}


def _id(value: Any) -> str | None:
    value = value.get("id") if isinstance(value, dict) else value
    return value if isinstance(value, str) else None


def answers_our_follow(bridging: Bridging | None, activity: dict[str, Any]) -> bool:
    """Whether an Accept or Reject is the bridge's answer to our pending or accepted Follow:
    sent by the bridge actor we followed, naming our Follow by its id."""
    return bridging is not None and bridging.status in (PENDING, BRIDGED) and \
        _id(activity.get("actor")) == bridging.bridge and \
        _id(activity.get("object")) == bridging.follow["id"]


def follows_back(bridging: Bridging | None, follower: str, configured: str | None) -> bool:
    """Whether a Follow from ``follower`` is the bridge following back an actor of ours that
    opted in: accepted without waiting for an editor, even where follows are held."""
    return bridging is not None and bridging.status in (PENDING, BRIDGED) and \
        configured is not None and follower == configured == bridging.bridge


def bridge_status(name: str, bridging: Bridging, followed_back: bool) -> str:
    """One line for `followers`: where an actor stands with the bridge."""
    if bridging.status == BRIDGED and followed_back:
        return f"Bluesky: {name} is bridged as @{bridging.handle}"
    if bridging.status == BRIDGED:
        return (f"Bluesky: {name} is accepted as @{bridging.handle}, but the bridge does not "
                "follow it (yet), so its stories do not reach Bluesky")
    if bridging.status == PENDING:
        return (f"Bluesky: {name} is pending, waiting for the bridge to accept (it will be "
                f"@{bridging.handle})")
    if bridging.status == REFUSED:
        return f"Bluesky: the bridge refused {name} (see its requirements in the README)"
    return f"Bluesky: {name} is not bridged (turned off {bridging.since[:10]})"


def atproto_did_problem(value: Any) -> str | None:
    """What is wrong with MILPA_ATPROTO_DID, or None."""
    if isinstance(value, str) and _DID.fullmatch(value):
        return None
    return (f"{value!r} is not an AT Protocol DID: did:plc: and 24 characters (a-z, 2-7), or "
            "did:web: and a host name, as the bridge or Bluesky gave it")


def host_name(base: str) -> str:
    """The site's host, without a port (handles have none)."""
    return urlsplit(base).hostname or ""
