"""Short videos made safe and light: every frame decoded and encoded again with PyAV.

Nothing of the source container travels: not its metadata (location, device, dates), not
its other streams (subtitles, data, cover art), not the SEI user data inside its frames.
Each rendition is H.264 (main profile) + AAC in an MP4 with the index first, which every
phone plays (optionally also VP9 + Opus in WebM, lighter); a poster frame goes through the
photo pipeline like any photo. Work is
bounded: a duration limit, a frame size limit and a time limit, each with a clear refusal.
``VideoCache`` is the one place that reads source files and keeps results on disk. The
decoding and encoding are in ``milpa.transcoding``, imported only when a video is checked
or processed: loading PyAV costs every build a tenth of a second.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .images import safe_stem

# Source files taken as video (whatever they hold, what is published is MP4, and WebM
# when asked).
VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm"}
MP4 = "video/mp4"
WEBM = "video/webm"
ENCODERS_MISSING = (
    "needs PyAV with the libx264, aac, libvpx-vp9 and libopus encoders to re-encode it; "
    "reinstall PyAV (pip install --force-reinstall av) or remove the video"
)
# Bump when the recipe changes what it writes, so cached renditions are redone.
PIPELINE_VERSION = 1


class VideoError(RuntimeError):
    """A video that cannot be published safely; the message says why."""


def encoders_available() -> bool:
    """Whether the FFmpeg inside PyAV can encode what every rendition needs."""
    from .transcoding import encoders_available

    return encoders_available()


@dataclass(frozen=True)
class VideoOptions:
    # Renditions by their short edge in pixels (360p, 720p); a video is never enlarged.
    heights: tuple[int, ...] = (360, 720)
    max_seconds: float = 600
    max_pixels: int = 3840 * 2160
    timeout_seconds: float = 1800
    # A VP9 + Opus WebM beside each MP4: about half the bytes, twice the encoding time.
    webm: bool = False

    def fingerprint(self) -> str:
        return json.dumps([PIPELINE_VERSION, asdict(self)], sort_keys=True)


@dataclass(frozen=True)
class VideoRendition:
    name: str  # file name inside the media folder
    width: int
    height: int
    size: int
    media_type: str = MP4


@dataclass(frozen=True)
class ProcessedVideo:
    """Everything a page needs: the renditions (smallest first), duration and poster."""

    duration: float  # seconds
    renditions: tuple[VideoRendition, ...]
    poster: str  # file name of the poster frame (PNG) in the cache entry

    def of_type(self, media_type: str) -> list[VideoRendition]:
        return [r for r in self.renditions if r.media_type == media_type]

    def same_size(self, rendition: VideoRendition, media_type: str) -> VideoRendition | None:
        found = [r for r in self.of_type(media_type)
                 if (r.width, r.height) == (rendition.width, rendition.height)]
        return found[0] if found else None

    # The smallest MP4, which every phone plays: what a page and a post show first.
    @property
    def name(self) -> str:
        return self.of_type(MP4)[0].name

    @property
    def media_type(self) -> str:
        return MP4

    @property
    def size(self) -> int:
        return self.of_type(MP4)[0].size

    @property
    def width(self) -> int:
        return self.of_type(MP4)[0].width

    @property
    def height(self) -> int:
        return self.of_type(MP4)[0].height

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessedVideo:
        renditions = tuple(VideoRendition(**r) for r in data["renditions"])
        return cls(data["duration"], renditions, data["poster"])


def target_heights(short_edge: int, heights: tuple[int, ...]) -> list[int]:
    """Short edges to render: the configured ones below the source's, never an upscale."""
    chosen = sorted(h for h in heights if h < short_edge)
    if short_edge <= max(heights, default=short_edge):
        chosen.append(short_edge)
    return chosen or [short_edge]


def scaled_size(width: int, height: int, short_edge: int) -> tuple[int, int]:
    """Frame size with the given short edge, both sides even (H.264 4:2:0 needs it)."""
    scale = short_edge / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def upright_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    return (height, width) if rotation % 180 else (width, height)


def duration_text(seconds: float) -> str:
    """'3 s', '1 min 20 s', '10 min': how long a reader will watch."""
    minutes, rest = divmod(max(1, round(seconds)), 60)
    parts = [f"{minutes} min"] * bool(minutes) + [f"{rest} s"] * bool(rest)
    return " ".join(parts)


def _file_digest(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


class VideoCache:
    """Renditions and their poster frames on disk, keyed by the source's bytes and options."""

    def __init__(self, folder: Path, options: VideoOptions) -> None:
        self.folder = folder
        self.options = options

    def entry_of(self, source_path: Path) -> Path:
        # Named after the source, as the renditions are (see milpa.images.RenditionCache).
        digest = hashlib.sha256(json.dumps([
            _file_digest(source_path), safe_stem(source_path.name), self.options.fingerprint(),
        ]).encode()).hexdigest()
        return self.folder / f"video-{digest[:24]}"

    def process(self, source_path: Path) -> tuple[ProcessedVideo, Path]:
        """The video's description and the folder holding its renditions and poster."""
        if source_path.suffix.lower() not in VIDEO_TYPES:
            raise VideoError(f"{source_path.suffix} videos are not supported; "
                             f"use {', '.join(sorted(VIDEO_TYPES))}")
        if not encoders_available():
            raise VideoError(ENCODERS_MISSING)
        entry = self.entry_of(source_path)
        meta = entry / "meta.json"
        if meta.exists():
            return ProcessedVideo.from_json(json.loads(meta.read_text())), entry
        digest = entry.name.removeprefix("video-")[:10]
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=".new-"))
        try:
            from .transcoding import transcode

            duration, renditions, poster = transcode(
                source_path, staging, f"{safe_stem(source_path.name)}-{digest}", self.options)
            video = ProcessedVideo(round(duration, 3), tuple(renditions), poster.name)
            (staging / "meta.json").write_text(json.dumps(asdict(video)))
            staging.replace(entry)
        except (VideoError, OSError):
            shutil.rmtree(staging, ignore_errors=True)
            if not meta.exists():
                raise
            # Another build finished the same video first: its copy is as good.
            return ProcessedVideo.from_json(json.loads(meta.read_text())), entry
        return video, entry
