"""Language tags (BCP 47) and the names readers see for them."""

from __future__ import annotations

from functools import cache

import langcodes


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
    language = langcodes.Language.get(tag)
    name = language.autonym()
    if name.startswith("Unknown language"):
        return tag
    return name[:1].upper() + name[1:]
