"""Videos: stripped by ffmpeg, or refused when ffmpeg is missing — never published raw."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pelican import Pelican

from .conftest import MiniSite, require_tool, story
from .privacy import digests, video_tags


def clip_with_location(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=8",
        "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
        "-metadata", "location=+17.0654-096.7236/", "-metadata", "comment=device SN-9",
        str(path)], check=True, timeout=60)
    return path


def test_a_video_is_stripped_and_waits_for_the_reader(mini_site: MiniSite) -> None:
    require_tool("ffmpeg", "ffprobe")
    source = clip_with_location(mini_site.content / "media/clip.mp4")
    mini_site.add("stories/v.md", story("Video", "![The assembly, singing](media/clip.mp4)"))
    mini_site.build()
    page = BeautifulSoup(mini_site.read("stories/video/index.html"), "html.parser")
    video = page.select_one("figure.video video")
    assert video["preload"] == "none" and video["aria-label"] == "The assembly, singing"
    assert (mini_site.output / video["poster"].lstrip("/")).is_file()
    published = mini_site.output / video.source["src"].lstrip("/")
    assert video.source["type"] == "video/mp4"
    assert "location" not in video_tags(published) and "comment" not in video_tags(published)
    assert "location" in video_tags(source)
    assert f"({published.stat().st_size / 1024:.0f} KB)" in page.figcaption.get_text()
    assert set(digests(mini_site.content)) & set(digests(mini_site.output)) == set()


def test_without_ffmpeg_a_video_is_refused_with_what_to_install(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> None:
    (mini_site.content / "media").mkdir()
    (mini_site.content / "media/clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 location")
    mini_site.add("stories/v.md", story("Video", "![A clip](media/clip.mp4)"))
    monkeypatch.setenv("PATH", "/nonexistent")
    # The story is left out (expiry always wins: the rest of the site is still built).
    assert mini_site.build().left_out == (
        f"{mini_site.content}/stories/v.md:6: video media/clip.mp4 needs ffmpeg to strip its "
        "metadata before it can be published; install ffmpeg (Debian/Ubuntu: apt-get install "
        "ffmpeg) or remove the video",)
    assert not (mini_site.output / "stories/video").exists()
    assert set(digests(mini_site.content)) & set(digests(mini_site.output)) == set()


def test_plain_pelican_without_ffmpeg_logs_the_error_and_publishes_no_video(
        mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    (mini_site.content / "media").mkdir()
    (mini_site.content / "media/clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 location")
    mini_site.add("stories/v.md", story("Video", "![A clip](media/clip.mp4)"))
    monkeypatch.setenv("PATH", "/nonexistent")
    Pelican(mini_site.settings()).run()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"{mini_site.content}/stories/v.md:6: video media/clip.mp4 needs ffmpeg "
                      "to strip its metadata before it can be published; install ffmpeg "
                      "(Debian/Ubuntu: apt-get install ffmpeg) or remove the video"]
    assert list(mini_site.output.rglob("*.mp4")) == []
    assert "<video" not in mini_site.read("stories/video/index.html")
