"""What 'no metadata survives' means, checked file by file."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import av
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
    """Every metadata tag of the container and of its streams, as FFmpeg (PyAV) reads them."""
    with av.open(str(path)) as container:
        tags = dict(container.metadata)
        for stream in container.streams:
            tags.update(stream.metadata)
    return tags


# Tags the MP4 and WebM muxers write by themselves, which say nothing about the source:
# the MP4 brand and track handlers, each WebM track's length, and WebM's muxing app
# ("Lavf", with no version when bit-exact).
ALLOWED_VIDEO_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "language",
                                "handler_name", "DURATION"})
ALLOWED_VIDEO_TAG_VALUES = frozenset({("encoder", "Lavf")})


def video_leaks(path: Path, secrets: tuple[bytes, ...]) -> list[str]:
    """Why ``path`` (a published video) would leak something; empty when it is clean: any
    stream beyond one video and one audio track, any tag but the muxer's own, any SEI NAL
    unit (where user data hides), any secret or metadata marker in its bytes."""
    data = path.read_bytes()
    leaks = [f"bytes {marker!r}" for marker in (*METADATA_MARKERS, b"x264") if marker in data]
    # FFmpeg's version (Matroska names "Lavf" as its muxing app, with no number: fine).
    leaks += [f"version {found!r}" for found in re.findall(rb"Lav[fc]\d+\.\d+", data)]
    leaks += [f"secret {secret!r}" for secret in secrets if secret in data]
    with av.open(str(path)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        if kinds not in (["video"], ["audio", "video"]):
            leaks.append(f"streams {kinds}")
        video = container.streams.video[0]
        h264 = video.codec_context.name == "h264"
        nal_types = {nal[0] & 0x1F for packet in container.demux(video) if packet.size and h264
                     for nal in avcc_nal_units(bytes(packet))}
        tags = [*container.metadata.items(),
                *(item for stream in container.streams for item in stream.metadata.items())]
    leaks += [f"SEI NAL units in {path.name}"] * (6 in nal_types)
    leaks += [f"tag {name}={value}" for name, value in tags
              if name not in ALLOWED_VIDEO_TAGS and (name, value) not in ALLOWED_VIDEO_TAG_VALUES]
    return leaks


def avcc_nal_units(packet: bytes) -> list[bytes]:
    """The NAL units of an MP4 H.264 packet (each behind a 4-byte big-endian length)."""
    units, offset = [], 0
    while offset + 4 <= len(packet):
        length = int.from_bytes(packet[offset:offset + 4], "big")
        units.append(packet[offset + 4:offset + 4 + length])
        offset += 4 + length
    return units


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
