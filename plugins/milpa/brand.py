"""The site's mark: one logo, made at build time into a small header picture and icons.

Every file is drawn again from the pixels alone, so nothing the logo's file carried (GPS,
camera, editing software) reaches the output.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps

from .images import opened_within

# The browser tab's icon, inlined in every page (no request); the home-screen icon, a file.
TAB_ICON = 32
# 64 colours keep a 32-pixel logo recognisable at under a kilobyte (a third of full colour).
TAB_ICON_COLOURS = 64
HOME_SCREEN_ICON = 180
# Shown as high as the site's name in the header (the header keeps within a sixth of a
# phone's screen); twice that in the file, sharp on dense screens.
HEADER_HEIGHT = 24
HEADER_FILE_HEIGHT = 2 * HEADER_HEIGHT


@dataclass(frozen=True)
class Brand:
    header: bytes  # PNG, HEADER_FILE_HEIGHT pixels high
    header_width: int  # CSS pixels at HEADER_HEIGHT
    header_height: int  # CSS pixels
    tab_icon: bytes  # PNG, TAB_ICON square
    home_screen_icon: bytes  # PNG, HOME_SCREEN_ICON square

    @property
    def tab_icon_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.tab_icon).decode("ascii")


def _png(image: Image.Image) -> bytes:
    # A new image saved without `exif`, `icc_profile` or `pnginfo`: pixels only.
    out = BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _square(logo: Image.Image, size: int, colours: int | None = None) -> bytes:
    """The whole logo centred on a transparent square: a wide wordmark is not cropped.
    ``colours``: a palette that small, for an icon inlined in every page."""
    fitted = ImageOps.contain(logo, (size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size))
    canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    if colours:
        canvas = canvas.quantize(colours, method=Image.Quantize.FASTOCTREE)
    return _png(canvas)


def brand(source: Path, max_pixels: int) -> Brand:
    """The header picture and icons from ``source``; ``ImageTooLarge`` or ``OSError``
    when it is too large or not a picture."""
    with opened_within(source, max_pixels) as opened:
        logo = opened.convert("RGBA")
    height = HEADER_FILE_HEIGHT
    width = max(1, round(logo.width * height / logo.height))
    header = logo.resize((width, height), Image.Resampling.LANCZOS)
    return Brand(_png(header), max(1, round(width / 2)), HEADER_HEIGHT,
                 _square(logo, TAB_ICON, TAB_ICON_COLOURS), _square(logo, HOME_SCREEN_ICON))
