"""The text of a new story: every field present, filled in or left empty to fill later.

A new story is a draft (``Status: draft``): nothing is built or announced until the
editor changes it to ``published``, so the guide in its body never reaches followers.
"""

from __future__ import annotations

from datetime import datetime

from .stories import FIELDS

# The guide, in the site's language (DEFAULT_LANG) where there is one, else in English.
_BODIES = {
    "en": """\
Write the story here, in Markdown. Leave a blank line between paragraphs.

To add a photo, save it under content/photos/ and write, on a line of its own:
`![what the photo shows](photos/the-photo.jpg)`. The words in brackets are read aloud
to people who cannot see the photo, so say what it shows.

Fields left empty above are not used; `python publish.py check` says what is missing.
This story is a draft: change `Status: draft` to `Status: published` to publish it.
""",
    "es": """\
Escribe aquí la historia, en Markdown. Deja una línea en blanco entre párrafos.

Para añadir una foto, guárdala en content/photos/ y escribe, en una línea aparte:
`![lo que muestra la foto](photos/la-foto.jpg)`. Las palabras entre corchetes se leen
en voz alta a quien no puede ver la foto: di lo que muestra.

Los campos vacíos de arriba no se usan; `python publish.py check` dice qué falta.
Esta historia es un borrador: cambia `Status: draft` por `Status: published` para publicarla.
""",
}


def story_text(values: dict[str, str], date: datetime, site_lang: str = "en") -> str:
    """Front matter in the order of ``FIELDS``, then a short guide as the body."""
    stamp = date.strftime("%Y-%m-%d %H:%M")
    filled = {"date": stamp, "modified": stamp, "pinned": "false",
              "translation": "false", "status": "draft", **values}
    header = [f"{field.name}: {filled.get(field.key, '')}".rstrip() for field in FIELDS]
    body = _BODIES.get(site_lang.split("-")[0].lower(), _BODIES["en"])
    return "\n".join(header) + "\n\n" + body
