"""Stories from Mastodon and X archives: read whole and checked before anything is written.

Pure: the archive's bytes in, the stories to write out. Each of the account's own posts
becomes a story; a thread (replies to oneself) becomes one story; boosts, retweets and
replies to others are left out.

- A Mastodon export is a zip holding ``outbox.json`` (an OrderedCollection of the
  account's activities), ``actor.json`` and ``media_attachments/``.
- X's "archive of your data" is a zip holding ``data/tweets.js`` (JavaScript:
  ``window.YTD.tweets.part0 = [...]``), ``data/account.js`` and ``data/tweets_media/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from html import escape, unescape
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


_X_ASSIGNMENT = re.compile(r"^\s*window\.YTD\.[a-z_]+\.part\d+\s*=\s*", re.IGNORECASE)
_X_DATE = "%a %b %d %H:%M:%S %z %Y"


def _x_json(bundle: zipfile.ZipFile, name: str) -> Any:
    try:
        text = bundle.read(name).decode("utf-8")
    except KeyError:
        raise ArchiveError(f"no {name}: is this X's 'Download an archive of your data' zip?"
                           ) from None
    try:
        return json.loads(_X_ASSIGNMENT.sub("", text, count=1))
    except json.JSONDecodeError as error:
        raise ArchiveError(f"{name} is not the JavaScript X writes: {error}") from None


def _x_html(tweet: dict[str, Any]) -> str:
    """The tweet's text as HTML: t.co links expanded, mentions linked, media links gone."""
    text = tweet.get("full_text") or tweet.get("text") or ""
    entities = tweet.get("entities") or {}
    replacements: dict[str, str] = {}
    for url in entities.get("urls") or []:
        expanded = url.get("expanded_url") or url.get("url")
        replacements[url.get("url", "")] = f'<a href="{escape(expanded)}">{escape(expanded)}</a>'
    for media in (tweet.get("extended_entities") or entities).get("media") or []:
        replacements[media.get("url", "")] = ""
    for mention in entities.get("user_mentions") or []:
        name = mention.get("screen_name", "")
        replacements[f"@{name}"] = (f'<a href="https://x.com/{escape(name)}">'
                                    f"@{escape(name)}</a>")
    parts = re.split("(" + "|".join(re.escape(k) for k in replacements if k) + ")", text) \
        if any(replacements) else [text]
    html = "".join(replacements.get(part, escape(unescape(part))) if part in replacements
                   else escape(unescape(part)) for part in parts)
    return "".join(f"<p>{line}</p>" for line in html.split("\n") if line.strip())


def read_x(archive: bytes, default_lang: str, since: datetime | None = None,
           keep_replies: bool = False) -> list[ImportedStory]:
    """The stories in X's archive, oldest first. Raises ArchiveError."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile:
        raise ArchiveError("not a zip file, or a truncated one") from None
    names = set(bundle.namelist())
    accounts = _x_json(bundle, "data/account.js")
    own = str(((accounts or [{}])[0].get("account") or {}).get("accountId", ""))
    tweets = [entry.get("tweet", entry) for entry in _x_json(bundle, "data/tweets.js")
              if isinstance(entry, dict)]
    stories: dict[str, ImportedStory] = {}
    thread_of: dict[str, str] = {}
    for tweet in sorted(tweets, key=lambda t: int(t.get("id_str") or t.get("id") or 0)):
        tweet_id = str(tweet.get("id_str") or tweet.get("id") or "")
        text = tweet.get("full_text") or tweet.get("text") or ""
        if not tweet_id or text.startswith("RT @") or tweet.get("retweeted_status"):
            continue  # a retweet
        try:
            published = datetime.strptime(str(tweet.get("created_at")), _X_DATE)
        except ValueError:
            raise ArchiveError(f"tweet {tweet_id} has an unreadable date "
                               f"{tweet.get('created_at')!r}") from None
        if since and published < since:
            continue
        parent = str(tweet.get("in_reply_to_status_id_str") or "")
        to_user = str(tweet.get("in_reply_to_user_id_str") or "")
        photos = _x_photos(bundle, names, tweet_id, tweet)
        if parent and parent in thread_of and to_user == own:
            story = stories[thread_of[parent]]
            story.body += "\n" + _x_html(tweet)
            story.photos += photos
            thread_of[tweet_id] = thread_of[parent]
            continue
        if parent and not keep_replies:
            continue  # a reply to someone else (or to a post not in the archive)
        lang = tweet.get("lang") or default_lang
        key = hashlib.sha256(f"x:{tweet_id}".encode()).hexdigest()[:12]
        body = _x_html(tweet)
        stories[key] = ImportedStory(
            key=key, slug=f"imported-{key}", lang=lang if is_valid_tag(lang) else default_lang,
            title=_title(body), date=published,
            tags=[h.get("text", "") for h in (tweet.get("entities") or {}).get("hashtags") or []
                  if h.get("text")],
            content_warning="", body=body, photos=photos)
        thread_of[tweet_id] = key
    return list(stories.values())


def _x_photos(bundle: zipfile.ZipFile, names: set[str], tweet_id: str, tweet: dict[str, Any]
              ) -> list[tuple[str, str, bytes]]:
    found = []
    media_list = (tweet.get("extended_entities") or tweet.get("entities") or {}).get("media")
    for media in media_list or []:
        if media.get("type", "photo") != "photo":
            continue
        url = str(media.get("media_url_https") or media.get("media_url", ""))
        file_name = f"{tweet_id}-{PurePosixPath(url).name}"
        path = f"data/tweets_media/{file_name}"
        if path not in names:
            raise ArchiveError(f"{path} is named by tweet {tweet_id} but missing from the "
                               "archive")
        found.append((file_name, str(media.get("ext_alt_text") or ""), bundle.read(path)))
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
