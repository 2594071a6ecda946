"""Stories from a Mastodon archive: read whole and checked before anything is written.

Pure: the archive's bytes in, the files to write out. A Mastodon export is a zip holding
``outbox.json`` (an OrderedCollection of the account's activities), ``actor.json`` and
``media_attachments/``. Each of the account's own posts becomes a story; a thread (replies
to oneself) becomes one story; boosts and replies to others are left out.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from pathlib import PurePosixPath
from typing import Any

from .languages import is_valid_tag
from .stories import FIELDS


class ArchiveError(ValueError):
    """The archive cannot be imported; the message says what is wrong with it."""


@dataclass
class ImportedStory:
    key: str  # stable: the first post's id, hashed
    slug: str
    lang: str
    title: str
    date: datetime
    tags: list[str]
    content_warning: str
    body: str  # HTML, which Markdown keeps as it is
    photos: list[tuple[str, str, bytes]] = field(default_factory=list)  # (name, alt, data)


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _title(html: str) -> str:
    words = _text(html).split()
    title = " ".join(words[:10])
    return title + ("…" if len(words) > 10 else "") or "Untitled"


def read_mastodon(archive: bytes, default_lang: str, since: datetime | None = None
                  ) -> list[ImportedStory]:
    """The stories in a Mastodon export, oldest first. Raises ArchiveError."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
        names = set(bundle.namelist())
        if "outbox.json" not in names:
            raise ArchiveError("no outbox.json: is this Mastodon's 'Request your archive' zip?")
        outbox = json.loads(bundle.read("outbox.json"))
        actor = json.loads(bundle.read("actor.json")) if "actor.json" in names else {}
    except zipfile.BadZipFile:
        raise ArchiveError("not a zip file, or a truncated one") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArchiveError(f"outbox.json or actor.json is not valid JSON: {error}") from None
    items = outbox.get("orderedItems")
    if not isinstance(items, list):
        raise ArchiveError("outbox.json has no orderedItems list")
    own = actor.get("id")
    notes: dict[str, dict[str, Any]] = {}
    for activity in items:
        note = activity.get("object") if isinstance(activity, dict) else None
        if activity.get("type") != "Create" or not isinstance(note, dict):
            continue  # boosts, and anything that is not a post of one's own
        reply_to = note.get("inReplyTo")
        if reply_to and reply_to not in notes and not str(reply_to).startswith(str(own)):
            continue  # a reply to someone else
        if isinstance(note.get("id"), str) and isinstance(note.get("content"), str):
            notes[note["id"]] = note
    stories: dict[str, ImportedStory] = {}
    thread_of: dict[str, str] = {}
    for note_id, note in sorted(notes.items(), key=lambda item: item[1].get("published", "")):
        published = datetime.fromisoformat(str(note.get("published")).replace("Z", "+00:00"))
        if since and published < since:
            continue
        photos = _photos(bundle, names, note)
        parent = note.get("inReplyTo")
        if parent in thread_of:  # the next post of a thread joins its story
            story = stories[thread_of[parent]]
            story.body += "\n" + note["content"]
            story.photos += photos
            thread_of[note_id] = thread_of[parent]
            continue
        lang = next(iter(note.get("contentMap") or {}), None) or default_lang
        key = hashlib.sha256(note_id.encode()).hexdigest()[:12]
        stories[key] = ImportedStory(
            key=key, slug=f"imported-{key}", lang=lang if is_valid_tag(lang) else default_lang,
            title=_title(note["content"]), date=published,
            tags=[tag["name"].lstrip("#") for tag in note.get("tag") or []
                  if isinstance(tag, dict) and tag.get("type") == "Hashtag" and tag.get("name")],
            content_warning=note.get("summary") or "", body=note["content"], photos=photos)
        thread_of[note_id] = key
    return list(stories.values())


def _photos(bundle: zipfile.ZipFile, names: set[str], note: dict[str, Any]
            ) -> list[tuple[str, str, bytes]]:
    found = []
    for attachment in note.get("attachment") or []:
        if not isinstance(attachment, dict):
            continue
        url = str(attachment.get("url", ""))
        path = url.lstrip("/")
        if not str(attachment.get("mediaType", "")).startswith("image/"):
            continue
        if path not in names:
            raise ArchiveError(f"{path} is named by a post but missing from the archive")
        found.append((PurePosixPath(path).name, str(attachment.get("name") or ""),
                      bundle.read(path)))
    return found


def story_markdown(story: ImportedStory, territory: str, author: str, photo_folder: str
                   ) -> str:
    """The story file: the same fields as any story, marked as imported."""
    values = {"title": story.title, "date": f"{story.date:%Y-%m-%d %H:%M}", "authors": author,
              "territory": territory, "tags": ", ".join(story.tags), "lang": story.lang,
              "content-warning": story.content_warning, "slug": story.slug}
    header = [f"{f.name}: {values[f.key]}" for f in FIELDS if values.get(f.key)]
    header.append("Imported: true")
    body = story.body
    for name, alt, _data in story.photos:
        alt_text = alt.replace("]", ")") or "Photo from the archive (no description)"
        body += f"\n\n![{alt_text}]({photo_folder}/{story.key}-{name})"
    return "\n".join(header) + "\n\n" + body + "\n"
