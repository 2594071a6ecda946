"""Copy the renditions every published page uses into the output's media folder."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

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
        self.media_folder = Path(output_path) / setting(settings, "MILPA_MEDIA_PATH")

    def generate_output(self, writer: Any) -> None:
        published = 0
        for content in written_content(self.context):
            media_files = getattr(content, "media_files", None)
            for cached, name in media_files.files if media_files else ():
                target = self.media_folder / name
                if not target.exists():
                    self.media_folder.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(cached, target)
                    published += 1
        logger.info("Published %d media files", published)
