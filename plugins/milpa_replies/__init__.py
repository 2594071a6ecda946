"""Approved Fediverse replies, and like and boost counts, shown under each story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pelican import signals

from milpa.replies import Reply
from milpa.sanitize import reply_html
from milpa.settings import setting
from milpa.state import DataStore


@dataclass(frozen=True)
class ShownReply:
    reply: Reply  # checked field by field when read: links http(s) or "", names plain text
    html: str  # sanitised

    @property
    def published(self) -> datetime:
        return datetime.fromisoformat(self.reply.published)


def attach_replies(instance: Any) -> None:
    """content_object_init handler: read (never write) the inbox's files for this story.

    A stored reply that is not valid is skipped with a warning naming its file (by
    ``DataStore.replies``): one bad record never fails the build.
    """
    instance.replies, instance.likes, instance.boosts = [], 0, 0
    slug, lang = getattr(instance, "slug", None), getattr(instance, "lang", None)
    if not slug or not lang or type(instance).__name__ != "Article":
        return
    store = DataStore(Path(setting(instance.settings, "MILPA_DATA_PATH")))
    # A story that came back after a Delete has a new id: its page shows what every id got.
    keys = store.ids_of_story(lang, slug)
    allow_images = setting(instance.settings, "MILPA_REPLIES_ALLOW_IMAGES")
    replies = sorted((reply for key in keys for reply in store.replies(key, status="approved")),
                     key=lambda reply: (reply.published, reply.id))
    instance.replies = [ShownReply(reply, reply_html(reply.content, allow_images))
                        for reply in replies]
    instance.likes = sum(store.reaction_count("likes", key) for key in keys)
    instance.boosts = sum(store.reaction_count("boosts", key) for key in keys)


def register() -> None:
    # Each story reads its approved replies and counts as Pelican creates it, so every
    # page and the story's ActivityPub replies collection see the same ones.
    signals.content_object_init.connect(attach_replies)
