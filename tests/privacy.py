"""What 'no metadata survives' means, checked file by file."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from PIL import Image

# Markers of EXIF, XMP and IPTC blocks, whatever the container.
METADATA_MARKERS = (b"Exif\x00\x00", b"<x:xmpmeta", b"http://ns.adobe.com/xap", b"Photoshop 3.0")


def image_leaks(path: Path, secrets: tuple[bytes, ...]) -> list[str]:
    """Why ``path`` (an image) would leak something; empty when it is clean."""
    data = path.read_bytes()
    leaks = [f"bytes {marker!r}" for marker in METADATA_MARKERS if marker in data]
    leaks += [f"secret {secret!r}" for secret in secrets if secret in data]
    with Image.open(path) as image:
        if len(image.getexif()):
            leaks.append(f"EXIF tags {dict(image.getexif())}")
        leaks += [f"info[{key}]" for key in ("exif", "xmp", "comment", "icc_profile", "photoshop")
                  if image.info.get(key)]
    return leaks


def video_tags(path: Path) -> dict[str, str]:
    probed = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json",
         str(path)], capture_output=True, check=True).stdout)
    tags = dict(probed.get("format", {}).get("tags", {}))
    for stream in probed.get("streams", []):
        tags.update(stream.get("tags", {}))
    return tags


def digests(folder: Path) -> dict[str, Path]:
    return {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in folder.rglob("*") if p.is_file()}


def tree_leaks(folder: Path, secrets: tuple[bytes, ...], keys: Path | None = None) -> list[str]:
    """Every file under ``folder`` judged by its bytes, never its name: metadata blocks and
    ``secrets`` anywhere, EXIF/XMP/ICC in anything that opens as a photo, raw photos and
    videos carrying location atoms, and private key material (any PEM private key, and
    pieces of the key in ``keys``). 'relative path: why' for each leak."""
    import milpa.safecopy  # noqa: F401 — registers the HEIF opener with Pillow
    from milpa.filetypes import file_kind
    from milpa.keyguard import KeyScanner

    scanner = KeyScanner(keys or folder)  # without keys: any PEM private key still counts
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        kind = file_kind(path)
        leaks = [f"bytes {marker!r}" for marker in METADATA_MARKERS if marker in data]
        leaks += [f"secret {secret!r}" for secret in secrets if secret in data]
        leaks += [f"location atom {atom!r}" for atom in (b"\xa9xyz", b"quicktime.location")
                  if atom in data]
        key = scanner.leak_in(path)
        if key:
            leaks.append(key)
        if kind is not None and kind.family == "raw":
            leaks.append(f"a raw {kind.name} photo, as it was")
        if kind is not None and kind.family == "photo":
            with Image.open(path) as image:
                if len(image.getexif()):
                    leaks.append(f"EXIF tags {dict(image.getexif())}")
                leaks += [f"info[{name}]" for name in ("exif", "xmp", "comment", "icc_profile",
                                                       "photoshop") if image.info.get(name)]
        found += [f"{path.relative_to(folder).as_posix()}: {leak}" for leak in leaks]
    return found
