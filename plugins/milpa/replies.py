"""Replies from the Fediverse as we keep them: every field checked, whatever sent it.

A reply arrives as a note and its author's actor document, both written by a stranger;
later it is read back from the data folder, which anyone with access could have edited.
Both paths go through :func:`reply_record`, so a page, a feed or an editor's terminal only
ever sees http(s) links, plain-text names, a real date and a story key of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .blocks import normal_actor
from .sanitize import plain_text, web_url

MAX_CONTENT = 20_000  # characters of HTML; a long Fediverse post is about 5,000
MAX_NAME = 100
MAX_HANDLE = 200
STATUSES = ("held", "approved", "rejected")
# LANG/SLUG: a language tag and an ASCII slug (Pelican's), neither starting with a dot, so
# no key can leave the data folder, name a file outside its story's folder, or be too long
# for a file name.
_STORY_KEY = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,4}/\w[\w.-]{0,199}", re.ASCII)


@dataclass(frozen=True)
class Reply:
    """A reply from the Fediverse to one of our stories (its HTML untrusted until nh3)."""

    id: str
    story: str  # LANG/SLUG of the story it answers
    actor: str
    author_name: str  # plain text
    author_handle: str  # plain text, @user@host
    author_url: str  # http(s), or "" for no link
    url: str  # http(s), or "" for no link
    published: str  # ISO 8601, UTC
    content: str
    status: str = "held"  # held, approved or rejected


def story_key(key: object) -> str | None:
    """``key`` if it is LANG/SLUG with safe characters only, else None."""
    return key if isinstance(key, str) and _STORY_KEY.fullmatch(key) else None


def published_time(value: object) -> str | None:
    """An ISO 8601 time in UTC, or None when ``value`` is not one (``"soon"``)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError):  # year 1 minus an offset
        return None


def reply_record(data: Any) -> Reply:
    """A stored or received reply with every field checked; ValueError says what is wrong.

    What identifies a reply (id, story, actor, date, status) must be right or the reply is
    refused; what is only shown is made safe (names to plain text, non-http links dropped,
    content cut to size).
    """
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for name in ("id", "actor"):
        if web_url(data.get(name)) is None:
            raise ValueError(f"{name} is not an http(s) URL")
    if story_key(data.get("story")) is None:
        raise ValueError("story is not LANG/SLUG")
    published = published_time(data.get("published"))
    if published is None:
        raise ValueError(f"published is not a date: {plain_text(data.get('published'), 40)!r}")
    if data.get("status") not in STATUSES:
        raise ValueError("status is not held, approved or rejected")
    content = data.get("content")
    if not isinstance(content, str):
        raise ValueError("content is not text")
    return Reply(id=data["id"], story=data["story"], actor=data["actor"],
                 author_name=plain_text(data.get("author_name"), MAX_NAME),
                 author_handle=plain_text(data.get("author_handle"), MAX_HANDLE),
                 author_url=web_url(data.get("author_url")) or "",
                 url=web_url(data.get("url")) or "", published=published,
                 content=content[:MAX_CONTENT], status=data["status"])


def reply_from_note(note: Any, author: dict[str, Any], actor: str, story: str,
                    received: str) -> Reply | None:
    """The reply ``actor`` sent in ``note`` to our ``story``, held; None if it is none.

    The note must be the actor's own, on the actor's own server. A missing or unreadable
    ``published`` becomes the time it was ``received``; a link that is not http(s) becomes
    the note's id (for the reply) or the actor (for its author).
    """
    if not isinstance(note, dict) or _id(note.get("attributedTo")) != actor:
        return None
    note_id = _id(note)
    if not note_id or normal_actor(actor) is None or normal_actor(note_id) is None:
        return None
    if _host(note_id) != _host(actor) or not isinstance(note.get("content"), str):
        return None
    username = plain_text(author.get("preferredUsername"), 64) or \
        plain_text(actor.rstrip("/").rsplit("/", 1)[-1], 64)
    name = plain_text(author.get("name"), MAX_NAME) or username
    try:
        return reply_record({
            "id": note_id, "story": story, "actor": actor, "author_name": name,
            "author_handle": f"@{username}@{_host(actor)}",
            "author_url": web_url(author.get("url")) or actor,
            "url": web_url(note.get("url")) or note_id,
            "published": published_time(note.get("published")) or received,
            "content": note["content"], "status": "held"})
    except ValueError:
        return None


def edited(kept: Reply, new: Reply) -> bool:
    """Whether an update changes what an editor approved: the text, or the story it is on."""
    return (kept.content, kept.story) != (new.content, new.story)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _host(url: str) -> str:
    """host[:port] as normalised for blocks, so a case or a default port changes nothing."""
    normal = normal_actor(url) or ""
    return urlsplit(normal).netloc
