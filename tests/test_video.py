"""Videos: every frame decoded and encoded again with PyAV, so nothing but pictures and sound
reaches the site; bounded in length, frame size and time; never published raw."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import av
import pytest
from bs4 import BeautifulSoup

from milpa.video import VideoCache, VideoError, VideoOptions, duration_text, target_heights

from .clips import (
    GPS_TEXT,
    clip,
    clip_with_cover_art,
    first_frame,
    mjpeg_mov_with_exif,
    picture,
)
from .conftest import ROOT, SECRET_SERIAL, MiniSite, story
from .privacy import digests, video_leaks, video_tags

SECRETS = (GPS_TEXT, b"17.0654", b"SN-9", SECRET_SERIAL.encode(), b"PhoneMaker", b"phone clip")
SMALL = VideoOptions(heights=(360,))  # one rendition each, at the clip's own size


def published(source: Path, folder: Path, options: VideoOptions = SMALL) -> list[Path]:
    described, entry = VideoCache(folder, options).process(source)
    return [entry / r.name for r in described.renditions]


def streams_of(path: Path) -> list[tuple[str, int, int]]:
    with av.open(str(path)) as container:
        return [(s.type, getattr(s.codec_context, "width", 0) or 0,
                 getattr(s.codec_context, "height", 0) or 0) for s in container.streams]


def test_gps_in_h264_sei_user_data_does_not_survive(tmp_path: Path) -> None:
    source = clip(tmp_path / "sei.mp4", sei=GPS_TEXT)
    assert GPS_TEXT in source.read_bytes()
    assert "location" in video_tags(source) and "comment" in video_tags(source)
    for video in published(source, tmp_path / "cache"):
        assert video_leaks(video, SECRETS) == []


def test_a_subtitle_track_is_left_behind(tmp_path: Path) -> None:
    source = clip(tmp_path / "captioned.mp4", subtitle=GPS_TEXT)
    assert [kind for kind, _, _ in streams_of(source)] == ["video", "audio", "subtitle"]
    assert GPS_TEXT in source.read_bytes()
    [video] = published(source, tmp_path / "cache")
    assert video_leaks(video, SECRETS) == []


def test_a_webm_source_becomes_an_mp4(tmp_path: Path) -> None:
    source = tmp_path / "clip.webm"
    with av.open(str(source), "w", format="webm") as container:
        container.metadata["location"] = "+17.0654-096.7236/"
        stream = container.add_stream("libvpx-vp9", rate=8)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for index in range(8):
            frame = av.VideoFrame.from_image(picture((160, 90), index))
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert b"17.0654" in source.read_bytes()
    [video] = published(source, tmp_path / "cache")
    assert video.suffix == ".mp4" and streams_of(video) == [("video", 160, 90)]
    assert video_leaks(video, SECRETS) == []


def test_an_iphone_style_hevc_mov_comes_out_upright_and_clean(tmp_path: Path) -> None:
    """What an iPhone records by default: 10-bit HEVC in a .mov, a location in its
    metadata, a display matrix for a portrait shot."""
    source = tmp_path / "IMG_0042.MOV"
    with av.open(str(source), "w", format="mov") as container:
        container.metadata["location"] = "+17.0654-096.7236/"
        stream = container.add_stream("libx265", rate=8)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p10le"
        stream.codec_context.options = {"x265-params": "log-level=error"}
        stream.set_display_rotation(-90)
        for index in range(8):
            frame = av.VideoFrame.from_image(picture((160, 90), index)).reformat(
                format="yuv420p10le")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert b"17.0654" in source.read_bytes()
    [video] = published(source, tmp_path / "cache")
    assert streams_of(video) == [("video", 90, 160)]
    assert video_leaks(video, SECRETS) == []


def test_exif_gps_inside_motion_jpeg_frames_does_not_survive(tmp_path: Path) -> None:
    source = mjpeg_mov_with_exif(tmp_path / "camera.mov")
    assert b"Exif\x00\x00" in source.read_bytes() and SECRET_SERIAL.encode() in source.read_bytes()
    [video] = published(source, tmp_path / "cache")
    assert video_leaks(video, SECRETS) == []
    assert video.suffix == ".mp4" and streams_of(video) == [("video", 160, 120)]


def test_cover_art_is_neither_copied_nor_taken_for_the_video(tmp_path: Path) -> None:
    source = clip_with_cover_art(tmp_path / "cover.mp4")
    assert streams_of(source)[0] == ("video", 64, 64)  # the cover comes first
    assert SECRET_SERIAL.encode() in source.read_bytes()
    [video] = published(source, tmp_path / "cache")
    assert video_leaks(video, SECRETS) == []
    assert streams_of(video) == [("video", 160, 90)]


@pytest.mark.parametrize(("rotation", "red_corner", "size"), [
    (90, "bottom left", (90, 160)), (-90, "top right", (90, 160)),
    (180, "bottom right", (160, 90))])
def test_a_phone_video_held_upright_stays_upright(tmp_path: Path, rotation: int,
                                                  red_corner: str, size: tuple[int, int]
                                                  ) -> None:
    """The display matrix is applied to the pixels, as FFmpeg's players do; the block in the
    source's top-left corner lands where the turned picture puts it."""
    [video] = published(clip(tmp_path / "phone.mp4", rotation=rotation), tmp_path / "cache")
    image = first_frame(video)
    assert image.size == size
    corners = {"top left": (4, 4), "top right": (image.width - 5, 4),
               "bottom left": (4, image.height - 5), "bottom right": (image.width - 5,
                                                                      image.height - 5)}
    red = {name for name, xy in corners.items()
           if image.getpixel(xy)[0] > 200 and image.getpixel(xy)[1] < 60}
    assert red == {red_corner}


def test_renditions_by_short_edge_never_enlarged(tmp_path: Path) -> None:
    assert target_heights(1080, (360, 720)) == [360, 720]
    assert target_heights(500, (360, 720)) == [360, 500]
    assert target_heights(180, (360, 720)) == [180]
    assert target_heights(180, ()) == [180]
    source = clip(tmp_path / "wide.mp4", size=(320, 180))
    videos = published(source, tmp_path / "cache", VideoOptions(heights=(90, 360)))
    assert [streams_of(v) for v in videos] == [[("video", 160, 90), ("audio", 0, 0)],
                                               [("video", 320, 180), ("audio", 0, 0)]]
    assert [v.name.rsplit("-", 1)[1] for v in videos] == ["90p.mp4", "180p.mp4"]


def test_a_silent_video_stays_silent(tmp_path: Path) -> None:
    [video] = published(clip(tmp_path / "quiet.mp4", audio=False), tmp_path / "cache")
    assert streams_of(video) == [("video", 160, 90)]


def test_the_same_source_gives_the_same_bytes(tmp_path: Path) -> None:
    source = clip(tmp_path / "clip.mp4", sei=GPS_TEXT)
    both = VideoOptions(heights=(360,), webm=True)
    first = published(source, tmp_path / "one", both)
    second = published(source, tmp_path / "two", both)
    assert [p.suffix for p in first] == [".mp4", ".webm"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def _refusal(source: Path, folder: Path, **limits: float) -> str:
    with pytest.raises(VideoError) as refused:
        VideoCache(folder, VideoOptions(heights=(90,), **limits)).process(source)
    assert not list(folder.glob("video-*")), "nothing is cached for a refused video"
    return str(refused.value)


def test_a_video_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    source = clip(tmp_path / "long.mp4", seconds=2)
    assert _refusal(source, tmp_path / "cache", max_seconds=1) == (
        "lasts 2 s, over the 1 s limit (MILPA_VIDEO_MAX_SECONDS): cut it shorter")


def _shorten_headers(path: Path) -> None:
    """Make the MP4's headers claim a tenth of a second (the frames still run 2 s)."""
    data = bytearray(path.read_bytes())
    for box in (b"mvhd", b"mdhd"):
        for found in re.finditer(box, bytes(data)):
            # version 0: version+flags, creation, modification, time scale, duration
            start = found.end()
            scale = struct.unpack(">I", data[start + 12:start + 16])[0]
            data[start + 16:start + 20] = struct.pack(">I", scale // 10)
    path.write_bytes(bytes(data))


def test_a_video_whose_headers_lie_about_its_length_is_refused(tmp_path: Path) -> None:
    source = clip(tmp_path / "liar.mp4", seconds=2, audio=False)
    _shorten_headers(source)
    with av.open(str(source)) as container:
        assert container.duration / av.time_base < 0.5
    assert _refusal(source, tmp_path / "cache", max_seconds=1) == (
        "runs past the 1 s limit (MILPA_VIDEO_MAX_SECONDS): cut it shorter")


def test_a_video_bigger_than_the_pixel_limit_is_refused(tmp_path: Path) -> None:
    source = clip(tmp_path / "big.mp4")
    assert _refusal(source, tmp_path / "cache", max_pixels=160 * 90 - 1) == (
        f"is 160×90, over the {160 * 90 - 1} pixel limit (MILPA_VIDEO_MAX_PIXELS): "
        "export it smaller")


def test_a_frame_bigger_than_the_header_says_is_refused(tmp_path: Path) -> None:
    source = mjpeg_mov_with_exif(tmp_path / "grows.mov", size=(160, 120),
                                 sizes=[(160, 120), (160, 120), (640, 480)])
    assert _refusal(source, tmp_path / "cache", max_pixels=160 * 120) == (
        f"has a 640×480 frame, over the {160 * 120} pixel limit (MILPA_VIDEO_MAX_PIXELS)")


def test_encoding_past_the_time_limit_is_refused(tmp_path: Path) -> None:
    source = clip(tmp_path / "slow.mp4")
    assert _refusal(source, tmp_path / "cache", timeout_seconds=0).startswith(
        "took more than")


def test_a_file_that_is_not_a_video_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "fake.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42 location +17.0654-096.7236/")
    assert _refusal(source, tmp_path / "cache").startswith("could not be read as a video")


def test_a_file_with_sound_and_no_picture_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "voice.mp4"
    with av.open(str(source), "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=22050, layout="mono")
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        frame.planes[0].update(bytes(4096))
        frame.rate, frame.pts = 22050, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode())
    assert _refusal(source, tmp_path / "cache") == "has no video stream"


def test_durations_read_as_people_say_them() -> None:
    assert [duration_text(s) for s in (0.2, 3, 59.6, 80, 600)] == [
        "1 s", "3 s", "1 min", "1 min 20 s", "10 min"]


def test_a_story_video_is_reencoded_and_says_what_it_costs(mini_site: MiniSite) -> None:
    source = clip(mini_site.content / "media/clip.mp4", size=(320, 180), sei=GPS_TEXT)
    mini_site.add("stories/v.md", story("Video", "![The assembly, singing](media/clip.mp4)"))
    mini_site.build(MILPA_VIDEO_HEIGHTS=(90, 360))
    page = BeautifulSoup(mini_site.read("stories/video/index.html"), "html.parser")
    video = page.select_one("figure.video video")
    assert video["preload"] == "none" and video["aria-label"] == "The assembly, singing"
    assert (mini_site.output / video["poster"].lstrip("/")).is_file()
    # The player gets the smallest rendition; each rendition is a download link.
    played = mini_site.output / video.source["src"].lstrip("/")
    assert video.source["type"] == "video/mp4" and streams_of(played)[0] == ("video", 160, 90)
    assert (video["width"], video["height"]) == ("160", "90")
    links = page.select("figure.video figcaption a[download]")
    assert [a.get_text() for a in links] == [
        f"{p}p ({(mini_site.output / a['href'].lstrip('/')).stat().st_size / 1024:.0f} KB)"
        for p, a in zip((90, 180), links, strict=True)]
    caption = page.select_one("figure.video figcaption").get_text()
    assert f"Video, 1 s, {played.stat().st_size / 1024:.0f} KB." in caption
    videos = list(mini_site.output.rglob("*.mp4"))
    assert len(videos) == 2 and all(video_leaks(v, SECRETS) == [] for v in videos)
    assert not [p for p in mini_site.output.rglob("*") if p.is_file()
                and any(secret in p.read_bytes() for secret in SECRETS)]
    assert set(digests(mini_site.content)) & set(digests(mini_site.output)) == set()
    assert source.is_file()


def test_a_webm_beside_each_mp4_when_asked(mini_site: MiniSite) -> None:
    clip(mini_site.content / "media/clip.mp4", size=(320, 180), sei=GPS_TEXT)
    mini_site.add("stories/v.md", story("Video", "![The assembly, singing](media/clip.mp4)"))
    mini_site.build(MILPA_VIDEO_HEIGHTS=(90,), MILPA_VIDEO_WEBM=True)
    page = BeautifulSoup(mini_site.read("stories/video/index.html"), "html.parser")
    sources = page.select("figure.video video source")
    assert [s["type"] for s in sources] == ["video/webm", "video/mp4"]
    webm, mp4 = (mini_site.output / s["src"].lstrip("/") for s in sources)
    assert streams_of(webm) == streams_of(mp4) == [("video", 160, 90), ("audio", 0, 0)]
    assert video_leaks(webm, SECRETS) == [] and video_leaks(mp4, SECRETS) == []
    assert [a["href"] for a in page.select("figcaption a[download]")] == [sources[1]["src"]]


def test_a_refused_video_fails_the_build_with_where_and_why(mini_site: MiniSite) -> None:
    clip(mini_site.content / "media/clip.mp4", seconds=2)
    mini_site.add("stories/v.md", story("Video", "![A clip](media/clip.mp4)"))
    # The story is left out (expiry always wins: the rest of the site is still built).
    summary = mini_site.build(MILPA_VIDEO_MAX_SECONDS=1)
    assert summary.left_out == (
        f"{mini_site.content}/stories/v.md:6: video media/clip.mp4 lasts 2 s, over the 1 s "
        "limit (MILPA_VIDEO_MAX_SECONDS): cut it shorter",)
    assert not (mini_site.output / "stories/video").exists()


def test_more_than_thirty_frames_a_second_are_thinned(tmp_path: Path) -> None:
    [video] = published(clip(tmp_path / "fast.mp4", rate=60, audio=False), tmp_path / "cache")
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 30


def test_a_build_loads_pyav_only_for_a_video() -> None:
    # Loading PyAV and its FFmpeg costs every command a tenth of a second.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, publish, milpa_site.build, milpa_media, milpa.checks;"
         " print('av' in sys.modules)"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"},
        capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


def test_a_video_under_another_name_has_an_entry_of_its_own(tmp_path: Path) -> None:
    # Its renditions are named after it: the same bytes under another name are not theirs.
    (tmp_path / "river.mp4").write_bytes(b"the same bytes")
    (tmp_path / "loom.mp4").write_bytes(b"the same bytes")
    cache = VideoCache(tmp_path / "cache", VideoOptions())
    assert cache.entry_of(tmp_path / "river.mp4") != cache.entry_of(tmp_path / "loom.mp4")
