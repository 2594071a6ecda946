"""Turn the photos and videos a story references into safe renditions and their markup.

Runs on each content object as Pelican creates it, before anything is rendered, so the
original files' paths never reach a page and every page sees the processed media.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from PIL import Image

from milpa.checks import media_not_found, missing_alt, not_media, remote_media
from milpa.images import PHOTO_SUFFIXES, ImageOptions, RenditionCache
from milpa.markup import Photo, Video
from milpa.references import is_remote, line_of, relative_to_cwd, resolve
from milpa.settings import image_options, media_cache_folder, setting, video_options
from milpa.video import VIDEO_TYPES, VideoCache, VideoError, VideoOptions

logger = logging.getLogger(__name__)

# A photo alone in its paragraph becomes a figure (<figure> may not sit inside <p>);
# any other <img> is replaced where it stands. One pass, so new markup is never re-read.
_MEDIA = re.compile(r"<p>\s*(?P<alone><img\b[^>]*>)\s*</p>|(?P<inline><img\b[^>]*>)",
                    re.IGNORECASE)


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found = {name: value or "" for name, value in attrs}

    handle_startendtag = handle_starttag


def attributes_of(tag: str) -> dict[str, str]:
    parser = _Attributes()
    parser.feed(tag)
    return parser.found


_DEFAULT_VIDEO = VideoOptions()


@lru_cache(maxsize=8)
def media_caches(folder: Path, options: ImageOptions, video: VideoOptions = _DEFAULT_VIDEO
                 ) -> tuple[RenditionCache, VideoCache]:
    """One pair of caches per cache folder and options, shared by every story of a build
    (the actors' photos need only the first)."""
    return RenditionCache(folder, options), VideoCache(folder, video)


@dataclass
class MediaFiles:
    """What one content object publishes: (file in the cache, name in the media folder)."""

    files: list[tuple[Path, str]] = field(default_factory=list)


class StoryMedia:
    """Media processing for one story: resolves references, processes, reports problems."""

    def __init__(self, instance: Any) -> None:
        settings = instance.settings
        self.story = Path(instance.source_path)
        self.cover = instance.metadata.get("cover")
        self.content_root = Path(settings["PATH"])
        self.base_url = f"{settings.get('SITEURL', '')}/{setting(settings, 'MILPA_MEDIA_PATH')}"
        self.photos, self.videos = media_caches(media_cache_folder(settings),
                                                image_options(settings), video_options(settings))
        self.published = MediaFiles()

    def problem(self, reference: str, message: str) -> None:
        line = line_of(self.story.read_text(encoding="utf-8"), reference)
        logger.error("%s:%d: %s", relative_to_cwd(self.story), line, message)

    def source_of(self, reference: str, alt: str | None) -> Path | None:
        if is_remote(reference):
            self.problem(reference, remote_media(reference))
            return None
        path = resolve(reference, self.story, self.content_root)
        if not path.is_file():
            self.problem(reference, media_not_found(reference, path))
            return None
        if not (alt or "").strip():
            self.problem(reference, missing_alt(reference, cover=reference == self.cover))
            return None
        return path

    def photo(self, reference: str, alt: str | None) -> Photo | None:
        path = self.source_of(reference, alt)
        if path is None:
            return None
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            self.problem(reference, not_media(reference))
            return None
        try:
            described, entry = self.photos.process_file(path)
        except (OSError, Image.DecompressionBombError) as error:
            self.problem(reference, f"{reference} could not be read as an image: {error}")
            return None
        self.published.files += [(entry / r.name, r.name) for r in described.renditions]
        return Photo(described, (alt or "").strip(), self.base_url,
                     path.relative_to(self.content_root).as_posix())

    def video(self, reference: str, label: str | None) -> Video | None:
        path = self.source_of(reference, label)
        if path is None:
            return None
        try:
            described, entry = self.videos.process(path)
        except VideoError as error:
            self.problem(reference, f"video {reference} {error}")
            return None
        poster = self.photo_from_file(entry / described.poster, label or "", reference)
        self.published.files += [(entry / r.name, r.name) for r in described.renditions]
        return Video(described, poster, (label or "").strip())

    def photo_from_file(self, path: Path, alt: str, reference: str) -> Photo:
        described, entry = self.photos.process(path.read_bytes(), Path(reference).stem + "-poster")
        self.published.files += [(entry / r.name, r.name) for r in described.renditions]
        return Photo(described, alt, self.base_url, reference)

    def replace(self, tag: str, block: bool, photos: list[Photo], videos: list[Video]) -> str:
        found = attributes_of(tag)
        reference, alt = found.get("src", ""), found.get("alt")
        if Path(reference.split("?")[0]).suffix.lower() in VIDEO_TYPES:
            video = self.video(reference, alt)
            if video is None:
                return ""
            videos.append(video)
            return video.html()
        photo = self.photo(reference, alt)
        if photo is None:
            return ""
        photos.append(photo)
        if not block:
            return photo.picture()
        caption = found.get("title", "").strip()
        figcaption = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f"<figure>{photo.picture()}{figcaption}</figure>"


def process_media(instance: Any) -> None:
    """content_object_init handler: every <img> and the cover become processed media."""
    content = getattr(instance, "_content", None) or ""
    cover_reference = instance.metadata.get("cover")
    instance.photos, instance.videos, instance.cover = [], [], None
    nothing_to_do = "<img" not in content.lower() and not cover_reference
    if nothing_to_do or getattr(instance, "expired", False):
        instance.media_files = MediaFiles()
        return
    media = StoryMedia(instance)
    if cover_reference:
        instance.cover = media.photo(cover_reference, instance.metadata.get("cover-alt"))

    def replaced(match: re.Match[str]) -> str:
        alone = match["alone"] is not None
        return media.replace(match["alone"] or match["inline"], alone, instance.photos,
                             instance.videos)

    instance._content = _MEDIA.sub(replaced, content)
    instance.media_files = media.published
