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


# Per data folder (its setting as written), while one build reads its stories: the
# stories anyone answered.
_answered: dict[str, frozenset[str]] = {}


def list_answered(generator: Any) -> None:
    """article_generator_init handler: one listing of the data folder per build."""
    folder = str(setting(generator.settings, "MILPA_DATA_PATH"))
    _answered[folder] = DataStore(Path(folder)).stories_with_records()


def forget_answered(generator: Any) -> None:
    """article_generator_finalized handler: a story made later reads the folder itself."""
    _answered.pop(str(setting(generator.settings, "MILPA_DATA_PATH")), None)


def attach_replies(instance: Any) -> None:
    """content_object_init handler: read (never write) the inbox's files for this story.

    A stored reply that is not valid is skipped with a warning naming its file (by
    ``DataStore.replies``): one bad record never fails the build.
    """
    instance.replies, instance.likes, instance.boosts = [], 0, 0
    slug, lang = getattr(instance, "slug", None), getattr(instance, "lang", None)
    if not slug or not lang or type(instance).__name__ != "Article":
        return
    folder = str(setting(instance.settings, "MILPA_DATA_PATH"))
    answered = _answered.get(folder)
    if answered is not None and f"{lang}/{slug}" not in answered:
        return  # the usual story: nobody replied, liked or boosted it
    store = DataStore(Path(folder))
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
    # Which stories have anything at all is listed once per build, before they are read.
    signals.article_generator_init.connect(list_answered)
    signals.article_generator_finalized.connect(forget_answered)
