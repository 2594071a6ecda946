"""Story HTML made safe and simple for other servers, with the nh3 (Ammonia) sanitiser."""

from __future__ import annotations

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
    return nh3.clean(html, tags=tags, attributes=attributes,
                     clean_content_tags=_DROPPED_WITH_CONTENT, url_schemes={"http", "https"},
                     link_rel="nofollow ugc noopener").strip()


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
