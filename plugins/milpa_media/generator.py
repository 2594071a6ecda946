"""Copy the renditions every published page uses into the output's media folder."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from milpa.outputs import copy_output
from milpa.settings import setting

logger = logging.getLogger(__name__)

# Context lists whose content objects Pelican writes to the output.
_WRITTEN = ("articles", "hidden_articles", "drafts", "pages", "hidden_pages", "draft_pages")


def written_content(context: dict[str, Any]) -> Iterator[Any]:
    """Every content object Pelican writes, translations included, each once."""
    seen: set[int] = set()
    for item in chain.from_iterable(context.get(name, ()) for name in _WRITTEN):
        for content in (item, *getattr(item, "translations", ())):
            if id(content) not in seen:
                seen.add(id(content))
                yield content


class MediaGenerator:
    """A Pelican generator with no pages of its own: it publishes media files."""

    def __init__(self, context: dict[str, Any], settings: dict[str, Any], output_path: str,
                 **_: Any) -> None:
        self.context = context
        self.output = Path(output_path)
        self.media_path = setting(settings, "MILPA_MEDIA_PATH")

    def generate_output(self, writer: Any) -> None:
        published: set[str] = set()
        for content in written_content(self.context):
            media_files = getattr(content, "media_files", None)
            for cached, name in media_files.files if media_files else ():
                if name not in published:
                    published.add(name)
                    # Through the build's writer: a rebuild copies only what changed.
                    copy_output(writer, self.output, f"{self.media_path}/{name}", Path(cached))
        logger.info("Published %d media files", len(published))
