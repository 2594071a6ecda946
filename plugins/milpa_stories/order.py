"""Sources read in the same order in every run.

Pelican lists a generator's source files as a set, whose order changes with each
interpreter's string hashing (PYTHONHASHSEED). What keeps the order it was read in (a
story's translations, stories of the same date) would then change from one build to the
next of the same content: a rebuild would no longer match a full build byte for byte.
"""

from __future__ import annotations

from typing import Any


def read_in_order(generator: Any) -> None:
    """article_generator_init and page_generator_init handler: the generator's sources
    are listed sorted by path (the static generator's stay a set: it adds to it, and the
    order it copies files in changes no byte)."""
    listed = generator.get_files

    def get_files(*args: Any, **kwargs: Any) -> list[str]:
        return sorted(listed(*args, **kwargs))

    generator.get_files = get_files
