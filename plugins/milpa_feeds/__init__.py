"""RSS and Atom, with feedgen, for every stream a reader can follow as a page."""

from pelican import signals

from .generator import FeedsGenerator


def get_generators(_pelican: object) -> type[FeedsGenerator]:
    return FeedsGenerator


def register() -> None:
    # Feeds need the final lists of stories, territories, tags, authors and languages,
    # and the pages need FEEDS in their context to link them: a generator gives both.
    signals.get_generators.connect(get_generators)
