"""Language tags (BCP 47) and the names readers see for them."""

from __future__ import annotations

from functools import cache

import langcodes
from babel import Locale, localedata


@cache
def is_valid_tag(tag: str) -> bool:
    """True for a well-formed BCP 47 tag whose language subtag is registered."""
    return bool(tag) and langcodes.tag_is_valid(tag) and langcodes.Language.get(tag).is_valid()


@cache
def language_name(tag: str, overrides: tuple[tuple[str, str], ...] = ()) -> str:
    """The language's name in itself (its autonym), so each reader finds their own.

    ``overrides`` comes from the ``MILPA_LANGUAGE_NAMES`` setting, for communities whose
    preferred name for their language differs from the CLDR one.
    """
    named = dict(overrides)
    if tag in named:
        return named[tag]
    name = _cldr_autonym(tag) or langcodes.Language.get(tag).autonym()
    if name.startswith("Unknown language"):
        return tag
    return name[:1].upper() + name[1:]


def _cldr_autonym(tag: str) -> str | None:
    """The autonym in Babel's CLDR data, for a language Babel has a locale for. Babel loads
    that locale's data alone (about 1 MB), where langcodes loads every language's names
    (about 19 MB, kept to the end of the build)."""
    identifier = tag.replace("-", "_")
    if not localedata.exists(identifier):
        return None
    return Locale.parse(identifier).get_display_name(identifier)
