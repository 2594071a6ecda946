"""Who publishes on the Fediverse: the site, each author, each territory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from milpa.activitypub import ActorProfile, Media
from milpa.images import JPEG
from milpa.settings import image_options, media_cache_folder, setting
from milpa_media.rewrite import media_caches

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Actor:
    """An actor and the stories it publishes (``own``) or shares (``shared``)."""

    profile: ActorProfile
    kind: str  # site, author or territory
    # Pages show the stories themselves, never from here (milpa_site.memo leaves it out).
    stories: list[Any] = field(default_factory=list, metadata={"in_pages": False})
    # Files the actor's avatar and header need in the media folder: (cache file, name).
    media_files: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.profile.name


def actor_name(slug: str) -> str:
    """Pelican slugs use hyphens; Mastodon's usernames are letters, digits and underscores."""
    return slug.replace("-", "_")


class ActorMedia:
    """Avatars and header images, through the same pipeline as story photos."""

    def __init__(self, settings: dict[str, Any], base: str) -> None:
        self.root = Path(settings["PATH"])
        self.photos, _ = media_caches(media_cache_folder(settings), image_options(settings))
        self.media_url = f"{base}/{setting(settings, 'MILPA_MEDIA_PATH')}/"

    def media(self, reference: str | None, width: int, files: list[tuple[Path, str]]
              ) -> Media | None:
        if not reference:
            return None
        path = self.root / reference
        if not path.is_file():
            raise FileNotFoundError(f"profile image {reference} not found under {self.root}")
        described, entry = self.photos.process_file(path)
        rendition = described.closest(width, JPEG)
        files.append((entry / rendition.name, rendition.name))
        return Media(urljoin(self.media_url, rendition.name), JPEG, rendition.width,
                     rendition.height, blurhash=described.blurhash)


def _first_date(stories: list[Any]) -> datetime:
    return min((story.date for story in stories), default=_EPOCH)


def site_actor(settings: dict[str, Any], base: str, stories: list[Any], media: ActorMedia
               ) -> Actor:
    files: list[tuple[Path, str]] = []
    profile = ActorProfile(
        name=setting(settings, "MILPA_ACTOR_USERNAME"),
        display_name=setting(settings, "MILPA_ACTOR_NAME") or settings.get("SITENAME", ""),
        summary=setting(settings, "MILPA_ACTOR_SUMMARY")
        or f"<p>{escape(settings.get('SITESUBTITLE', ''))}</p>",
        type=setting(settings, "MILPA_ACTOR_TYPE"),
        page_url=f"{base}/",
        published=_first_date(stories),
        icon=media.media(setting(settings, "MILPA_ACTOR_ICON"), 400, files),
        image=media.media(setting(settings, "MILPA_ACTOR_IMAGE"), 1024, files),
        links=tuple(tuple(link) for link in setting(settings, "MILPA_ACTOR_LINKS")),
        also_known_as=tuple(setting(settings, "MILPA_ACTOR_ALSO_KNOWN_AS")),
        manually_approves_followers=setting(settings, "MILPA_MANUALLY_APPROVES_FOLLOWERS"),
        discoverable=setting(settings, "MILPA_DISCOVERABLE"),
        indexable=setting(settings, "MILPA_INDEXABLE"),
    )
    return Actor(profile, "site", list(stories), files)


def family_actor(kind: str, wrapper: Any, stories: list[Any], settings: dict[str, Any],
                 base: str, media: ActorMedia, site: Actor) -> Actor:
    """An author (Person) or a territory (Group), described by MILPA_AUTHORS/TERRITORIES."""
    described = setting(settings, "MILPA_AUTHORS" if kind == "author" else
                        "MILPA_TERRITORIES").get(str(wrapper), {})
    site_name = escape(site.profile.display_name)
    default_summary = (f"<p>Stories by {escape(str(wrapper))} on {site_name}</p>"
                       if kind == "author" else
                       f"<p>Stories from {escape(str(wrapper))}, on {site_name}</p>")
    files: list[tuple[Path, str]] = []
    profile = ActorProfile(
        name=actor_name(wrapper.slug),
        display_name=str(wrapper),
        summary=described.get("summary") or default_summary,
        type="Person" if kind == "author" else "Group",
        page_url=urljoin(base + "/", wrapper.url),
        published=_first_date(stories),
        icon=media.media(described.get("icon"), 400, files) or site.profile.icon,
        image=media.media(described.get("image"), 1024, files) or site.profile.image,
        links=tuple(tuple(link) for link in described.get("links", ())),
        also_known_as=tuple(described.get("also_known_as", ())),
        manually_approves_followers=site.profile.manually_approves_followers,
        discoverable=site.profile.discoverable,
        indexable=site.profile.indexable,
    )
    return Actor(profile, kind, list(stories), files + site.media_files)
