"""The same content gives the same site in every run.

Pelican lists a generator's source files as a set, whose order changes with each
interpreter's string hashing (PYTHONHASHSEED). What keeps the order it was read in (a
story's translations, stories of the same date) would then change from one build to the
next of the same content: a rebuild would no longer match a full build byte for byte.
Static files are copied in that order too: two copied to one place are refused, as which
one ends up there would change likewise.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def read_in_order(generator: Any) -> None:
    """article_generator_init and page_generator_init handler: the generator's sources
    are listed sorted by path (the static generator's stay a set, which it adds to: see
    ``refuse_shared_places``)."""
    listed = generator.get_files

    def get_files(*args: Any, **kwargs: Any) -> list[str]:
        return sorted(listed(*args, **kwargs))

    generator.get_files = get_files


def refuse_shared_places(generator: Any) -> None:
    """static_generator_finalized handler: an error for each place two static files would
    be copied to."""
    sources: dict[str, set[str]] = {}
    for static in generator.staticfiles:
        sources.setdefault(static.save_as, set()).add(static.relative_source_path)
    for place, found in sorted(sources.items()):
        if len(found) > 1:
            logger.error("%s: %s would all be copied there, and which one is published "
                         "would change from one build to the next; move or remove all but "
                         "one (or give it another path in EXTRA_PATH_METADATA)",
                         place, " and ".join(sorted(found)))
