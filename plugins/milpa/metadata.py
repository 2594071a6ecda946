"""What a media file carries besides its pictures: location, device and personal metadata.

Everything here goes by the file's bytes, never its name: a JPEG called ``notes.txt`` is a
JPEG. ``carried`` says what a file would give away to anyone who clones the repository;
``stripped`` returns the same file without it. JPEG, PNG and WebP are rewritten block by
block, so their pictures stay bit for bit what they were; HEIC, AVIF, TIFF and GIF are
re-encoded by Pillow; videos are refused (see ``VIDEO_REFUSAL``).

Dates (when a photo was taken) count as personal: with a known place, a time says when a
person was there.
"""

from __future__ import annotations

import io
import re
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .filetypes import HEAD_BYTES, sniff
from .images import is_heif, opened_within, register_heif
from .safecopy import Refused, stripped_file

GPS = "GPS position"
SERIAL = "camera serial number"
DEVICE = "camera make or model"
OWNER = "owner's name"
DATE = "date taken"
COMMENT = "comment or description"
THUMBNAIL = "a thumbnail of the original"
XMP = "XMP metadata"
IPTC = "IPTC/Photoshop data"
TEXT = "text chunks"
MAKER = "maker data"
TRAILER = "data after the picture"
STREAMS = "extra streams"
TAGS = "other tags"
UNREADABLE = "content that could not be read to look for metadata"

# The order labels are reported in: the most dangerous first.
_ORDER = (GPS, SERIAL, DEVICE, OWNER, DATE, COMMENT, THUMBNAIL, XMP, IPTC, TEXT, MAKER, TRAILER,
          STREAMS, TAGS, UNREADABLE)

VIDEO_REFUSAL = ("videos cannot be cleaned in place (rewriting a container without "
                 "re-encoding does not reliably drop every tag and side stream); the build "
                 "re-encodes videos anyway, so keep the original out of git: export a copy "
                 "without metadata from your editor and commit that")

ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD, _IFD1 = 0x8769, 0x8825, -1
_EXIF_LABELS = {
    0xA431: SERIAL, 0xA435: SERIAL, 0xC62F: SERIAL, 0xA420: SERIAL, 0x927C: SERIAL,
    0x010F: DEVICE, 0x0110: DEVICE, 0xA433: DEVICE, 0xA434: DEVICE, 0x0131: DEVICE,
    0x013C: DEVICE,
    0x013B: OWNER, 0x8298: OWNER, 0xA430: OWNER, 0x9C9D: OWNER,
    0x0132: DATE, 0x9003: DATE, 0x9004: DATE, 0x9010: DATE, 0x9011: DATE, 0x9012: DATE,
    0x010E: COMMENT, 0x9286: COMMENT, 0x9C9B: COMMENT, 0x9C9C: COMMENT, 0x9C9E: COMMENT,
    0x9C9F: COMMENT,
}
_LOCATION_WORDS = re.compile(rb"gps|latitude|longitude|location|iso6709|city", re.IGNORECASE)

JPEG, PNG, WEBP, GIF, TIFF, HEIF, AVIF, VIDEO = (
    "JPEG", "PNG", "WebP", "GIF", "TIFF", "HEIF", "AVIF", "video")


class CannotStrip(ValueError):
    """A file this module will not rewrite; the message says what to do instead."""


# What each kind the sniffer knows is, for reading and stripping here (a DNG is read as
# the TIFF it is; a BMP carries no metadata).
_KINDS = {"jpeg": JPEG, "png": PNG, "webp": WEBP, "gif": GIF, "tiff": TIFF, "dng": TIFF,
          "heif": HEIF, "avif": AVIF}


def sniffed(head: bytes) -> str | None:
    """The kind of media file these first bytes begin, or None."""
    kind = sniff(head)
    if kind is None:
        return None
    return VIDEO if kind.family == "video" else _KINDS.get(kind.name)


def kind_of(path: Path) -> str | None:
    with path.open("rb") as handle:
        return sniffed(handle.read(HEAD_BYTES))


def _in_order(labels: Iterable[str]) -> tuple[str, ...]:
    found = set(labels)
    return tuple(label for label in _ORDER if label in found)


# --- EXIF -------------------------------------------------------------------------------

def _exif_of(payload: bytes) -> Image.Exif | None:
    exif = Image.Exif()
    try:
        exif.load(payload)
    except (SyntaxError, ValueError, OSError, KeyError, IndexError):
        return None
    return exif


def exif_labels(payload: bytes) -> set[str]:
    """What an EXIF block (TIFF bytes, with or without the 'Exif' prefix) gives away."""
    exif = _exif_of(payload)
    if exif is None:
        return {MAKER}  # a block we cannot read is not one we can call harmless
    labels = {_EXIF_LABELS[tag] for tag in exif if tag in _EXIF_LABELS}
    labels |= {_EXIF_LABELS[tag] for tag in exif.get_ifd(_EXIF_IFD) if tag in _EXIF_LABELS}
    if _GPS_IFD in exif:
        labels.add(GPS)
    if exif.get_ifd(_IFD1):
        labels.add(THUMBNAIL)
    return labels


def orientation_of(payload: bytes) -> int:
    exif = _exif_of(payload)
    value = exif.get(ORIENTATION, 1) if exif is not None else 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orientation_exif(orientation: int) -> bytes:
    """An EXIF block holding nothing but the orientation ('Exif\\0\\0' + TIFF)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def _xmp_labels(packet: bytes) -> set[str]:
    return {XMP, GPS} if _LOCATION_WORDS.search(packet) else {XMP}


# --- JPEG: segments -----------------------------------------------------------------------

_SOS, _EOI, _COM, _APP0, _APP1, _APP2, _APP13, _APP14 = (
    0xDA, 0xD9, 0xFE, 0xE0, 0xE1, 0xE2, 0xED, 0xEE)
_XMP_PREFIXES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")


def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(marker, whole segment) in file order, each scan with its entropy-coded data, and
    whatever follows the end-of-image marker."""
    if not data.startswith(b"\xff\xd8"):
        raise CannotStrip("not a JPEG")
    segments: list[tuple[int, bytes]] = [(0xD8, data[:2])]
    position, size = 2, len(data)
    while position + 1 < size:
        if data[position] != 0xFF:
            raise CannotStrip("a damaged JPEG (a segment does not start with a marker)")
        if data[position + 1] == 0xFF:  # fill byte before a marker
            position += 1
            continue
        marker = data[position + 1]
        if marker == _EOI:
            segments.append((marker, data[position:position + 2]))
            return segments, data[position + 2:]
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            segments.append((marker, data[position:position + 2]))
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        end = position + 2 + length
        if length < 2 or end > size:
            raise CannotStrip("a damaged JPEG (a segment runs past the end of the file)")
        if marker == _SOS:
            end = _end_of_scan(data, end)
        segments.append((marker, data[position:end]))
        position = end
    raise CannotStrip("a damaged JPEG (no end-of-image marker)")


def _end_of_scan(data: bytes, position: int) -> int:
    """Where the entropy-coded data starting at ``position`` ends: the next real marker."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            raise CannotStrip("a damaged JPEG (the picture data is cut short)")
        following = data[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffed byte, restart marker
            position += 2
        elif following == 0xFF:
            position += 1
        else:
            return position


def _jpeg_payload(segment: bytes) -> bytes:
    return segment[4:]


def _jpeg_keeps(marker: int, payload: bytes) -> bool:
    """Segments a clean JPEG keeps: everything that is not metadata, plus the JFIF header,
    the ICC colour profile and Adobe's colour transform flag (both change the pixels)."""
    if marker == _COM:
        return False
    if _APP0 <= marker <= 0xEF:
        return ((marker == _APP0 and payload.startswith(b"JFIF\x00"))
                or (marker == _APP2 and payload.startswith(b"ICC_PROFILE\x00"))
                or (marker == _APP14 and payload.startswith(b"Adobe")))
    return True


def _jpeg_labels(marker: int, payload: bytes) -> set[str]:
    if marker == _COM:
        return {COMMENT}
    if marker == _APP1 and payload.startswith(b"Exif\x00\x00"):
        return exif_labels(payload)
    if marker == _APP1 and payload.startswith(_XMP_PREFIXES):
        return _xmp_labels(payload)
    if marker == _APP13:
        return {IPTC}
    if _jpeg_keeps(marker, payload):
        return set()
    return {MAKER}


def _jpeg_carried(data: bytes) -> set[str]:
    segments, trailer = jpeg_segments(data)
    labels: set[str] = set()
    for marker, segment in segments:
        labels |= _jpeg_labels(marker, _jpeg_payload(segment))
    if trailer.strip(b"\x00\r\n "):
        labels.add(TRAILER)
    return labels


def _jpeg_stripped(data: bytes) -> bytes:
    segments, _trailer = jpeg_segments(data)
    orientation = 1
    kept: list[bytes] = []
    for marker, segment in segments:
        payload = _jpeg_payload(segment)
        if marker == _APP1 and payload.startswith(b"Exif\x00\x00"):
            orientation = orientation_of(payload)
        if marker in (0xD8, _EOI) or _jpeg_keeps(marker, payload):
            kept.append(segment)
    if orientation != 1:
        # Keep the picture upright without re-encoding it: an EXIF block with the
        # orientation alone, right after the JFIF header (or the start of the image).
        block = _orientation_exif(orientation)
        segment = b"\xff\xe1" + (len(block) + 2).to_bytes(2, "big") + block
        at = 2 if len(kept) > 1 and kept[1].startswith(b"\xff\xe0") else 1
        kept.insert(at, segment)
    return b"".join(kept)


# --- PNG: chunks --------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt"}
# Ancillary chunks about how to show the picture; any other ancillary chunk is dropped.
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT",
             b"sRGB", b"cICP", b"mDCv", b"cLLi", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL",
             b"fcTL", b"fdAT"}
_TEXT_LIMIT = 1 << 20  # inflate at most this much of a compressed text chunk


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, whole chunk with length and CRC) up to and including IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        raise CannotStrip("not a PNG")
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        end = position + 12 + length
        if end > len(data):
            raise CannotStrip("a damaged PNG (a chunk runs past the end of the file)")
        yield kind, data[position:end]
        if kind == b"IEND":
            return
        position = end
    raise CannotStrip("a damaged PNG (no IEND chunk)")


def _png_text(kind: bytes, body: bytes) -> tuple[bytes, bytes]:
    """(keyword, text) of a text chunk; compressed text is inflated, within a limit."""
    keyword, _, rest = body.partition(b"\x00")
    if kind == b"zTXt":
        rest = zlib.decompressobj().decompress(rest[1:], _TEXT_LIMIT)
    elif kind == b"iTXt":
        compressed = rest[:1] == b"\x01"
        text = rest[2:].split(b"\x00", 2)[-1]  # after language tag and translated keyword
        rest = zlib.decompressobj().decompress(text, _TEXT_LIMIT) if compressed else text
    return keyword, rest


def _png_carried(data: bytes) -> set[str]:
    labels: set[str] = set()
    for kind, chunk in png_chunks(data):
        body = chunk[8:-4]
        if kind in _PNG_TEXT:
            try:
                keyword, text = _png_text(kind, body)
            except zlib.error:
                keyword, text = b"", b""
            if keyword == b"XML:com.adobe.xmp":
                labels |= _xmp_labels(text)
                continue
            labels.add(TEXT)
            if _LOCATION_WORDS.search(keyword + b" " + text):
                labels.add(GPS)
            if keyword.lower() in (b"author", b"copyright"):
                labels.add(OWNER)
        elif kind == b"eXIf":
            labels |= exif_labels(body)
        elif kind == b"tIME":
            labels.add(DATE)
        elif kind not in _PNG_KEEP and kind[:1].islower():
            labels.add(MAKER)
    return labels


def _png_stripped(data: bytes) -> bytes:
    kept = [chunk for kind, chunk in png_chunks(data)
            if kind in _PNG_KEEP or not kind[:1].islower()]  # critical chunks always stay
    return _PNG_SIGNATURE + b"".join(kept)


# --- WebP: RIFF chunks ----------------------------------------------------------------------

_WEBP_KEEP = {b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ICCP", b"ANIM", b"ANMF"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def webp_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(fourcc, whole chunk with its header and padding) inside the RIFF container."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise CannotStrip("not a WebP")
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    position = 12
    while position + 8 <= end:
        kind = data[position:position + 4]
        size = int.from_bytes(data[position + 4:position + 8], "little")
        following = position + 8 + size + (size & 1)
        if position + 8 + size > end:
            raise CannotStrip("a damaged WebP (a chunk runs past the end of the file)")
        yield kind, data[position:following]
        position = following


def _webp_carried(data: bytes) -> set[str]:
    labels: set[str] = set()
    for kind, chunk in webp_chunks(data):
        if kind == b"EXIF":
            labels |= exif_labels(chunk[8:8 + int.from_bytes(chunk[4:8], "little")])
        elif kind == b"XMP ":
            labels |= _xmp_labels(chunk[8:])
        elif kind not in _WEBP_KEEP:
            labels.add(MAKER)
    return labels


def _webp_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + len(body).to_bytes(4, "little") + body + (b"\x00" if len(body) & 1 else b"")


def _webp_stripped(data: bytes) -> bytes:
    orientation = 1
    kept: list[bytes] = []
    for kind, chunk in webp_chunks(data):
        if kind == b"EXIF":
            orientation = orientation_of(chunk[8:8 + int.from_bytes(chunk[4:8], "little")])
        elif kind in _WEBP_KEEP:
            kept.append(chunk)
    has_vp8x = bool(kept) and kept[0].startswith(b"VP8X")
    if has_vp8x:
        header = bytearray(kept[0])
        header[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
        if orientation != 1:
            # As for JPEG: the orientation alone keeps the picture upright.
            header[8] |= _VP8X_EXIF
            kept.append(_webp_chunk(b"EXIF", _orientation_exif(orientation)))
        kept[0] = bytes(header)
    body = b"WEBP" + b"".join(kept)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


# --- Formats Pillow re-encodes --------------------------------------------------------------

_PILLOW_INFO = {"comment": COMMENT, "photoshop": IPTC}


def _pillow_carried(data: bytes) -> set[str]:
    if is_heif(data[:HEAD_BYTES]):
        register_heif()
    with warnings.catch_warnings():
        # Only the header is read here; the pixel limit is judged apart (``opened_within``).
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        opened = Image.open(io.BytesIO(data))
    with opened as image:
        exif = image.getexif()
        labels = exif_labels(exif.tobytes()) if len(exif) else set()
        labels |= {label for key, label in _PILLOW_INFO.items() if image.info.get(key)}
        xmp = image.info.get("xmp")
        if xmp:
            labels |= _xmp_labels(xmp if isinstance(xmp, bytes) else str(xmp).encode())
    return labels


def _pillow_stripped(data: bytes, kind: str, max_pixels: int) -> bytes:
    """Re-encoded from its pixels alone (milpa.safecopy), after the pixel limit is checked;
    an animation is refused here, where cleaning one must not change what it shows."""
    with opened_within(io.BytesIO(data), max_pixels) as image:
        if getattr(image, "n_frames", 1) > 1:
            raise CannotStrip(f"an animated or many-page {kind} cannot be cleaned without "
                              "losing frames: export it again without metadata")
    try:
        return stripped_file(data, sniff(data[:HEAD_BYTES]))
    except Refused as refused:
        raise CannotStrip(str(refused)) from None


# --- Videos ---------------------------------------------------------------------------------

_VIDEO_HARMLESS = {"major_brand", "minor_version", "compatible_brands", "encoder",
                   "handler_name", "vendor_id", "language", "duration", "doctype",
                   "doctypeversion", "doctypereadversion"}


def _video_tag_label(key: str) -> str | None:
    key = key.lower()
    if key in _VIDEO_HARMLESS:
        return None
    for words, label in ((("location", "xyz", "gps"), GPS), (("serial",), SERIAL),
                         (("make", "model", "manufacturer", "software"), DEVICE),
                         (("author", "artist", "copyright", "owner"), OWNER),
                         (("creation_time", "date"), DATE),
                         (("comment", "description", "title", "synopsis"), COMMENT)):
        if any(word in key for word in words):
            return label
    return TAGS


def video_labels(path: Path) -> set[str]:
    """Tags of the container and of each stream, and streams that are not sound or picture
    (attached pictures, data such as GPS tracks, subtitles), read by PyAV."""
    import av  # loaded only when a video is looked at

    keys: list[str] = []
    labels: set[str] = set()
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            keys += container.metadata
            for stream in container.streams:
                keys += stream.metadata
                attached = stream.disposition & av.stream.Disposition.attached_pic
                if stream.type not in ("video", "audio") or attached:
                    labels.add(STREAMS)
    except (av.FFmpegError, OSError):
        return {UNREADABLE}
    return labels | {label for key in keys if (label := _video_tag_label(key))}


# --- The two questions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Carried:
    path: Path
    kind: str
    labels: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.labels)


def picture_labels(data: bytes) -> tuple[str, ...]:
    """What a photo's bytes give away (empty when clean)."""
    kind = sniffed(data[:HEAD_BYTES])
    reader = {JPEG: _jpeg_carried, PNG: _png_carried, WEBP: _webp_carried}.get(kind or "",
                                                                              _pillow_carried)
    try:
        labels = reader(data)
    except (CannotStrip, OSError, SyntaxError, ValueError, zlib.error,
            Image.DecompressionBombError):
        labels = {UNREADABLE}
    return _in_order(labels)


def carried(path: Path) -> Carried | None:
    """What the media file at ``path`` gives away (empty labels when clean), or None when it
    is not a photo or video at all."""
    kind = kind_of(path)
    if kind is None:
        return None
    if kind == VIDEO:
        return Carried(path, kind, _in_order(video_labels(path)))
    return Carried(path, kind, picture_labels(path.read_bytes()))


def stripped(data: bytes, max_pixels: int) -> tuple[bytes, str | None]:
    """The same file without its metadata, and a note when it had to be re-encoded.

    ``max_pixels`` bounds the pictures this will decode (only re-encoded formats decode)."""
    kind = sniffed(data[:HEAD_BYTES])
    note = None
    if kind == JPEG:
        clean = _jpeg_stripped(data)
    elif kind == PNG:
        clean = _png_stripped(data)
    elif kind == WEBP:
        clean = _webp_stripped(data)
    elif kind in (GIF, TIFF, HEIF, AVIF):
        clean = _pillow_stripped(data, kind, max_pixels)
        note = f"re-encoded by Pillow ({kind} cannot be cleaned block by block here)"
    elif kind == VIDEO:
        raise CannotStrip(VIDEO_REFUSAL)
    else:
        raise CannotStrip("not a photo or video this command knows")
    return clean, note
