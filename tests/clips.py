"""Tainted test videos made with PyAV, the way phones and editors leak a place."""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

from .conftest import photo_with_secrets

# What each tainted clip hides, in the bytes of the source.
GPS_TEXT = b"GPS 17.06 -96.72"
GPS_ISO6709 = "+17.0654-096.7236/"
SEI_UUID = bytes(range(0x10, 0x20))


def picture(size: tuple[int, int], index: int = 0) -> Image.Image:
    """Green with a red block in the top-left corner (shows which way is up), and a moving
    bar so the encoder has something to do."""
    width, height = size
    image = Image.new("RGB", size, "seagreen")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 4, height // 4), fill="red")
    x = (index * 7) % width
    draw.rectangle((x, height // 2, x + 5, height - 1), fill="white")
    return image


def _tone(stream: av.audio.stream.AudioStream, start: int, samples: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
    frame.planes[0].update(b"".join(
        struct.pack("<h", round(8000 * math.sin(2 * math.pi * 440 * (start + i) / stream.rate)))
        for i in range(samples)))
    frame.rate, frame.pts, frame.time_base = stream.rate, start, Fraction(1, stream.rate)
    return frame


def clip(path: Path, size: tuple[int, int] = (160, 90), seconds: float = 1.0, rate: int = 8,
         audio: bool = True, rotation: int = 0, sei: bytes | None = None,
         subtitle: bytes | None = None) -> Path:
    """An H.264 + AAC MP4 with a location and a device serial in its container metadata;
    with ``rotation``, a display matrix as phones write; with ``sei``, that text in an SEI
    user data NAL unit before every frame (as some cameras and apps write GPS); with
    ``subtitle``, a subtitle track (mov_text) saying it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as container:
        container.metadata.update({"location": GPS_ISO6709, "comment": "device SN-9"})
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        video.metadata["title"] = "phone clip"
        if rotation:
            video.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=22050, layout="mono") if audio else None
        if subtitle:
            captions = container.add_mux_stream("mov_text")
            cue = av.Packet(len(subtitle).to_bytes(2, "big") + subtitle)
            cue.pts = cue.dts = 0
            cue.duration, cue.time_base, cue.stream = 1000, Fraction(1, 1000), captions
            container.mux(cue)
        frames = round(seconds * rate)
        for index in range(frames):
            frame = av.VideoFrame.from_image(picture(size, index))
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(_with_sei(packet, sei) if sei else packet)
        for packet in video.encode():
            container.mux(_with_sei(packet, sei) if sei else packet)
        if sound is not None:
            total = round(seconds * sound.rate)
            for start in range(0, total, 1024):
                for packet in sound.encode(_tone(sound, start, min(1024, total - start))):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


def _with_sei(packet: av.Packet, text: bytes) -> av.Packet:
    """The packet with a user_data_unregistered SEI (payload type 5) NAL unit in front.

    libx264 hands PyAV Annex B packets (start codes); the MP4 muxer converts them."""
    payload = SEI_UUID + text
    nal = b"\x00\x00\x00\x01\x06\x05" + bytes([len(payload)]) + payload + b"\x80"
    spliced = av.Packet(nal + bytes(packet))
    spliced.pts, spliced.dts, spliced.time_base = packet.pts, packet.dts, packet.time_base
    spliced.is_keyframe = packet.is_keyframe
    spliced.stream = packet.stream
    return spliced


def mjpeg_mov_with_exif(path: Path, size: tuple[int, int] = (160, 120), frames: int = 6,
                        sizes: list[tuple[int, int]] | None = None) -> Path:
    """A Motion-JPEG .mov whose every frame is a JPEG carrying EXIF GPS, a serial and XMP
    (as some cameras record). ``sizes`` gives frames of other sizes than the header's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mov") as container:
        video = container.add_stream("mjpeg", rate=8)
        video.width, video.height, video.pix_fmt = *size, "yuvj420p"
        for index, frame_size in enumerate(sizes or [size] * frames):
            jpeg = photo_with_secrets(path.with_suffix(f".{index}.jpg"), frame_size)
            packet = av.Packet(jpeg.read_bytes())
            jpeg.unlink()
            packet.pts = packet.dts = index
            packet.time_base = Fraction(1, 8)
            packet.is_keyframe = True
            packet.stream = video
            container.mux(packet)
    return path


def clip_with_cover_art(path: Path, size: tuple[int, int] = (160, 90)) -> Path:
    """An MP4 whose first video stream is a cover picture (attached_pic): a JPEG with GPS
    EXIF, 64×64 so that it cannot pass for the video."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cover_jpeg = photo_with_secrets(path.with_suffix(".cover.jpg"), (64, 64))
    with av.open(str(path), "w", format="mp4") as container:
        cover = container.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        video = container.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        packet = av.Packet(cover_jpeg.read_bytes())
        packet.pts = packet.dts = 0
        packet.time_base = Fraction(1, 90000)
        packet.is_keyframe = True
        packet.stream = cover
        container.mux(packet)
        for index in range(8):
            frame = av.VideoFrame.from_image(picture(size, index))
            frame.pts = index
            for encoded in video.encode(frame):
                container.mux(encoded)
        for encoded in video.encode():
            container.mux(encoded)
    cover_jpeg.unlink()
    _user_data_first(path)
    return path


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole box) for each ISO-BMFF box in ``data`` (32-bit sizes only)."""
    found, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        found.append((kind, data[offset:offset + size]))
        offset += size
    return found


def _user_data_first(path: Path) -> None:
    """Move the movie's user data (where the cover lives) before its tracks, as some tools
    write it: FFmpeg then lists the cover as the file's first video stream. The media data
    does not move, so the tracks' chunk offsets stay true."""
    top = _boxes(path.read_bytes())
    rebuilt = b""
    for kind, box in top:
        if kind == b"moov":
            children = _boxes(box[8:])
            ordered = sorted(children, key=lambda child: child[0] != b"udta")
            box = box[:8] + b"".join(child for _, child in ordered)
        rebuilt += box
    path.write_bytes(rebuilt)


def first_frame(path: Path) -> Image.Image:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_image()
