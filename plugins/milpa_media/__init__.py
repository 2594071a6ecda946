"""Photos and videos, processed at build time: stripped of metadata, resized, lazy."""

from pelican import signals

from .generator import MediaGenerator
from .rewrite import process_media


def get_generators(_pelican: object) -> type[MediaGenerator]:
    return MediaGenerator


def register() -> None:
    # Each story's media is processed as Pelican creates it, before any page or summary
    # is rendered, so no page ever points at an original file.
    signals.content_object_init.connect(process_media)
    # The renditions are copied once every content object is known and the output
    # folder has been cleaned.
    signals.get_generators.connect(get_generators)
