"""Photos made safe and small: orientation applied, every metadata byte dropped, resized.

The pure part takes image bytes and returns encoded renditions; ``RenditionCache`` is the
one place that reads source files and keeps results on disk, so a rebuild does not
re-encode a photo that has not changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import BinaryIO

import blurhash
from PIL import Image, ImageOps, features

from .filetypes import HEAD_BYTES, HEIF, sniff

WEBP = "image/webp"
JPEG = "image/jpeg"
AVIF = "image/avif"
_EXTENSIONS = {WEBP: "webp", JPEG: "jpg", AVIF: "avif"}
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff"})
# Bump when the pipeline changes what it writes, so cached renditions are redone.
PIPELINE_VERSION = 2
# The largest picture decoded (MILPA_MAX_IMAGE_PIXELS): 50 megapixels is a big camera's
# photo and about 150 MB once decoded; a few-KB PNG can claim far more.
DEFAULT_MAX_PIXELS = 50_000_000
# Pillow's own guard, for any path that opens an image without ours: it warns above this
# and refuses above twice this (see ``opened_within`` for the message users see).
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS


class ImageTooLarge(Image.DecompressionBombError):
    """A picture with more pixels than the limit; refused before it is decoded."""


def too_large_message(width: int, height: int, max_pixels: int) -> str:
    return (f"{width}×{height} is {width * height / 1e6:.0f} megapixels, over the "
            f"{max_pixels / 1e6:.0f} megapixel limit (MILPA_MAX_IMAGE_PIXELS): shrink it "
            "before committing")


@cache
def avif_available() -> bool:
    """Whether this Pillow writes AVIF (built with libavif); without it, WebP and JPEG only."""
    return bool(features.check("avif"))


@cache
def register_heif() -> None:
    """Teach Pillow HEIC (pillow-heif), once, and only when one is met: it costs a tenth of a
    second and several MB to load."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def is_heif(head: bytes) -> bool:
    """HEIC and its kin, which Pillow opens only through pillow-heif (AVIF it reads itself)."""
    return sniff(head) is HEIF


@contextmanager
def opened_within(source: Path | BinaryIO, max_pixels: int) -> Iterator[Image.Image]:
    """The image, opened lazily (only its header is read), or ``ImageTooLarge`` when it
    has more than ``max_pixels``: nothing is decoded before this check."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    else:
        head = source.read(HEAD_BYTES)
        source.seek(0)
    if is_heif(head):
        register_heif()
    try:
        with warnings.catch_warnings():
            # Our limit says what is too large; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as error:
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(claimed[1]) / 1e6:.0f} megapixels" if claimed else "too many pixels"
        ceiling = 2 * Image.MAX_IMAGE_PIXELS / 1e6
        raise ImageTooLarge(f"{size}, more than Pillow opens ({ceiling:.0f} megapixels) and "
                            "over MILPA_MAX_IMAGE_PIXELS: shrink it before committing") from None
    with image:
        if image.width * image.height > max_pixels:
            raise ImageTooLarge(too_large_message(image.width, image.height, max_pixels))
        yield image


@dataclass(frozen=True)
class ImageOptions:
    # A 360-px phone at device pixel ratio 1, 1.5, 2 and 3; 720 also fills the 40em column.
    widths: tuple[int, ...] = (360, 540, 720, 1080)
    webp_quality: int = 70
    jpeg_quality: int = 72
    # About a quarter lighter than WebP at 70 on the demo's photos; encoded at speed 8,
    # which weighs what speed 6 at quality 40 does in a sixth of the time.
    avif_quality: int = 35
    avif: bool = True  # written only where this Pillow can (``avif_available``)
    # The smallest rendition in grayscale, for the slowest links.
    grayscale_smallest: bool = False
    # Refuse to decode larger pictures (the limit does not change what is written).
    max_pixels: int = field(default=DEFAULT_MAX_PIXELS, compare=False)

    def fingerprint(self) -> str:
        written = {k: v for k, v in asdict(self).items() if k != "max_pixels"}
        return json.dumps([PIPELINE_VERSION, written, self.writes_avif()], sort_keys=True)

    def writes_avif(self) -> bool:
        return self.avif and avif_available()

    def lighter_types(self) -> tuple[str, ...]:
        """Formats written beside the JPEG, each kept only where it is lighter."""
        return (WEBP, AVIF) if self.writes_avif() else (WEBP,)


@dataclass(frozen=True)
class Rendition:
    name: str  # file name inside the media folder
    width: int
    height: int
    media_type: str
    size: int


@dataclass(frozen=True)
class ProcessedImage:
    """Everything a page or an ActivityPub attachment needs to show a photo."""

    width: int
    height: int
    blurhash: str
    renditions: tuple[Rendition, ...]

    def of_type(self, media_type: str) -> list[Rendition]:
        return [r for r in self.renditions if r.media_type == media_type]

    def lightest(self, media_types: tuple[str, ...]) -> list[Rendition]:
        """For each width, the smallest file of those types (the JPEGs give the widths:
        there is one at every width), narrowest first."""
        offered = [r for r in self.renditions if r.media_type in media_types]
        return [min((r for r in offered if r.width == jpeg.width), key=lambda r: r.size)
                for jpeg in self.of_type(JPEG)]

    def smallest(self, media_type: str = JPEG) -> Rendition:
        return self.of_type(media_type)[0]

    def largest(self, media_type: str = JPEG) -> Rendition:
        return self.of_type(media_type)[-1]

    def closest(self, width: int, media_type: str = JPEG) -> Rendition:
        """The smallest rendition at least ``width`` wide (or the largest there is)."""
        wide_enough = [r for r in self.of_type(media_type) if r.width >= width]
        return wide_enough[0] if wide_enough else self.largest(media_type)

    @classmethod
    def from_json(cls, data: dict) -> ProcessedImage:
        renditions = tuple(Rendition(**r) for r in data["renditions"])
        return cls(data["width"], data["height"], data["blurhash"], renditions)


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, then forget every metadata field and colour mode quirk."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    return image


def target_widths(original_width: int, widths: tuple[int, ...]) -> list[int]:
    """Widths to render: the configured ones below the original, never an upscale."""
    chosen = sorted(w for w in widths if w < original_width)
    if original_width <= max(widths):
        chosen.append(original_width)
    return chosen or [original_width]


def resized(image: Image.Image, width: int) -> Image.Image:
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)


def encoded(image: Image.Image, media_type: str, quality: int) -> bytes:
    """Encode with no EXIF, XMP, IPTC, ICC or comment: only pixels leave this function."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    if media_type == JPEG:
        clean.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    elif media_type == AVIF:
        # One thread: libaom's output depends on the thread count, and the same photo must
        # give the same bytes on every machine.
        clean.save(buffer, "AVIF", quality=quality, speed=8, max_threads=1)
    else:
        clean.save(buffer, "WEBP", quality=quality, method=6)
    return buffer.getvalue()


def blurhash_of(image: Image.Image) -> str:
    """A 4×3-component blurhash, computed on a thumbnail (Mastodon's choice of size)."""
    thumbnail = image.convert("RGB")
    thumbnail.thumbnail((32, 32))
    data, width = thumbnail.tobytes(), thumbnail.width
    rows = [[data[3 * (y * width + x) : 3 * (y * width + x) + 3] for x in range(width)]
            for y in range(thumbnail.height)]
    return blurhash.encode(rows, components_x=4, components_y=3)


def safe_stem(name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", Path(name).stem.lower()).strip("-")
    return stem[:40] or "photo"


def render(source: bytes, stem: str, options: ImageOptions
           ) -> tuple[ProcessedImage, dict[str, bytes]]:
    """Source image bytes → (description, {file name: encoded bytes}). Pure."""
    with opened_within(io.BytesIO(source), options.max_pixels) as opened:
        # Let the JPEG decoder skip detail we would throw away anyway.
        opened.draft("RGB", (max(options.widths), max(options.widths)))
        image = upright(opened)
    digest = hashlib.sha256(source).hexdigest()[:10]
    files: dict[str, bytes] = {}
    by_type: dict[str, list[Rendition]] = {JPEG: [], WEBP: [], AVIF: []}
    quality = {JPEG: options.jpeg_quality, WEBP: options.webp_quality, AVIF: options.avif_quality}
    widths = target_widths(image.width, options.widths)
    for width in widths:
        version = resized(image, width) if width != image.width else image
        if options.grayscale_smallest and width == widths[0] and len(widths) > 1:
            version = version.convert("L")
        jpeg_size = 0
        for media_type in (JPEG, *options.lighter_types()):
            data = encoded(version, media_type, quality[media_type])
            if media_type == JPEG:
                jpeg_size = len(data)
            elif len(data) >= jpeg_size:
                continue  # heavier than the JPEG of the same width: never published
            name = f"{stem}-{digest}-{width}.{_EXTENSIONS[media_type]}"
            files[name] = data
            by_type[media_type].append(
                Rendition(name, version.width, version.height, media_type, len(data)))
    largest = by_type[JPEG][-1]
    described = ProcessedImage(largest.width, largest.height, blurhash_of(image),
                               tuple(by_type[JPEG] + by_type[WEBP] + by_type[AVIF]))
    return described, files


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, remembered while its size and modification time stay the same."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class RenditionCache:
    """Renditions on disk, keyed by the source's bytes, its name (the renditions are named
    after it: the same photo under another name is another entry, so what a build
    publishes never depends on which name an earlier build met first) and the pipeline's
    options."""

    def __init__(self, folder: Path, options: ImageOptions) -> None:
        self.folder = folder
        self.options = options
        # Photos already seen by this cache object: a photo shown on many pages is looked
        # up on disk once.
        self._seen: dict[tuple[str, str], tuple[ProcessedImage, Path]] = {}

    def process(self, source: bytes, name: str) -> tuple[ProcessedImage, Path]:
        """The photo's description and the folder holding its renditions, made if new."""
        return self._process(hashlib.sha256(source).hexdigest(), lambda: source, name)

    def process_file(self, path: Path) -> tuple[ProcessedImage, Path]:
        """As ``process``, reading (and hashing) the file only when it has changed."""
        stat = path.stat()
        digest = _file_digest(str(path), stat.st_size, stat.st_mtime_ns)
        return self._process(digest, path.read_bytes, path.name)

    def _process(self, digest: str, source: Callable[[], bytes], name: str
                 ) -> tuple[ProcessedImage, Path]:
        stem = safe_stem(name)
        seen = self._seen.get((digest, stem))
        if seen is None or not seen[1].is_dir():  # the cache folder may have been cleared
            seen = self._seen[digest, stem] = self._lookup_or_render(digest, source, stem)
        return seen

    def _lookup_or_render(self, digest: str, source: Callable[[], bytes], stem: str
                          ) -> tuple[ProcessedImage, Path]:
        key = hashlib.sha256(
            json.dumps([digest, stem, self.options.fingerprint()]).encode()).hexdigest()
        entry = self.folder / key[:24]
        meta = entry / "meta.json"
        if meta.exists():
            return ProcessedImage.from_json(json.loads(meta.read_text())), entry
        described, files = render(source(), stem, self.options)
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=".new-"))
        for file_name, data in files.items():
            (staging / file_name).write_bytes(data)
        (staging / "meta.json").write_text(json.dumps(asdict(described)))
        try:
            staging.replace(entry)
        except OSError:  # another build wrote the same entry first; theirs is identical
            shutil.rmtree(staging, ignore_errors=True)
        return described, entry
