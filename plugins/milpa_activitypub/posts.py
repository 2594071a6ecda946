"""A story as a Fediverse post: sanitised content, hashtags, photos as attachments."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urljoin

from markupsafe import Markup

from milpa.activitypub import ApUrls, Media, StoryPost, hashtag_name
from milpa.images import JPEG
from milpa.markup import Photo, absolute_urls
from milpa.sanitize import fediverse_html

# Mastodon shows at most four attachments.
MAX_ATTACHMENTS = 4


def _photo_media(photo: Photo, page_url: str) -> Media:
    rendition = photo.image.closest(1024, JPEG)
    return Media(urljoin(page_url, photo.url(rendition.name)), JPEG, rendition.width,
                 rendition.height, photo.alt, photo.image.blurhash)


def attachments(story: Any, page_url: str) -> tuple[Media, ...]:
    """The cover, then the story's photos and videos, each once, at most four."""
    found: list[Media] = []
    sources: set[str] = set()
    photos = [story.cover, *story.photos] if story.cover else list(story.photos)
    for photo in photos:
        if photo.source not in sources:
            sources.add(photo.source)
            found.append(_photo_media(photo, page_url))
    for video in story.videos:
        found.append(Media(urljoin(page_url, video.poster.url(video.video.name)),
                           video.video.media_type, video.video.width, video.video.height,
                           video.label, video.poster.image.blurhash))
    return tuple(found[:MAX_ATTACHMENTS])


def hashtag_links(tags: list[tuple[str, str]]) -> str:
    """Hashtags as Mastodon writes them, so its apps link them to their timelines."""
    links = " ".join(
        f'<a href="{href}" class="mention hashtag" rel="tag">#<span>'
        f"{escape(hashtag_name(name)[1:])}</span></a>" for name, href in tags)
    return f"<p>{links}</p>" if links else ""


def story_post(story: Any, base: str, author_id: str, audience: tuple[str, ...],
               object_type: str) -> StoryPost:
    page_url = urljoin(base + "/", story.url)
    tags = [(str(tag), urljoin(base + "/", tag.url)) for tag in getattr(story, "tags", [])]
    # Sanitised first: the photos' markup goes, and with it most URLs to rewrite.
    body = absolute_urls(fediverse_html(story.content), page_url)
    title = escape(story.title)
    if object_type == "Note":
        # A Note has no title of its own: the story's opens its text.
        content = f"<p><strong>{title}</strong></p>{body}{hashtag_links(tags)}"
    else:
        content = f"{body}{hashtag_links(tags)}"
    return StoryPost(
        lang=story.lang, slug=story.ap_slug, title=story.title, url=page_url,
        attributed_to=author_id, content=content, published=story.date,
        updated=getattr(story, "modified", None), content_warning=story.content_warning,
        tags=tuple(tags), attachments=attachments(story, page_url), audience=audience,
        summary=escape(Markup(story.summary).striptags(), quote=False),
        replies=tuple(shown.reply.id for shown in getattr(story, "replies", [])),
    )


def story_id(story: Any, urls: ApUrls) -> str:
    return urls.story(story.lang, story.ap_slug)
