"""The site on the Fediverse, as static files: actors, WebFinger, NodeInfo, stories."""

from pelican import signals

from .generator import FediverseGenerator


def get_generators(_pelican: object) -> type[FediverseGenerator]:
    return FediverseGenerator


def register() -> None:
    # Actors need the final lists of stories, authors and territories; the pages need
    # FEDIVERSE in their context to link their JSON: a generator gives both.
    signals.get_generators.connect(get_generators)
