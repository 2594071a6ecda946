"""Decoding a video once and encoding its renditions and poster with PyAV (FFmpeg).

Apart from ``milpa.video`` (what a processed video is, and its cache): PyAV and the
FFmpeg it bundles take a tenth of a second to load, which only a build with a new video
needs to pay.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.bitstream
import av.filter

from .video import (
    MP4,
    WEBM,
    VideoError,
    VideoOptions,
    VideoRendition,
    duration_text,
    scaled_size,
    target_heights,
    upright_size,
)

# PyAV bundles FFmpeg; a build of it without these encoders cannot publish a video.
_ENCODERS = ("libx264", "aac", "libvpx-vp9", "libopus")
# One time base for every output video stream: fine enough for any source's timestamps.
_TIME_BASE = Fraction(1, 90_000)
# Frames closer together than this are dropped: more than 30 per second costs bytes that
# a phone screen does not show.
_GAP_TICKS = round(Fraction(1, 30) / _TIME_BASE)
# One encoder thread: x264's output depends on its thread count, and the build promises
# the same bytes on every machine.
_ENCODER_THREADS = 1
# x264's speed for size trade (bench/video.py measures it).
_PRESET = "veryfast"
_AUDIO_MAX_RATE = 48_000
_EARLY_AUDIO_FRAMES = 256


def encoders_available() -> bool:
    """Whether the FFmpeg inside PyAV can encode what every rendition needs."""
    return all(name in av.codecs_available for name in _ENCODERS)


# What FFmpeg's players do with a display matrix (its "autorotate"): the frame's
# counterclockwise rotation, undone by these filters.
_ROTATION_FILTERS: dict[int, tuple[tuple[str, str], ...]] = {
    90: (("transpose", "cclock"),),
    180: (("hflip", ""), ("vflip", "")),
    270: (("transpose", "clock"),),
}


class _Pictures:
    """Frames turned the way the phone held them and scaled to one rendition's size, by an
    FFmpeg filter graph per source frame shape (a stream may change size midway)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._graphs: dict[tuple[int, int, str, int], av.filter.Graph] = {}

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        rotation = round(frame.rotation) % 360
        key = (frame.width, frame.height, frame.format.name, rotation)
        graph = self._graphs.get(key)
        if graph is None:
            graph = av.filter.Graph()
            nodes = [graph.add_buffer(width=frame.width, height=frame.height,
                                      format=frame.format, time_base=_TIME_BASE)]
            nodes += [graph.add(name, argument)
                      for name, argument in _ROTATION_FILTERS.get(rotation, ())]
            # bitexact: the same pixels whichever CPU instructions this machine has.
            nodes.append(graph.add("scale", f"{self.width}:{self.height}:"
                                   "flags=bicubic+accurate_rnd+bitexact"))
            nodes.append(graph.add("format", "yuv420p"))
            nodes.append(graph.add("buffersink"))
            graph.link_nodes(*nodes).configure()
            self._graphs[key] = graph
        graph.push(frame)
        return graph.vpull()


@dataclass
class _Output:
    """One rendition being written (MP4 or WebM): its container, encoders, SEI filter and
    the filter graph that turns and scales its pictures."""

    path: Path
    media_type: str
    width: int
    height: int
    has_audio: bool
    audio_rate: int
    audio_layout: str
    pictures: _Pictures = field(init=False)
    container: Any = field(init=False)
    video: Any = field(init=False)
    audio: Any = field(init=False, default=None)
    sei_filter: Any = field(init=False)

    def __post_init__(self) -> None:
        self.pictures = _Pictures(self.width, self.height)
        mp4 = self.media_type == MP4
        # bitexact: no "encoder: Lavf…" tag, no library version, no date, no random id.
        self.container = av.open(
            str(self.path), "w", format="mp4" if mp4 else "webm",
            options={"fflags": "+bitexact", **({"movflags": "+faststart"} if mp4 else {})})
        video = self.container.add_stream("libx264" if mp4 else "libvpx-vp9", rate=30)
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.codec_context.time_base = _TIME_BASE
        video.codec_context.thread_count = _ENCODER_THREADS
        # A cap on the bit rate keeps a busy scene from costing a slow link minutes.
        cap = round(400 * (self.width * self.height / (640 * 360)) ** 0.75)
        video.codec_context.options = {"flags": "+bitexact", **(
            {"preset": _PRESET, "crf": "28", "profile": "main", "maxrate": f"{cap}k",
             "bufsize": f"{2 * cap}k"} if mp4 else
            # libvpx: constant quality ("b": "0"; a rate here becomes its target, and the
            # files grow), "good" at its faster speed (bench/video.py).
            {"crf": "36", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "0"})}
        self.video = video
        # Every SEI NAL unit goes, x264's own "x264 - core … options" banner included:
        # nothing but pictures is left in the stream. (VP9 has no such units.)
        self.sei_filter = av.bitstream.BitStreamFilterContext(
            "filter_units=remove_types=6" if mp4 else "null", video)
        if self.has_audio:
            audio = self.container.add_stream(
                "aac" if mp4 else "libopus", rate=self.audio_rate if mp4 else _AUDIO_MAX_RATE,
                layout=self.audio_layout)
            # Opus sounds as good as AAC with a quarter fewer bits.
            audio.bit_rate = (64_000 if min(self.width, self.height) <= 360 else 96_000) * (
                4 if mp4 else 3) // 4
            audio.codec_context.options = {"flags": "+bitexact"}
            self.audio = audio

    def write_video(self, frame: av.VideoFrame | None, pts: int = 0) -> av.VideoFrame | None:
        """Encode ``frame`` (a source frame) at ``pts``; returns the picture as encoded."""
        picture = None
        if frame is not None:
            picture = self.pictures(frame)
            picture.pts, picture.time_base = pts, _TIME_BASE
        for packet in self.video.encode(picture):
            for filtered in self.sei_filter.filter(packet):
                self.container.mux(filtered)
        if frame is None:
            for filtered in self.sei_filter.filter(None):
                self.container.mux(filtered)
        return picture

    def write_audio(self, frame: av.AudioFrame | None) -> None:
        for packet in self.audio.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        self.write_video(None)
        if self.audio is not None:
            self.write_audio(None)
        self.container.close()


def _main_video(container: Any) -> Any:
    """The first real video stream; a cover picture (attached_pic) is not the video."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise VideoError("has no video stream")


def _length(container: Any, stream: Any) -> float:
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def transcode(source: Path, folder: Path, stem: str, options: VideoOptions
              ) -> tuple[float, list[VideoRendition], Path]:
    """Decode ``source`` once and write its renditions and a poster (PNG) into ``folder``.

    Returns the duration, the renditions (smallest first) and the poster's path.
    """
    deadline = time.monotonic() + options.timeout_seconds
    try:
        container = av.open(str(source))
    except av.FFmpegError as error:
        raise VideoError(f"could not be read as a video: {error}") from None
    with container:
        stream = _main_video(container)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > options.max_pixels:
            raise VideoError(f"is {width}×{height}, over the {options.max_pixels} pixel limit "
                             "(MILPA_VIDEO_MAX_PIXELS): export it smaller")
        length = _length(container, stream)
        if length > options.max_seconds:
            limit = duration_text(options.max_seconds)
            raise VideoError(f"lasts {duration_text(length)}, over the {limit} limit "
                             "(MILPA_VIDEO_MAX_SECONDS): cut it shorter")
        audio_stream = next(iter(container.streams.audio), None)
        return _transcode_streams(container, stream, audio_stream, folder, stem, options,
                                  length, deadline)


def _decoded(container: Any, streams: list[Any], options: VideoOptions, deadline: float
             ) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Frames of the chosen streams, refused as soon as one breaks a limit."""
    # Where each stream starts: a file's timestamps need not begin at zero.
    starts: dict[int, float] = {}
    try:
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if time.monotonic() > deadline:
                    raise VideoError(f"took more than {duration_text(options.timeout_seconds)} to "
                                     "re-encode (MILPA_VIDEO_TIMEOUT): cut it shorter")
                # The header may lie: what the frames say counts.
                start = starts.setdefault(packet.stream.index, frame.time or 0.0)
                if frame.time is not None and frame.time - start > options.max_seconds:
                    raise VideoError(f"runs past the {duration_text(options.max_seconds)} limit "
                                     "(MILPA_VIDEO_MAX_SECONDS): cut it shorter")
                if (isinstance(frame, av.VideoFrame)
                        and frame.width * frame.height > options.max_pixels):
                    raise VideoError(f"has a {frame.width}×{frame.height} frame, over the "
                                     f"{options.max_pixels} pixel limit "
                                     "(MILPA_VIDEO_MAX_PIXELS)")
                yield frame
    except av.FFmpegError as error:
        raise VideoError(f"could not be decoded: {error}") from None


def _renditions_for(frame: av.VideoFrame, folder: Path, stem: str, options: VideoOptions,
                    audio_stream: Any) -> list[_Output]:
    rotation = round(frame.rotation) % 360
    shown_width, shown_height = upright_size(frame.width, frame.height, rotation)
    audio_rate = min(audio_stream.rate or _AUDIO_MAX_RATE, _AUDIO_MAX_RATE) if audio_stream else 0
    audio_layout = "mono" if audio_stream and audio_stream.channels == 1 else "stereo"
    outputs = []
    kinds = {MP4: "mp4", WEBM: "webm"} if options.webm else {MP4: "mp4"}
    for short_edge in target_heights(min(shown_width, shown_height), options.heights):
        width, height = scaled_size(shown_width, shown_height, short_edge)
        outputs += [_Output(folder / f"{stem}-{min(width, height)}p.{extension}", media_type,
                            width, height, audio_stream is not None, audio_rate, audio_layout)
                    for media_type, extension in kinds.items()]
    return outputs


def _transcode_streams(container: Any, stream: Any, audio_stream: Any, folder: Path, stem: str,
                       options: VideoOptions, length: float, deadline: float
                       ) -> tuple[float, list[VideoRendition], Path]:
    outputs: list[_Output] = []
    # Audio decoded before the first picture waits for the encoders (a few seconds at most).
    early_audio: deque[av.AudioFrame] = deque(maxlen=_EARLY_AUDIO_FRAMES)
    poster_time = Fraction(min(length / 3, 2.0))
    poster_frame: av.VideoFrame | None = None
    poster_final = False
    first: Fraction | None = None
    last_pts: int | None = None
    streams = [stream, audio_stream] if audio_stream is not None else [stream]
    for frame in _decoded(container, streams, options, deadline):
        if isinstance(frame, av.AudioFrame):
            # The encoder numbers audio samples itself, from zero.
            frame.pts = None
            if not outputs:
                early_audio.append(frame)
            for output in outputs:
                output.write_audio(frame)
            continue
        if not outputs:
            outputs = _renditions_for(frame, folder, stem, options, audio_stream)
            for output in outputs:
                for waiting in early_audio:
                    output.write_audio(waiting)
        if frame.pts is None or frame.time_base is None:
            pts = 0 if last_pts is None else last_pts + _GAP_TICKS
        else:
            stamp = frame.pts * frame.time_base
            first = stamp if first is None else first
            pts = round((stamp - first) / _TIME_BASE)
        if last_pts is not None and pts - last_pts < _GAP_TICKS:
            continue
        last_pts = pts
        pictures = [output.write_video(frame, pts) for output in outputs]
        # The poster is the largest rendition's first picture at a third of the video (at
        # most 2 s in), or the last picture of a shorter one.
        if not poster_final:
            poster_frame, poster_final = pictures[-1], pts * _TIME_BASE >= poster_time
    if poster_frame is None:
        raise VideoError("has no frames")
    for output in outputs:
        output.close()
    poster = folder / "poster.png"
    poster_frame.to_image().save(poster, "PNG")
    renditions = [VideoRendition(o.path.name, o.width, o.height, o.path.stat().st_size,
                                 o.media_type) for o in outputs]
    return length or float((last_pts or 0) * _TIME_BASE), renditions, poster
