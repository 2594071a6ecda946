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
