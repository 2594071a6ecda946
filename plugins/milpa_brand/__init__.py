"""The site's logo (``MILPA_LOGO``) in the header, as the tab's icon and the home-screen icon.

Without a logo the header shows ``SITENAME`` as a wordmark and the page asks for no icon.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pelican import signals

from milpa.brand import Brand, brand
from milpa.images import ImageTooLarge
from milpa.settings import setting

logger = logging.getLogger(__name__)

HEADER_FILE = "logo.png"
HOME_SCREEN_FILE = "apple-touch-icon.png"


def _brand(settings: dict[str, Any]) -> Brand | None:
    logo = setting(settings, "MILPA_LOGO")
    if not logo:
        return None
    source = Path(settings["PATH"]) / logo
    try:
        return brand(source, setting(settings, "MILPA_MAX_IMAGE_PIXELS"))
    except (ImageTooLarge, OSError) as error:
        logger.error("MILPA_LOGO %s cannot be used: %s", logo, error)
        return None


def _into_context(generator: Any) -> None:
    # Every generator shares one context: the logo is read once per build.
    if "MILPA_BRAND" not in generator.context:
        generator.context["MILPA_BRAND"] = _brand(generator.settings)


def _write(pelican: Any) -> None:
    # After the output folder was cleaned and every page written.
    made = _brand(pelican.settings)
    if made is None:
        return
    output = Path(pelican.output_path)
    (output / HEADER_FILE).write_bytes(made.header)
    (output / HOME_SCREEN_FILE).write_bytes(made.home_screen_icon)


def register() -> None:
    signals.generator_init.connect(_into_context)
    signals.finalized.connect(_write)
