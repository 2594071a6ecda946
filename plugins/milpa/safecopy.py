"""Copies of photos that keep their name and format but nothing besides their pixels.

For files that leave as files rather than as renditions: what Pelican copies statically
(``content/extra/``, the theme's images) and what ``publish.py export`` writes. The kind
comes from the bytes (``milpa.filetypes``); raw photos and videos are refused here, with
what to do instead, because nothing in this module can strip them.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, ImageSequence

from .filetypes import FileKind
from .images import register_heif

# HEIC/HEIF, as iPhones write them, open like any other photo.
register_heif()

# Pillow's format names for each kind it can write back.
_WRITERS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "tiff": "TIFF",
            "bmp": "BMP", "heif": "HEIF", "avif": "AVIF"}
_WITHOUT_ALPHA = frozenset({"JPEG", "BMP"})
# An animated GIF is re-encoded frame by frame; more frames than this is not a photo.
MAX_FRAMES = 500


class Refused(ValueError):
    """The file cannot be copied safely; the message says why and what to do."""


def _clean(frame: Image.Image, writer: str) -> Image.Image:
    """Upright, in a mode ``writer`` takes, rebuilt from its pixels alone."""
    frame = ImageOps.exif_transpose(frame)
    has_alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
    if writer in _WITHOUT_ALPHA or not has_alpha:
        mode = "L" if frame.mode in ("1", "L", "LA") and writer != "HEIF" else "RGB"
    else:
        mode = "RGBA"
    if frame.mode != mode:
        frame = frame.convert("RGBA").convert(mode) if has_alpha else frame.convert(mode)
    return Image.frombytes(mode, frame.size, frame.tobytes())


def stripped_file(data: bytes, kind: FileKind) -> bytes:
    """``data`` (a file of ``kind``) re-encoded in its own format, with only its pixels.

    Raises Refused for raw photos, videos and photos that cannot be read.
    """
    if kind.family == "raw":
        raise Refused(f"a raw {kind.name.upper()} photo carries the camera's metadata and "
                      "cannot be stripped here: export a JPEG from it and use that instead")
    if kind.family == "video":
        raise Refused(f"a {kind.name} video is never copied as it is (its metadata would go "
                      "with it): put it in a story, where it is stripped, or leave it out")
    writer = _WRITERS[kind.name]
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if writer == "GIF" and getattr(opened, "n_frames", 1) > 1:
                return _animated_gif(opened)
            clean = _clean(opened, writer)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise Refused(f"it could not be read as a {kind.name} photo ({error}): open it in an "
                      "image editor and save it again") from None
    buffer = io.BytesIO()
    options = {"JPEG": {"quality": 90, "optimize": True}, "WEBP": {"quality": 90},
               "HEIF": {"quality": 90}, "AVIF": {"quality": 90},
               "PNG": {"optimize": True}, "TIFF": {"compression": "tiff_adobe_deflate"}}
    clean.save(buffer, writer, **options.get(writer, {}))
    return buffer.getvalue()


def _animated_gif(opened: Image.Image) -> bytes:
    if opened.n_frames > MAX_FRAMES:
        raise Refused(f"an animation of {opened.n_frames} frames (at most {MAX_FRAMES}): "
                      "make it a video instead")
    frames, durations = [], []
    for frame in ImageSequence.Iterator(opened):
        durations.append(int(frame.info.get("duration", 100)))
        frames.append(_clean(frame.convert("RGBA"), "GIF"))
    buffer = io.BytesIO()
    looping = {"loop": opened.info["loop"]} if "loop" in opened.info else {}
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=durations,
                   disposal=2, **looping)
    return buffer.getvalue()
