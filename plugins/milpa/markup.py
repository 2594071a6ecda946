"""HTML for photos and videos: responsive, lazy, sized, and nothing loaded before it is needed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from urllib.parse import urljoin, urlsplit

from .images import AVIF, JPEG, WEBP, ProcessedImage, Rendition
from .video import MP4, WEBM, ProcessedVideo, duration_text

# The story column (theme/templates/milpa.css: `main`, 40em of a 1.06rem font, 1em padding
# each side, border-box) is 678 px wide at most, 644 px inside; below that, photos span the
# screen less the padding (34 px). In px: `sizes` reads em as 16 px, not the theme's.
COLUMN_SIZES = "(min-width: 678px) 644px, calc(100vw - 34px)"
THUMBNAIL_SIZES = "8em"
# What each <source> of a <picture> offers, in the order browsers try them: per width, the
# lightest file of its type or of an older one (every browser that decodes AVIF decodes
# WebP too), so choosing a newer format never costs more than the JPEG.
_SOURCES = ((AVIF, (AVIF, WEBP, JPEG)), (WEBP, (WEBP, JPEG)))


@dataclass(frozen=True)
class Photo:
    """A processed photo as published: its renditions, its alt text and where they live."""

    image: ProcessedImage
    alt: str
    base_url: str  # URL of the media folder, without trailing slash
    source: str  # path inside content/, for messages and later federation

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def srcset(self, *media_types: str) -> str:
        return ", ".join(f"{self.url(r.name)} {r.width}w"
                         for r in self.image.lightest(media_types))

    def picture(self, sizes: str = COLUMN_SIZES, lazy: bool = True, width: int = 640) -> str:
        """A ``<picture>``: AVIF, then WebP, where the browser takes them; JPEG otherwise."""
        fallback = self.image.closest(width, JPEG)
        loading = ' loading="lazy"' if lazy else ""
        sources = "".join(
            f'<source type="{media_type}" srcset="{self.srcset(*offered)}" sizes="{sizes}">'
            for media_type, offered in _SOURCES if self.image.of_type(media_type))
        return (
            f"<picture>{sources}"
            f'<img src="{self.url(fallback.name)}" srcset="{self.srcset(JPEG)}" sizes="{sizes}" '
            f'width="{fallback.width}" height="{fallback.height}" alt="{escape(self.alt)}"'
            f'{loading} decoding="async"></picture>'
        )

    def thumbnail(self) -> str:
        return self.picture(sizes=THUMBNAIL_SIZES, width=160)

    def img(self, width: int = 640) -> str:
        """A plain ``<img>`` of one JPEG rendition, for feed readers and e-mail."""
        jpeg = self.image.closest(width, JPEG)
        return (f'<img src="{self.url(jpeg.name)}" width="{jpeg.width}" height="{jpeg.height}" '
                f'alt="{escape(self.alt)}">')

    def preview(self) -> Rendition:
        """The small JPEG that link previews (Open Graph) fetch."""
        return self.image.closest(640, JPEG)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class Video:
    video: ProcessedVideo
    poster: Photo
    label: str

    def html(self) -> str:
        """Nothing is downloaded until the reader presses play, and the caption says what it
        costs first: the player gets the smallest rendition (the WebM where the browser
        plays it, else the MP4, whose size the caption gives: the most it can cost); each
        MP4, which plays everywhere, is a download link."""
        shown = self.video.of_type(MP4)[0]
        lighter = self.video.same_size(shown, WEBM)
        sources = [r for r in (lighter, shown) if r is not None]
        poster = self.poster.image.closest(640, JPEG)
        facts = f"Video, {duration_text(self.video.duration)}, {human_size(shown.size)}."
        downloads = " ".join(
            f'<a href="{self.poster.url(r.name)}" download>{min(r.width, r.height)}p '
            f"({human_size(r.size)})</a>" for r in self.video.of_type(MP4))
        return (
            f'<figure class="video"><video controls preload="none" '
            f'poster="{self.poster.url(poster.name)}" width="{shown.width}" '
            f'height="{shown.height}" aria-label="{escape(self.label)}">'
            + "".join(f'<source src="{self.poster.url(r.name)}" type="{r.media_type}">'
                      for r in sources)
            + f"</video><figcaption>{escape(self.label)} <small>{facts} "
            f"Download: {downloads}</small></figcaption></figure>"
        )


_URL_ATTRIBUTE = re.compile(r'\b(href|src|poster|srcset)="([^"]*)"')
_ABSOLUTE = ("https://", "http://", "mailto:", "data:")


def absolute_urls(html: str, base: str) -> str:
    """Every link and source in ``html`` made absolute against ``base`` (a page's URL)."""

    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"

    def joined(url: str) -> str:
        # The common cases, absolute (SITEURL set) or site-relative (SITEURL empty), need
        # no parsing; urljoin handles the rest.
        if url.startswith(_ABSOLUTE):
            return url
        if url.startswith("/") and not url.startswith("//"):
            return origin + url
        return urljoin(base, url)

    def absolute(match: re.Match[str]) -> str:
        name, value = match[1], match[2]
        if name == "srcset":
            candidates = (c.strip().split(" ", 1) for c in value.split(","))
            value = ", ".join(" ".join([joined(c[0]), *c[1:]]) for c in candidates)
        else:
            value = joined(value)
        return f'{name}="{value}"'

    return _URL_ATTRIBUTE.sub(absolute, html)
