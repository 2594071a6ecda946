"""Text from elsewhere made safe: story HTML for other servers (nh3, the Ammonia sanitiser),
reply HTML for our pages, plain text for names and terminals, and links that are only links.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import nh3

# What Mastodon keeps of remote HTML (its sanitize config), so we send nothing it drops.
_TAGS = {"p", "br", "span", "a", "del", "pre", "code", "em", "strong", "b", "i", "u", "ul",
         "ol", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "sup", "sub"}
_ATTRIBUTES = {"a": {"href", "rel", "class", "hreflang"}, "span": {"class", "lang"},
               "ol": {"start", "reversed"}, "li": {"value"}, "p": {"lang"}}
# Media travel as attachments; their markup would only leave empty shells behind.
_DROPPED_WITH_CONTENT = {"picture", "figure", "video", "audio", "script", "style", "details",
                         "summary", "noscript", "iframe", "object", "svg", "math"}


def fediverse_html(html: str) -> str:
    """Allowlisted tags and attributes only; media and scripts removed with their content."""
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES,
                     clean_content_tags=_DROPPED_WITH_CONTENT,
                     url_schemes={"http", "https", "mailto"}, link_rel=None).strip()


_REPLY_TAGS = {"p", "br", "span", "a", "em", "strong", "b", "i", "u", "del", "ul", "ol", "li",
               "blockquote", "code", "pre"}


def reply_html(html: str, allow_images: bool = False) -> str:
    """A reply from another server, safe to put on our page.

    Untrusted: allowlisted tags only, no attributes but links (and, when allowed, image
    sources and alt text), links marked as user content. Remote images would make readers'
    browsers call another server, so they are dropped unless the site allows them.
    """
    tags = _REPLY_TAGS | ({"img"} if allow_images else set())
    attributes = {"a": {"href"}, **({"img": {"src", "alt"}} if allow_images else {})}
    # Bidi controls go too: an unclosed override in a reply could disguise what follows it.
    return _BIDI.sub("", nh3.clean(html, tags=tags, attributes=attributes,
                                   clean_content_tags=_DROPPED_WITH_CONTENT,
                                   url_schemes={"http", "https"},
                                   link_rel="nofollow ugc noopener")).strip()


# Embeddings, overrides, isolates and marks: they reorder what readers and editors see.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def plain_text(value: object, limit: int = 200) -> str:
    """A name or a line from another server as plain text: no control characters (C0, C1,
    so no terminal escapes), no bidi controls, one line, at most ``limit`` characters."""
    if not isinstance(value, str):
        return ""
    kept = "".join(" " if char in "\t\n\r" else char for char in _BIDI.sub("", value)
                   if char in "\t\n\r" or unicodedata.category(char) != "Cc")
    return " ".join(kept.split())[:limit]


MAX_URL = 2048


def web_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else None: anything else
    (``javascript:``, ``data:``, relative) must never become a link."""
    if not isinstance(value, str) or len(value) > MAX_URL or value != value.strip():
        return None
    if any(unicodedata.category(char) in ("Cc", "Zs") for char in value) or _BIDI.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.hostname else None


_ARCHIVE_TAGS = {"p", "br", "a", "span"}


def _web_links_only(tag: str, attribute: str, value: str) -> str | None:
    """Relative links would point into our own site (and Pelican rewrites some): gone."""
    if attribute == "href" and not value.lower().startswith(("http://", "https://")):
        return None
    return value


def archive_html(html: str) -> str:
    """A post from another platform's archive: paragraphs, line breaks and web links only."""
    return nh3.clean(html, tags=_ARCHIVE_TAGS, attributes={"a": {"href"}},
                     clean_content_tags=_DROPPED_WITH_CONTENT, url_schemes={"http", "https"},
                     attribute_filter=_web_links_only, link_rel=None).strip()
