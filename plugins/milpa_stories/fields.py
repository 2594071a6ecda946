"""Read Milpa's story fields onto Pelican's content objects, reporting bad values by line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from pelican.urlwrappers import Author, Category, Tag, URLWrapper

from milpa.activitypub import hashtag_name
from milpa.frontmatter import read_front_matter
from milpa.languages import is_valid_tag
from milpa.quotes import quote_policy
from milpa.references import relative_to_cwd
from milpa.settings import now, site_zone
from milpa.stories import expiry_time, parse_bool, status_problem

logger = logging.getLogger(__name__)


def normalise_fields(generator: Any, metadata: dict[str, Any]) -> None:
    """*_generator_context handler: empty fields are unset; ``Territory:`` is the category.

    ``publish.py new`` writes every field, leaving the optional ones empty for later.
    """
    # Not `value in ("", [], None)`: that compares every Tag and Category with "" and [],
    # and Pelican's __eq__ slugifies both sides each time.
    for key in [key for key, value in metadata.items()
                if value is None or (isinstance(value, str | list) and not value)]:
        del metadata[key]
    # An unknown status ('publicado') is reported by the check, with its line, which
    # stops the build; here it only keeps the story from being published by mistake.
    status = metadata.get("status")
    if isinstance(status, str) and status_problem(status):
        metadata["status"] = "draft"
    # A tag has one name everywhere: the hashtag followers see (#LandDefence) is the
    # name on the story's page, its tag page and its feed.
    if metadata.get("tags"):
        metadata["tags"] = [_tag(generator, str(tag)) for tag in metadata["tags"]]
    territory = metadata.pop("territory", None)
    if territory:
        metadata["category"] = _shared(generator, Category, territory)
    if metadata.get("authors"):
        metadata["authors"] = [_shared(generator, Author, author.name)
                               if type(author) is Author else author
                               for author in metadata["authors"]]
    if type(metadata.get("author")) is Author:
        metadata["author"] = _shared(generator, Author, metadata["author"].name)


# Per generator: one object per territory, tag and author name, shared by every story
# that names it, so its slug and address are worked out once rather than once per story.
_names: WeakKeyDictionary[Any, dict[tuple[type, str], URLWrapper]] = WeakKeyDictionary()
# And the tag for each way a tag is written (hashtag_name is asked once per spelling).
_hashtags: WeakKeyDictionary[Any, dict[str, URLWrapper]] = WeakKeyDictionary()


def _shared(generator: Any, kind: type[URLWrapper], name: str) -> URLWrapper:
    known = _names.setdefault(generator, {})
    if (kind, name) not in known:
        known[(kind, name)] = kind(name, generator.settings)
    return known[(kind, name)]


def _tag(generator: Any, written: str) -> URLWrapper:
    """The tag named as its hashtag, each spelling worked out once per generator."""
    known = _hashtags.setdefault(generator, {})
    if written not in known:
        known[written] = _shared(generator, Tag, hashtag_name(written)[1:])
    return known[written]


def _report(instance: Any, key: str, message: str) -> None:
    path = Path(instance.source_path)
    line = read_front_matter(path).line_of(key)
    logger.error("%s:%d: %s", relative_to_cwd(path), line, message)


def read_story_fields(instance: Any) -> None:
    """content_object_init handler: pinned, content warning, schedule, expiry, checked
    language, quote policy."""
    metadata = instance.metadata
    instance.content_warning = (metadata.get("content-warning") or "").strip()
    instance.pinned = False
    instance.expires_at = None
    instance.expired = False
    date = getattr(instance, "date", None)
    # A story dated later is scheduled: the first build after its date publishes it.
    instance.scheduled = bool(date and date > now(instance.settings))
    try:
        # A story's address does not depend on its language: only a translation gets
        # Pelican's *_LANG_URL (stories/<slug>/<lang>/), the original keeps stories/<slug>/.
        instance.in_default_lang = not parse_bool(metadata.get("translation", "false"))
    except ValueError as error:
        _report(instance, "translation", f"Translation: {error}")
    try:
        instance.pinned = parse_bool(metadata.get("pinned", "false"))
    except ValueError as error:
        _report(instance, "pinned", f"Pinned: {error}")
    # Its own Quote-Policy, or None: its original's, else the site's (milpa_activitypub).
    instance.quote_policy = None
    if metadata.get("quote-policy"):
        try:
            instance.quote_policy = quote_policy(metadata["quote-policy"])
        except ValueError as error:
            _report(instance, "quote-policy", f"Quote-Policy: {error}")
    if not is_valid_tag(instance.lang):
        _report(instance, "lang", f"Lang: '{instance.lang}' is not a BCP 47 language tag "
                "(for example es, en, quc, nah)")
    expires = metadata.get("expires")
    if expires and date:
        try:
            instance.expires_at = expiry_time(expires, date, site_zone(instance.settings))
        except ValueError as error:
            _report(instance, "expires", f"Expires: {error}")
        else:
            instance.expired = instance.expires_at <= now(instance.settings)
