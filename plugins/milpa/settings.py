"""Milpa's settings: ordinary Pelican settings with the ``MILPA_`` prefix, defaults here.

Settings are read, never written back: the Pelican settings dict stays as the user gave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .i18n import DEFAULT_FALLBACKS
from .images import DEFAULT_MAX_PIXELS, ImageOptions
from .video import VideoOptions

DEFAULTS: dict[str, Any] = {
    # Output folder (under OUTPUT_PATH) for photo renditions, posters and videos.
    "MILPA_MEDIA_PATH": "media",
    # Rendition widths in pixels; a photo is never enlarged.
    "MILPA_IMAGE_WIDTHS": (360, 540, 720, 1080),
    "MILPA_IMAGE_WEBP_QUALITY": 70,
    "MILPA_IMAGE_JPEG_QUALITY": 72,
    # AVIF beside WebP and JPEG where Pillow writes it (kept only where lighter than both).
    "MILPA_IMAGE_AVIF": True,
    "MILPA_IMAGE_AVIF_QUALITY": 35,
    # Make the smallest rendition grayscale: about a third lighter, for the slowest links.
    "MILPA_IMAGE_GRAYSCALE_SMALLEST": False,
    # Where processed photos and videos are kept between builds (default: CACHE_PATH/milpa-media).
    "MILPA_MEDIA_CACHE": None,
    # Videos: renditions by their short edge (never enlarged), and the limits past which a
    # video is refused rather than re-encoded: length, frame size, time spent encoding.
    "MILPA_VIDEO_HEIGHTS": (360, 720),
    "MILPA_VIDEO_MAX_SECONDS": 600,
    "MILPA_VIDEO_MAX_PIXELS": 3840 * 2160,
    "MILPA_VIDEO_TIMEOUT": 1800,
    # A VP9 WebM beside each MP4: about half the bytes for browsers that play it, twice
    # the encoding time.
    "MILPA_VIDEO_WEBM": False,
    # `check` flags source photos bigger than this, to keep the repository small.
    "MILPA_MAX_SOURCE_IMAGE_BYTES": 8_000_000,
    # `check` and `build` refuse pictures with more pixels than this, read from the file's
    # header before anything is decoded (a PNG of a few KB can claim a gigabyte of pixels).
    # Pillow itself refuses anything over twice the default, whatever this says.
    "MILPA_MAX_IMAGE_PIXELS": DEFAULT_MAX_PIXELS,
    # The moment expiry is judged against (default: the time of the build). For tests.
    "MILPA_NOW": None,
    # Set by `publish.py build`, which leaves broken stories out itself; plain `pelican
    # content` (False) stops before writing anything when a story has an error.
    "MILPA_LEAVES_OUT_BROKEN": False,
    # Language pages: a list of languages and one page of stories per language.
    "MILPA_LANGUAGE_URL": "lang/{lang}/",
    "MILPA_LANGUAGE_SAVE_AS": "lang/{lang}/index.html",
    "MILPA_LANGUAGES_URL": "lang/",
    "MILPA_LANGUAGES_SAVE_AS": "lang/index.html",
    # Names shown for language tags, where a community prefers its own to CLDR's autonym.
    "MILPA_LANGUAGE_NAMES": {},
    # Interface language of a story with no catalog of its own: tag → languages to try, then
    # DEFAULT_LANG. Default: indigenous languages of Mexico and Guatemala → Spanish.
    "MILPA_LANGUAGE_FALLBACKS": DEFAULT_FALLBACKS,
    # Folders with the site's own interface catalogs (<lang>/LC_MESSAGES/milpa.po), tried
    # before the bundled ones: how a community adds its language or changes a wording.
    "MILPA_LOCALE_PATHS": (),
    # SITESUBTITLE in other languages, shown where the interface speaks them: {"es": "…"}.
    # (Bios in MILPA_AUTHORS / MILPA_TERRITORIES take "summaries" the same way.)
    "MILPA_SITESUBTITLES": {},
    # Where the site answers when SITEURL is empty (local builds): feeds and, later,
    # ActivityPub documents need absolute URLs.
    "MILPA_LOCAL_SITEURL": "http://127.0.0.1:8000",
    # Feeds: Atom and RSS for the site and for each territory, tag, author and language.
    "MILPA_FEED_ALL_ATOM": "feeds/all.atom.xml",
    "MILPA_FEED_ALL_RSS": "feeds/all.rss.xml",
    "MILPA_FEED_TERRITORY_ATOM": "feeds/territory/{slug}.atom.xml",
    "MILPA_FEED_TERRITORY_RSS": "feeds/territory/{slug}.rss.xml",
    "MILPA_FEED_TAG_ATOM": "feeds/tag/{slug}.atom.xml",
    "MILPA_FEED_TAG_RSS": "feeds/tag/{slug}.rss.xml",
    "MILPA_FEED_AUTHOR_ATOM": "feeds/author/{slug}.atom.xml",
    "MILPA_FEED_AUTHOR_RSS": "feeds/author/{slug}.rss.xml",
    "MILPA_FEED_LANGUAGE_ATOM": "feeds/lang/{slug}.atom.xml",
    "MILPA_FEED_LANGUAGE_RSS": "feeds/lang/{slug}.rss.xml",
    # Entries per feed, newest first: small feeds for slow links.
    "MILPA_FEED_MAX_ITEMS": 20,
    # "full" or "summary": what the big feeds (the whole site, each language) carry.
    # Territory, tag and author feeds always carry full stories.
    "MILPA_FEED_SITE_CONTENT": "full",
    # A WebSub hub: feeds name it, and `publish.py build` tells it which feeds changed.
    "MILPA_WEBSUB_HUB": None,
    # The Fediverse. The actors' key pair lives here (never under content/ or output/).
    "MILPA_KEYS_PATH": "keys",
    # Plain-file state written by the inbox (followers, replies); the build only reads it.
    "MILPA_DATA_PATH": "data",
    # The site actor: @MILPA_ACTOR_USERNAME@host.
    "MILPA_ACTOR_USERNAME": "stories",
    "MILPA_ACTOR_NAME": None,  # default: SITENAME
    "MILPA_ACTOR_SUMMARY": None,  # HTML; default: SITESUBTITLE
    # Person, Organization, Group, Service or Application: see FEDERATION.md for what
    # Mastodon shows for each.
    "MILPA_ACTOR_TYPE": "Organization",
    # The site's logo, a picture under content/ ("photos/logo.png"): shown in the header
    # beside SITENAME, and made into the tab and home-screen icons. None: SITENAME alone.
    "MILPA_LOGO": None,
    "MILPA_ACTOR_ICON": None,  # avatar, a photo under content/
    "MILPA_ACTOR_IMAGE": None,  # header image, a photo under content/
    "MILPA_ACTOR_LINKS": (),  # (label, URL) pairs shown on the profile
    "MILPA_ACTOR_ALSO_KNOWN_AS": (),  # earlier accounts of this actor (for Move)
    "MILPA_MANUALLY_APPROVES_FOLLOWERS": False,
    "MILPA_DISCOVERABLE": True,  # may appear in directories and suggestions
    "MILPA_INDEXABLE": True,  # stories may be found by full-text search
    # One actor per author (type Person) and per territory (type Group); each family can
    # be turned off. MILPA_AUTHORS / MILPA_TERRITORIES give them a bio and an avatar:
    # {"Rosa Ventura": {"summary": "…", "icon": "photos/rosa.jpg"}}.
    "MILPA_AUTHOR_ACTORS": True,
    "MILPA_TERRITORY_ACTORS": True,
    "MILPA_AUTHORS": {},
    "MILPA_TERRITORIES": {},
    # Note (Mastodon shows the whole story) or Article (Mastodon shows a title and link).
    "MILPA_OBJECT_TYPE": "Note",
    "MILPA_OUTBOX_PAGE_SIZE": 20,
    # Who may quote a story (FEP-044f), unless its Quote-Policy says otherwise: author,
    # followers (of the story's actor), public or nobody. See FEDERATION.md.
    "MILPA_QUOTE_POLICY": "author",
    # Quote stamps the inbox keeps per quoting account, and in all; past either, requests
    # are rejected (one server can mint accounts to fill the disk otherwise).
    "MILPA_QUOTE_STAMPS_PER_ACTOR": 200,
    "MILPA_QUOTE_STAMPS_TOTAL": 10_000,
    # The inbox: the largest body it reads, and whether it may fetch keys from loopback
    # addresses (only for tests and local previews: it is how SSRF starts).
    "MILPA_INBOX_MAX_BODY": 256 * 1024,
    "MILPA_INBOX_ALLOW_LOOPBACK": False,
    # Host names signed requests may be addressed to besides the SITEURL's (the public
    # name, when the inbox runs behind a proxy under another one).
    "MILPA_INBOX_HOSTS": (),
    # Seconds a client has to send its request headers (and to stay idle between
    # requests) and to send a whole body: slow clients must not hold the service.
    "MILPA_INBOX_HEADER_TIMEOUT": 10,
    "MILPA_INBOX_BODY_TIMEOUT": 10,
    # Connections `serve` and `inbox` hold at once; past it the oldest is closed.
    "MILPA_INBOX_MAX_CONNECTIONS": 512,
    # Refused before anything is stored (with `publish.py block import` adding to them).
    "MILPA_BLOCKED_DOMAINS": (),
    "MILPA_BLOCKED_ACTORS": (),
    # Approved replies show under their story; their remote images only if allowed
    # (each one is a request to another server from every reader's browser).
    "MILPA_REPLIES_ALLOW_IMAGES": False,
    # Held replies kept for moderation, per remote actor and in all; more are not stored
    # (the inbox still answers 202), so one account cannot fill the disk or the queue.
    "MILPA_REPLIES_HELD_PER_ACTOR": 20,
    "MILPA_REPLIES_HELD_TOTAL": 2000,
    # Announce: deliveries at once (in all, and to one server), and tries before giving up
    # (with backoff from a minute to a day between them, that is about two weeks).
    "MILPA_DELIVERY_CONCURRENCY": 20,
    "MILPA_DELIVERY_PER_HOST": 2,
    "MILPA_DELIVERY_MAX_ATTEMPTS": 16,
    "MILPA_DELIVERY_MAX_DAYS": 14,
    "MILPA_DELIVERY_READ_TIMEOUT": 10,
    # Bluesky through Bridgy Fed (`publish.py bridge on|off ACTOR`; no actor is bridged
    # until asked): the bridge's actor, and the domain its Bluesky handles end in.
    "MILPA_BRIDGE_ACTOR": "https://bsky.brid.gy/bsky.brid.gy",
    "MILPA_BRIDGE_HANDLE_DOMAIN": "ap.brid.gy",
    # The DID of the site's Bluesky account, to use the site's domain as its handle: the
    # build writes it to /.well-known/atproto-did. None: no such file.
    "MILPA_ATPROTO_DID": None,
}


def setting(settings: Mapping[str, Any], name: str) -> Any:
    return settings.get(name, DEFAULTS[name])


def site_url(settings: Mapping[str, Any]) -> str:
    """The site's absolute address, without a trailing slash."""
    configured = settings.get("FEED_DOMAIN") or settings.get("SITEURL")
    return (configured or setting(settings, "MILPA_LOCAL_SITEURL")).rstrip("/")


def image_options(settings: Mapping[str, Any]) -> ImageOptions:
    return ImageOptions(
        widths=tuple(setting(settings, "MILPA_IMAGE_WIDTHS")),
        webp_quality=setting(settings, "MILPA_IMAGE_WEBP_QUALITY"),
        jpeg_quality=setting(settings, "MILPA_IMAGE_JPEG_QUALITY"),
        avif_quality=setting(settings, "MILPA_IMAGE_AVIF_QUALITY"),
        avif=setting(settings, "MILPA_IMAGE_AVIF"),
        grayscale_smallest=setting(settings, "MILPA_IMAGE_GRAYSCALE_SMALLEST"),
        max_pixels=setting(settings, "MILPA_MAX_IMAGE_PIXELS"),
    )


def video_options(settings: Mapping[str, Any]) -> VideoOptions:
    return VideoOptions(
        heights=tuple(setting(settings, "MILPA_VIDEO_HEIGHTS")),
        max_seconds=setting(settings, "MILPA_VIDEO_MAX_SECONDS"),
        max_pixels=setting(settings, "MILPA_VIDEO_MAX_PIXELS"),
        timeout_seconds=setting(settings, "MILPA_VIDEO_TIMEOUT"),
        webm=setting(settings, "MILPA_VIDEO_WEBM"),
    )


def media_cache_folder(settings: Mapping[str, Any]) -> Path:
    configured = setting(settings, "MILPA_MEDIA_CACHE")
    return Path(configured or Path(settings.get("CACHE_PATH", "cache")) / "milpa-media")


def site_zone(settings: Mapping[str, Any]) -> tzinfo:
    return ZoneInfo(settings.get("TIMEZONE") or "UTC")


def now(settings: Mapping[str, Any]) -> datetime:
    configured = setting(settings, "MILPA_NOW")
    if configured is None:
        return datetime.now(UTC)
    if isinstance(configured, str):
        configured = datetime.fromisoformat(configured)
    return configured if configured.tzinfo else configured.replace(tzinfo=site_zone(settings))
