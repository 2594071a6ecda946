"""What a file is, decided by its first bytes, never by its name.

A phone's ``.HEIC``, a camera's ``.dng`` or a video renamed ``.txt`` carry the same GPS
tags whatever their suffix says, so every door that publishes or exports a file asks
``file_kind`` first. Pure: bytes in, a ``FileKind`` (or None for anything else) out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# Enough for every signature below, the ISO-BMFF brand list and a TIFF's first directory
# in the usual place; ``read_head`` reads a little more when a TIFF puts it further away.
HEAD_BYTES = 4096

Family = Literal["photo", "raw", "video"]


@dataclass(frozen=True)
class FileKind:
    name: str  # jpeg, png, gif, webp, tiff, bmp, heif, avif, dng, mp4, mov, 3gp, matroska, avi
    family: Family
    suffix: str  # the usual suffix for this kind, with its dot


JPEG = FileKind("jpeg", "photo", ".jpg")
PNG = FileKind("png", "photo", ".png")
GIF = FileKind("gif", "photo", ".gif")
WEBP = FileKind("webp", "photo", ".webp")
TIFF = FileKind("tiff", "photo", ".tif")
BMP = FileKind("bmp", "photo", ".bmp")
HEIF = FileKind("heif", "photo", ".heic")
AVIF = FileKind("avif", "photo", ".avif")
DNG = FileKind("dng", "raw", ".dng")
MP4 = FileKind("mp4", "video", ".mp4")
MOV = FileKind("mov", "video", ".mov")
THREE_GP = FileKind("3gp", "video", ".3gp")
MATROSKA = FileKind("matroska", "video", ".mkv")
AVI = FileKind("avi", "video", ".avi")

# ISO base media file format (ISO/IEC 14496-12) brands, by what they announce.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm",
                          b"hevs", b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_QUICKTIME_BRANDS = frozenset({b"qt  "})
_3GP_PREFIXES = (b"3gp", b"3g2", b"3ge", b"3gg", b"3gr", b"3gs", b"3gt")
# QuickTime files older than the ftyp box start straight with one of these atoms.
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
# BMP info header sizes (OS/2 and Windows versions 1–5).
_BMP_HEADERS = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_DNG_VERSION_TAG = 50706


def _iso_bmff(head: bytes) -> FileKind | None:
    if len(head) < 12:
        return None
    size = struct.unpack(">I", head[:4])[0]
    if head[4:8] != b"ftyp":
        return MOV if head[4:8] in _QUICKTIME_ATOMS else None
    end = min(len(head), size if size >= 16 else 16)
    brands = [head[8:12]] + [head[i:i + 4] for i in range(16, end - 3, 4)]
    # The major brand decides first; compatible brands only when it says nothing we know.
    for brand in brands:
        if brand in _AVIF_BRANDS:
            return AVIF
        if brand in _HEIF_BRANDS:
            return HEIF
        if brand in _QUICKTIME_BRANDS:
            return MOV
        if brand.startswith(_3GP_PREFIXES):
            return THREE_GP
    return MP4  # isom, mp41, mp42, avc1, M4V, dash… all play as MP4


def _tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def tiff_first_directory(head: bytes) -> int | None:
    """Where a classic TIFF's first directory starts (BigTIFF: None)."""
    if head[:4] == b"II*\x00":
        return struct.unpack("<I", head[4:8])[0]
    if head[:4] == b"MM\x00*":
        return struct.unpack(">I", head[4:8])[0]
    return None


def is_dng_directory(order: bytes, directory: bytes) -> bool:
    """True when a TIFF directory (its entry count, then entries) holds DNGVersion."""
    endian = "<" if order == b"II" else ">"
    if len(directory) < 2:
        return False
    count = struct.unpack(endian + "H", directory[:2])[0]
    for index in range(count):
        entry = directory[2 + 12 * index: 14 + 12 * index]
        if len(entry) < 12:
            break
        if struct.unpack(endian + "H", entry[:2])[0] == _DNG_VERSION_TAG:
            return True
    return False


def sniff(head: bytes) -> FileKind | None:
    """The kind of photo, raw photo or video ``head`` (a file's first bytes) starts, or None.

    A TIFF is a DNG when its first directory, if it lies within ``head``, says so.
    """
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return MATROSKA  # WebM is Matroska too
    if _tiff(head):
        start = tiff_first_directory(head)
        if start is not None and is_dng_directory(head[:2], head[start:]):
            return DNG
        return TIFF
    if head[:2] == b"BM" and len(head) >= 18 and \
            struct.unpack("<I", head[14:18])[0] in _BMP_HEADERS:
        return BMP
    return _iso_bmff(head)


def file_kind(path: Path) -> FileKind | None:
    """``sniff`` on a file, reading a TIFF's first directory wherever it is."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        start = tiff_first_directory(head)
        if start is not None:
            handle.seek(start)
            directory = handle.read(2 + 12 * 1024)  # a bounded number of entries
            return DNG if is_dng_directory(head[:2], directory) else TIFF
    return sniff(head)
