"""Short videos made safe: metadata (location, device, dates) stripped by ffmpeg, a poster
frame extracted. Without ffmpeg nothing is published: an unstripped file never is.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .images import safe_stem

VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm"}
FFMPEG_MISSING = (
    "needs ffmpeg to strip its metadata before it can be published; "
    "install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg) or remove the video"
)
_TIMEOUT_SECONDS = 300


class VideoError(RuntimeError):
    """A video that cannot be published safely; the message says why."""


def ffmpeg_available() -> bool:
    return bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))


@dataclass(frozen=True)
class ProcessedVideo:
    name: str  # file name inside the media folder
    media_type: str
    size: int
    width: int
    height: int
    poster: str  # file name of the extracted poster frame (PNG) in the cache entry


def _run(arguments: list[str]) -> bytes:
    try:
        done = subprocess.run(arguments, capture_output=True, check=True, timeout=_TIMEOUT_SECONDS)
    except subprocess.CalledProcessError as error:
        reason = error.stderr.decode(errors="replace").strip().splitlines()
        raise VideoError(f"ffmpeg could not read it: {reason[-1] if reason else error}") from None
    except subprocess.TimeoutExpired:
        raise VideoError(f"ffmpeg took more than {_TIMEOUT_SECONDS} s; is it short?") from None
    return done.stdout


def strip_metadata(source: Path, target: Path) -> None:
    """Copy the audio and video streams into a new container, and nothing else."""
    _run([
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source),
        "-map", "0:v?", "-map", "0:a?", "-map_metadata", "-1", "-map_chapters", "-1",
        "-c", "copy", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        *(["-movflags", "+faststart"] if target.suffix == ".mp4" else []),
        str(target),
    ])


def frame_size(video: Path) -> tuple[int, int]:
    probed = json.loads(_run([
        "ffprobe", "-v", "error", "-select_streams", "v:0",
        "-show_entries", "stream=width,height", "-of", "json", str(video),
    ]))
    streams = probed.get("streams") or []
    if not streams:
        raise VideoError("it has no video stream")
    return int(streams[0]["width"]), int(streams[0]["height"])


def extract_poster(video: Path, target: Path) -> None:
    """A representative frame (ffmpeg's ``thumbnail`` filter), as PNG."""
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video),
          "-vf", "thumbnail", "-frames:v", "1", str(target)])


class VideoCache:
    """Stripped videos and their poster frames on disk, keyed by the source's bytes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def entry_of(self, source_path: Path) -> Path:
        digest = hashlib.sha256(source_path.read_bytes()).hexdigest()
        return self.folder / f"video-{digest[:24]}"

    def process(self, source_path: Path) -> tuple[ProcessedVideo, Path]:
        """The stripped video's description and the folder holding it and its poster."""
        media_type = VIDEO_TYPES.get(source_path.suffix.lower())
        if media_type is None:
            raise VideoError(f"{source_path.suffix} videos are not supported; use MP4 or WebM")
        if not ffmpeg_available():
            raise VideoError(FFMPEG_MISSING)
        entry = self.entry_of(source_path)
        meta = entry / "meta.json"
        if meta.exists():
            return ProcessedVideo(**json.loads(meta.read_text())), entry
        digest = entry.name.removeprefix("video-")[:10]
        extension = "webm" if media_type == "video/webm" else "mp4"
        name = f"{safe_stem(source_path.name)}-{digest}.{extension}"
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=".new-"))
        try:
            strip_metadata(source_path, staging / name)
            width, height = frame_size(staging / name)
            extract_poster(staging / name, staging / "poster.png")
            video = ProcessedVideo(name, media_type, (staging / name).stat().st_size,
                                   width, height, "poster.png")
            (staging / "meta.json").write_text(json.dumps(asdict(video)))
            staging.replace(entry)
        except (VideoError, OSError):
            shutil.rmtree(staging, ignore_errors=True)
            if not meta.exists():
                raise
        return video, entry
