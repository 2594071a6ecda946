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
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape, unescape
from pathlib import Path, PurePosixPath
from typing import Any

from .filetypes import HEAD_BYTES, JPEG, PNG, WEBP, sniff
from .images import DEFAULT_MAX_PIXELS, PHOTO_SUFFIXES, ImageTooLarge, safe_stem
from .languages import is_valid_tag
from .metadata import CannotStrip
from .metadata import stripped as metadata_stripped
from .safecopy import Refused, stripped_file
from .sanitize import archive_html
from .stories import FIELDS

# An archive is data from elsewhere: bounded before a byte of it is unpacked.
MAX_ENTRIES = 100_000
MAX_TOTAL_BYTES = 2 * 1024**3  # uncompressed, all entries together
MAX_RATIO = 100  # uncompressed / compressed, per entry (past RATIO_FROM bytes)
RATIO_FROM = 1024 * 1024
MAX_JSON_BYTES = 512 * 1024**2
MAX_PHOTO_BYTES = 64 * 1024**2
_READ_CHUNK = 1024 * 1024
# Front-matter values stay short; a content warning is a line, not an essay.
MAX_VALUE_CHARS = 500
MAX_TAG_CHARS = 64
_DRIVE = re.compile(r"^[A-Za-z]:")
# Characters Markdown would read as syntax in a post's text, written as entities so the
# text stays text (HTML shows them as they were).
_MARKDOWN_SYNTAX = re.compile(r"[\\`*_\[\]!#|~{}]")
_TAG_OR_TEXT = re.compile(r"(<[^>]*>)")


class ArchiveError(ValueError):
    """The archive cannot be imported; the message says what is wrong with it."""


@dataclass
class ImportedStory:
    key: str  # stable: the first post's id, hashed
    slug: str  # imported-<key>: [a-z0-9-] only
    lang: str
    title: str
    date: datetime
    tags: list[str]
    content_warning: str
    body: str  # sanitised HTML whose text Markdown cannot read as syntax
    photos: list[tuple[str, str, bytes]] = field(default_factory=list)  # (name, alt, data)


def one_line(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    """A front-matter value: every line break folded to a space, control characters gone."""
    kept = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Zl", "Zp")
                   or c.isspace())
    return " ".join(kept.split())[:limit]


def _tag(name: str) -> str:
    return re.sub(r"[^\w-]", "", name.lstrip("#"))[:MAX_TAG_CHARS]


def story_html(html: str) -> str:
    """Archive HTML made safe (nh3), one paragraph a line, its text never Markdown."""
    parts = _TAG_OR_TEXT.split(" ".join(archive_html(html).split()))
    text = "".join(part if part.startswith("<") else
                   _MARKDOWN_SYNTAX.sub(lambda m: f"&#{ord(m[0])};", part) for part in parts)
    text = re.sub(r"\s*</p>\s*", "</p>\n\n", text).strip()
    return text if text.startswith("<p>") else f"<p>{text}</p>"


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _title(html: str) -> str:
    words = _text(html).split()
    title = " ".join(words[:10])
    return one_line(title + ("…" if len(words) > 10 else "")) or "Untitled"


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else in it, or a non-list, counts as none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


class _Zip:
    """A zip file whose every entry is checked before any is read, and read boundedly."""

    def __init__(self, source: bytes | Path) -> None:
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes)
                                       else source)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
            raise ArchiveError("not a zip file, or a truncated one") from None
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"{len(infos)} entries, more than the {MAX_ENTRIES} allowed")
        total = 0
        for info in infos:
            self._check_entry(info)
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ArchiveError(f"it unpacks to {total / 1e9:.1f} GB, more than the "
                               f"{MAX_TOTAL_BYTES / 1e9:.1f} GB allowed")
        self.entries = {info.filename: info for info in infos if not info.is_dir()}

    @staticmethod
    def _check_entry(info: zipfile.ZipInfo) -> None:
        name = info.filename
        parts = PurePosixPath(name).parts
        if (name.startswith("/") or "\\" in name or "\x00" in name or _DRIVE.match(name)
                or ".." in parts):
            raise ArchiveError(f"entry {name!r} points outside the archive")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"entry {name!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"entry {name!r} is encrypted")
        if info.file_size > RATIO_FROM and \
                info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveError(f"entry {name!r} unpacks to more than {MAX_RATIO} times its "
                               "size (a zip bomb?)")

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def read(self, name: str, limit: int) -> bytes:
        """The entry's bytes, never more than it declares (nor than ``limit``)."""
        info = self.entries[name]
        if info.file_size > limit:
            raise ArchiveError(f"{name} is {info.file_size / 1e6:.0f} MB, more than the "
                               f"{limit / 1e6:.0f} MB allowed")
        chunks, size = [], 0
        try:
            with self.zip.open(info) as handle:
                while chunk := handle.read(min(_READ_CHUNK, info.file_size + 1 - size) or 1):
                    size += len(chunk)
                    if size > info.file_size:
                        raise ArchiveError(f"{name} is larger than the archive says")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError) as error:
            raise ArchiveError(f"{name} cannot be unpacked: {error}") from None
        return b"".join(chunks)

    def json(self, name: str, hint: str) -> Any:
        if name not in self.entries:
            raise ArchiveError(f"no {name}: {hint}")
        return _json_text(self.read(name, MAX_JSON_BYTES), name)


def _decoded(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ArchiveError(f"{name} is not UTF-8 text: {error}") from None


def _json_text(data: bytes | str, name: str) -> Any:
    text = _decoded(data, name) if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ArchiveError(f"{name} is not valid JSON: {error}") from None
    except RecursionError:
        raise ArchiveError(f"{name} is nested too deeply to be an archive") from None


def _published(value: Any, post: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_string(value).replace("Z", "+00:00"))
    except ValueError:
        raise ArchiveError(f"post {post[:80]!r} has an unreadable date {str(value)[:40]!r}"
                           ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _photo(bundle: _Zip, path: str, file_name: str, alt: Any) -> tuple[str, str, bytes]:
    """(safe name, alt text, bytes) of an archived photo, its kind read from its bytes.

    Stripped on the way in, so no location reaches content/ (or git); a kind the build
    cannot show (HEIC, AVIF, BMP) becomes a JPEG.
    """
    data = bundle.read(path, MAX_PHOTO_BYTES)
    kind = sniff(data[:HEAD_BYTES])
    if kind is None or kind.family != "photo":
        raise ArchiveError(f"{path} is named as a photo but its bytes are not one")
    target = kind if kind.suffix in PHOTO_SUFFIXES else JPEG
    try:
        if kind in (JPEG, PNG, WEBP):  # their metadata blocks go, not a pixel changes
            clean = metadata_stripped(data, DEFAULT_MAX_PIXELS)[0]
        else:
            clean = stripped_file(data, target)
    except (Refused, CannotStrip, ImageTooLarge) as refused:
        raise ArchiveError(f"{path}: {refused}") from None
    return f"{safe_stem(file_name)}{target.suffix}", one_line(_string(alt)), clean


def read_mastodon(archive: bytes | Path, default_lang: str, since: datetime | None = None
                  ) -> list[ImportedStory]:
    """The stories in a Mastodon export, oldest first. Raises ArchiveError."""
    bundle = _Zip(archive)
    outbox = bundle.json("outbox.json", "is this Mastodon's 'Request your archive' zip?")
    actor = bundle.json("actor.json", "") if "actor.json" in bundle else {}
    if not isinstance(outbox, dict) or not isinstance(actor, dict):
        raise ArchiveError("outbox.json and actor.json must each hold a JSON object")
    items = outbox.get("orderedItems")
    if not isinstance(items, list):
        raise ArchiveError("outbox.json has no orderedItems list")
    own = _string(actor.get("id"))
    notes: dict[str, dict[str, Any]] = {}
    for activity in _dicts(items):
        note = activity.get("object")
        if activity.get("type") != "Create" or not isinstance(note, dict):
            continue  # boosts, and anything that is not a post of one's own
        reply_to = _string(note.get("inReplyTo"))
        if reply_to and reply_to not in notes and not (own and reply_to.startswith(own)):
            continue  # a reply to someone else
        if isinstance(note.get("id"), str) and isinstance(note.get("content"), str):
            notes[note["id"]] = note
    stories: dict[str, ImportedStory] = {}
    thread_of: dict[str, str] = {}
    for note_id, note in sorted(notes.items(), key=lambda item: _string(item[1].get("published"))):
        published = _published(note.get("published"), note_id)
        if since and published < since:
            continue
        photos = _photos(bundle, note)
        body = story_html(note["content"])
        parent = _string(note.get("inReplyTo"))
        if parent in thread_of:  # the next post of a thread joins its story
            story = stories[thread_of[parent]]
            story.body += "\n\n" + body
            story.photos += photos
            thread_of[note_id] = thread_of[parent]
            continue
        content_map = note.get("contentMap")
        lang = next(iter(content_map), None) if isinstance(content_map, dict) else None
        lang = lang if isinstance(lang, str) and is_valid_tag(lang) else default_lang
        key = hashlib.sha256(note_id.encode()).hexdigest()[:12]
        stories[key] = ImportedStory(
            key=key, slug=f"imported-{key}", lang=lang,
            title=_title(note["content"]), date=published,
            tags=[t for t in (_tag(_string(tag.get("name"))) for tag in _dicts(note.get("tag"))
                              if tag.get("type") == "Hashtag") if t],
            content_warning=one_line(_string(note.get("summary"))), body=body, photos=photos)
        thread_of[note_id] = key
    return list(stories.values())


def _photos(bundle: _Zip, note: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    found = []
    for attachment in _dicts(note.get("attachment")):
        path = _string(attachment.get("url")).lstrip("/")
        if not _string(attachment.get("mediaType")).startswith("image/"):
            continue
        if path not in bundle:
            raise ArchiveError(f"{path[:200]} is named by a post but missing from the archive")
        found.append(_photo(bundle, path, PurePosixPath(path).name, attachment.get("name")))
    return found


_X_ASSIGNMENT = re.compile(r"^\s*window\.YTD\.[a-z_]+\.part\d+\s*=\s*", re.IGNORECASE)
_X_DATE = "%a %b %d %H:%M:%S %z %Y"


def _x_json(bundle: _Zip, name: str) -> Any:
    if name not in bundle:
        raise ArchiveError(f"no {name}: is this X's 'Download an archive of your data' zip?")
    text = _decoded(bundle.read(name, MAX_JSON_BYTES), name)
    value = _json_text(_X_ASSIGNMENT.sub("", text, count=1), name)
    if not isinstance(value, list):
        raise ArchiveError(f"{name} does not hold the list X writes")
    return value


def _x_html(tweet: dict[str, Any]) -> str:
    """The tweet's text as HTML: t.co links expanded, mentions linked, media links gone."""
    text = _string(tweet.get("full_text") or tweet.get("text"))
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    replacements: dict[str, str] = {}
    for url in _dicts(entities.get("urls")):
        expanded = _string(url.get("expanded_url") or url.get("url"))
        replacements[_string(url.get("url"))] = \
            f'<a href="{escape(expanded)}">{escape(expanded)}</a>'
    for media in _x_media(tweet):
        replacements[_string(media.get("url"))] = ""
    for mention in _dicts(entities.get("user_mentions")):
        name = _string(mention.get("screen_name"))
        replacements[f"@{name}"] = (f'<a href="https://x.com/{escape(name)}">'
                                    f"@{escape(name)}</a>")
    keys = [key for key in replacements if key and key != "@"]
    parts = re.split("(" + "|".join(re.escape(k) for k in keys) + ")", text) if keys else [text]
    html = "".join(replacements[part] if part in keys else escape(unescape(part))
                   for part in parts)
    return story_html("".join(f"<p>{line}</p>" for line in html.split("\n") if line.strip()))


def _x_media(tweet: dict[str, Any]) -> list[dict[str, Any]]:
    holder = tweet.get("extended_entities") or tweet.get("entities")
    return _dicts(holder.get("media")) if isinstance(holder, dict) else []


def _x_id(value: Any) -> int:
    text = str(value) if isinstance(value, int | str) else ""
    if not text.isdigit():
        raise ArchiveError(f"a tweet has no numeric id ({text[:40]!r})")
    return int(text)


def x_account_name(archive: bytes | Path) -> str:
    """The name the archive's account shows (else its @username), as one author: one line,
    no commas (which would make two authors). Empty when the archive names none."""
    accounts = _dicts(_x_json(_Zip(archive), "data/account.js"))
    account = accounts[0].get("account") if accounts else None
    if not isinstance(account, dict):
        return ""
    name = _string(account.get("accountDisplayName")) or _string(account.get("username"))
    return one_line(name.replace(",", " "))[:100].strip()


def read_x(archive: bytes | Path, default_lang: str, since: datetime | None = None,
           keep_replies: bool = False) -> list[ImportedStory]:
    """The stories in X's archive, oldest first. Raises ArchiveError."""
    bundle = _Zip(archive)
    accounts = _dicts(_x_json(bundle, "data/account.js"))
    account = accounts[0].get("account") if accounts else None
    own = _string(account.get("accountId")) if isinstance(account, dict) else ""
    tweets = [entry.get("tweet", entry) for entry in _dicts(_x_json(bundle, "data/tweets.js"))]
    tweets = [tweet for tweet in tweets if isinstance(tweet, dict)]
    stories: dict[str, ImportedStory] = {}
    thread_of: dict[str, str] = {}
    for tweet in sorted(tweets, key=lambda t: _x_id(t.get("id_str") or t.get("id"))):
        tweet_id = str(_x_id(tweet.get("id_str") or tweet.get("id")))
        text = _string(tweet.get("full_text") or tweet.get("text"))
        if text.startswith("RT @") or tweet.get("retweeted_status"):
            continue  # a retweet
        try:
            published = datetime.strptime(_string(tweet.get("created_at")), _X_DATE)
        except ValueError:
            raise ArchiveError(f"tweet {tweet_id} has an unreadable date "
                               f"{str(tweet.get('created_at'))[:40]!r}") from None
        if since and published < since:
            continue
        parent = _string(tweet.get("in_reply_to_status_id_str"))
        to_user = _string(tweet.get("in_reply_to_user_id_str"))
        photos = _x_photos(bundle, tweet_id, tweet)
        if parent and parent in thread_of and to_user == own:
            story = stories[thread_of[parent]]
            story.body += "\n\n" + _x_html(tweet)
            story.photos += photos
            thread_of[tweet_id] = thread_of[parent]
            continue
        if parent and not keep_replies:
            continue  # a reply to someone else (or to a post not in the archive)
        lang = _string(tweet.get("lang"))
        key = hashlib.sha256(f"x:{tweet_id}".encode()).hexdigest()[:12]
        body = _x_html(tweet)
        entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
        stories[key] = ImportedStory(
            key=key, slug=f"imported-{key}", lang=lang if is_valid_tag(lang) else default_lang,
            title=_title(body), date=published,
            tags=[t for t in (_tag(_string(h.get("text")))
                              for h in _dicts(entities.get("hashtags"))) if t],
            content_warning="", body=body, photos=photos)
        thread_of[tweet_id] = key
    return list(stories.values())


def _x_photos(bundle: _Zip, tweet_id: str, tweet: dict[str, Any]
              ) -> list[tuple[str, str, bytes]]:
    found = []
    for media in _x_media(tweet):
        if media.get("type", "photo") != "photo":
            continue
        url = _string(media.get("media_url_https") or media.get("media_url"))
        file_name = f"{tweet_id}-{PurePosixPath(url).name}"
        path = f"data/tweets_media/{file_name}"
        if path not in bundle:
            raise ArchiveError(f"{path[:200]} is named by tweet {tweet_id} but missing from "
                               "the archive")
        found.append(_photo(bundle, path, file_name, media.get("ext_alt_text")))
    return found


def story_markdown(story: ImportedStory, territory: str, author: str, photo_folder: str
                   ) -> str:
    """The story file: the same fields as any story, marked as imported. Every value is
    one line, so nothing in an archive can add a field."""
    values = {"title": story.title, "date": f"{story.date:%Y-%m-%d %H:%M}", "authors": author,
              "territory": territory, "tags": ", ".join(story.tags), "lang": story.lang,
              "content-warning": story.content_warning, "slug": story.slug}
    header = [f"{f.name}: {one_line(values[f.key])}" for f in FIELDS if one_line(
        values.get(f.key) or "")]
    header.append("Imported: true")
    body = story.body
    for name, alt, _data in story.photos:
        alt_text = one_line(alt).replace("[", "(").replace("]", ")") or \
            "Photo from the archive (no description)"
        body += f"\n\n![{alt_text}]({photo_folder}/{story.key}-{name})"
    return "\n".join(header) + "\n\n" + body + "\n"
