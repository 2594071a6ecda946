"""Video: encode time and bytes per minute of the renditions a story publishes.

    python bench/video.py [--seconds 20] [--size 1280x720] [--pairs 3] [--webm]

Makes a phone-like source (H.264 at a high rate, moving shapes over sensor noise, a tone),
then alternates, PAIRS times, a baseline that does part of the same work (PyAV decoding
every frame of the source, nothing else) with the real pipeline (`VideoCache.process` into
an empty cache: decode, turn, scale, encode every rendition, poster). Prints each pair's
ratio, the encode speed against real time and bytes per minute for each rendition; with
--webm, one more run with MILPA_VIDEO_WEBM on, to weigh its smaller files against the time
they cost. Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import struct
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from milpa.video import VideoCache, VideoOptions  # noqa: E402

RATE = 30


def phone_clip(path: Path, seconds: int, size: tuple[int, int]) -> Path:
    """A source as a phone would record it: detailed, moving, noisy, with sound."""
    width, height = size
    noise = [Image.effect_noise(size, 40).convert("RGB") for _ in range(4)]
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"crf": "20", "preset": "veryfast"}
        audio = container.add_stream("aac", rate=48_000, layout="mono")
        for index in range(seconds * RATE):
            image = Image.new("RGB", size, (40 + index % 60, 120, 90))
            draw = ImageDraw.Draw(image)
            for shape in range(6):
                x = (index * (shape + 3) * 4 + shape * width // 6) % width
                y = int(height / 2 + height / 3 * math.sin(index / 20 + shape))
                draw.ellipse((x, y, x + width // 8, y + height // 8),
                             fill=(200 - shape * 30, 60 + shape * 25, 40 * shape % 255))
            image = Image.blend(image, noise[index % 4], 0.06)
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        samples = seconds * audio.rate
        for start in range(0, samples, 1024):
            count = min(1024, samples - start)
            frame = av.AudioFrame(format="s16", layout="mono", samples=count)
            frame.planes[0].update(b"".join(
                struct.pack("<h", round(6000 * math.sin(2 * math.pi * 330 * (start + i) / 48_000)))
                for i in range(count)))
            frame.rate, frame.pts, frame.time_base = audio.rate, start, Fraction(1, audio.rate)
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


def decode_only(source: Path) -> float:
    started = time.perf_counter()
    with av.open(str(source)) as container:
        for _ in container.decode(*container.streams.video, *container.streams.audio):
            pass
    return time.perf_counter() - started


def pipeline(source: Path, cache: Path, webm: bool = False
             ) -> tuple[float, list[tuple[str, str, int]]]:
    started = time.perf_counter()
    described, _ = VideoCache(cache, VideoOptions(webm=webm)).process(source)
    elapsed = time.perf_counter() - started
    return elapsed, [(f"{min(r.width, r.height)}p", r.name.rsplit(".", 1)[1], r.size)
                     for r in described.renditions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--webm", action="store_true")
    arguments = parser.parse_args()
    size = tuple(int(side) for side in arguments.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="milpa-bench-video-") as folder:
        base = Path(folder)
        source = phone_clip(base / "phone.mp4", arguments.seconds, size)
        minutes = arguments.seconds / 60
        print(f"source: {size[0]}x{size[1]}, {arguments.seconds} s at {RATE} fps, "
              f"{source.stat().st_size / 1e6:.1f} MB ({source.stat().st_size / minutes / 1e6:.1f}"
              " MB per minute)")
        ratios, encodes = [], []
        renditions: list[tuple[str, str, int]] = []
        for pair in range(arguments.pairs):
            baseline = decode_only(source)
            elapsed, renditions = pipeline(source, base / f"cache-{pair}")
            ratios.append(elapsed / baseline)
            encodes.append(elapsed)
            print(f"pair {pair + 1}: decode only {baseline:.2f} s, pipeline {elapsed:.2f} s, "
                  f"ratio {elapsed / baseline:.1f}")
        encode = statistics.median(encodes)
        print(f"median ratio pipeline / decode-only: {statistics.median(ratios):.1f}")
        print(f"median pipeline time: {encode:.2f} s for {arguments.seconds} s of video "
              f"({encode / arguments.seconds:.2f} s per second of video)")
        show(renditions, minutes)
        if arguments.webm:
            elapsed, renditions = pipeline(source, base / "cache-webm", webm=True)
            print(f"with WebM: pipeline {elapsed:.2f} s ({elapsed / encode:.1f} times as long)")
            show(renditions, minutes)


def show(renditions: list[tuple[str, str, int]], minutes: float) -> None:
    for label, kind, size_bytes in renditions:
        print(f"  {label} {kind}: {size_bytes / 1e3:.0f} KB, "
              f"{size_bytes / minutes / 1e6:.2f} MB per minute")


if __name__ == "__main__":
    main()
