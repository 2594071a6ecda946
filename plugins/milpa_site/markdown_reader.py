"""Pelican's Markdown reader, with one Markdown instance reset for each file.

Pelican makes a new ``Markdown()`` for every file, which loads and wires every extension
again: about a tenth of a 1,000-story build. ``reset()`` clears what one document leaves
(references, footnotes, abbreviations, the stash), so the text is the same.
"""

from __future__ import annotations

from typing import Any

from markdown import Markdown
from pelican.readers import MarkdownReader
from pelican.utils import pelican_open


class ReusedMarkdownReader(MarkdownReader):
    """Reads like ``MarkdownReader``; registered for its extensions by ``build``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._document: Markdown | None = None
        self._meta: tuple[Any, float] | None = None

    def _instance(self) -> Markdown:
        if self._document is None:
            self._document = Markdown(**self.settings["MARKDOWN"])
            preprocessors = self._document.preprocessors
            # Its priority, to put it back where it was (the registry has no public getter).
            priority = preprocessors._priority[preprocessors.get_index_for_name("meta")]
            self._meta = (preprocessors["meta"], priority.priority)
        elif "meta" not in self._document.preprocessors and self._meta is not None:
            # Pelican's _parse_metadata removes it so that fields are not read as metadata.
            self._document.preprocessors.register(self._meta[0], "meta", self._meta[1])
        return self._document.reset()

    def read(self, source_path: str) -> tuple[str, dict[str, Any]]:
        self._source_path = source_path
        self._md = self._instance()
        with pelican_open(source_path) as text:
            content = self._md.convert(text)
        metadata = self._parse_metadata(self._md.Meta) if hasattr(self._md, "Meta") else {}
        return content, metadata
