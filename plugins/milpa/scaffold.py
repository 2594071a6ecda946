"""The text of a new story: every field present, filled in or left empty to fill later.

A new story is a draft (``Status: draft``): nothing is built or announced until the
editor changes it to ``published``, so the guide in its body never reaches followers.
"""

from __future__ import annotations

from datetime import datetime

from .i18n import N_, editor_text
from .stories import FIELDS

# Editors read this in the site's language (DEFAULT_LANG).
_BODY = N_("""\
Write the story here, in Markdown. Leave a blank line between paragraphs.

To add a photo, save it under content/photos/ and write, on a line of its own:
`![what the photo shows](photos/the-photo.jpg)`. The words in brackets are read aloud
to people who cannot see the photo, so say what it shows.

Fields left empty above are not used; `python publish.py check` says what is missing.
""")
_DRAFT = N_("""\
This story is a draft: change `Status: draft` to `Status: published` to publish it.
""")


def story_text(values: dict[str, str], date: datetime, site_lang: str = "en") -> str:
    """Front matter in the order of ``FIELDS``, then a short guide in the site's language."""
    stamp = date.strftime("%Y-%m-%d %H:%M")
    filled = {"date": stamp, "modified": stamp, "pinned": "false",
              "translation": "false", "status": "draft", **values}
    header = [f"{field.name}: {filled.get(field.key, '')}".rstrip() for field in FIELDS]
    return "\n".join(header) + "\n\n" + editor_text(site_lang, _BODY) + \
        editor_text(site_lang, _DRAFT)
