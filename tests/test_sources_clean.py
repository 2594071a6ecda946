"""Sources are clean before they are committed, and pictures are bounded before decoding.

Every tainted file is made here, by the real encoders (Pillow, pillow-heif, PyAV); every
result is judged by its bytes (``privacy.image_leaks``) and by decoding it again.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import av
import pytest
from click.testing import CliRunner
from PIL import ExifTags, Image, PngImagePlugin

from milpa.checks import media_files
from milpa.commit_hook import main as commit_hook
from milpa.filetypes import PNG
from milpa.images import ImageOptions, ImageTooLarge, render
from milpa.metadata import GPS, CannotStrip, carried, stripped
from milpa.safecopy import stripped_file

from .conftest import (
    ROOT,
    SECRET_SERIAL,
    MiniSite,
    photo_with_secrets,
    run,
    settings_file,
    story,
)
from .privacy import METADATA_MARKERS, image_leaks
from .test_import import archive, create, note

SECRETS = (SECRET_SERIAL.encode(), b"PhoneMaker", b"17.0654", b"home of the author")
LOCATION = "+17.0654-096.7236/"


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.BodySerialNumber] = SECRET_SERIAL
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (17.0, 3.0, 55.4)
    exif[ExifTags.IFD.GPSInfo] = gps
    return exif


def _picture(size: tuple[int, int] = (96, 64)) -> Image.Image:
    image = Image.new("RGB", size, "seagreen")
    image.paste("red", (0, 0, size[0] // 4, size[1] // 4))
    return image


def png_with_text(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("GPS", "17.0654 N, 96.7236 W")
    info.add_text("Comment", "home of the author", zip=True)
    _picture().save(path, "PNG", pnginfo=info, exif=_exif())
    return path


def webp_with_exif(path: Path) -> Path:
    _picture().save(path, "WEBP", exif=_exif(), xmp=b"<x:xmpmeta>GPSLatitude 17.0654</x:xmpmeta>",
                    quality=80)
    return path


def heic_with_exif(path: Path) -> Path:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _picture().save(path, "HEIF", exif=_exif().tobytes())
    return path


def avif_with_exif(path: Path) -> Path:
    _picture().save(path, "AVIF", exif=_exif().tobytes())
    return path


def video_with_location(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as container:
        container.metadata["location"] = LOCATION
        container.metadata["comment"] = SECRET_SERIAL
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for shade in range(3):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), (shade * 80, 0, 0)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bomb_png(path: Path, side: int = 10_000) -> Path:
    """A 1-bit PNG claiming side × side pixels, a few KB on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    rows = (b"\x00" + bytes((side + 7) // 8)) * side
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side,
                                                                      1, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    return path


def pixels(path: Path) -> bytes:
    with Image.open(path) as image:
        return image.convert("RGB").tobytes()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MiniSite:
    site = MiniSite(tmp_path)
    (tmp_path / "pelicanconf.py").write_text(settings_file(
        PATH=str(site.content), OUTPUT_PATH=str(site.output),
        CACHE_PATH=str(tmp_path / "cache"), MILPA_DATA_PATH=str(tmp_path / "data")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
    return site


@pytest.fixture
def tainted(site: MiniSite) -> dict[str, Path]:
    photos = site.content / "photos"
    notes = photo_with_secrets(site.content / "extra/notes.txt")  # a JPEG by its bytes
    return {
        "jpeg": photo_with_secrets(photos / "phone.jpg"),
        "upright": photo_with_secrets(photos / "turned.jpg", (120, 80), orientation=6),
        "png": png_with_text(photos / "screen.png"),
        "webp": webp_with_exif(photos / "shared.webp"),
        "heic": heic_with_exif(photos / "iphone.heic"),
        "avif": avif_with_exif(photos / "modern.avif"),
        "txt": notes,
        "video": video_with_location(site.content / "media/walk.mp4"),
    }


def test_check_names_every_file_that_carries_metadata_by_its_content(
        site: MiniSite, tainted: dict[str, Path]) -> None:
    (site.content / "photos/clean.png").write_bytes(stripped_file(
        tainted["png"].read_bytes(), PNG))
    result = run("check")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    expected = {
        "content/photos/phone.jpg": "carries GPS position, camera serial number, camera make "
        "or model, comment or description, XMP metadata (run: python publish.py clean-media "
        "content/photos/phone.jpg)",
        "content/photos/screen.png": "carries GPS position, camera serial number, camera make "
        "or model, text chunks",
        "content/photos/shared.webp": "carries GPS position, camera serial number, camera make "
        "or model, XMP metadata",
        "content/photos/iphone.heic": "carries GPS position, camera serial number, camera "
        "make or model",
        "content/photos/modern.avif": "carries GPS position, camera serial number, camera "
        "make or model",
        "content/extra/notes.txt": "carries GPS position, camera serial number",
        "content/media/walk.mp4": "carries GPS position, comment or description (the build "
        "re-encodes videos",
    }
    for name, message in expected.items():
        assert any(line.startswith(f"{name}: {message}") for line in lines), name
    assert not any("clean.png" in line for line in lines)
    # The build re-encodes every photo it publishes, so metadata does not stop it.
    assert "0 would keep their story or page out of the build" in lines[-1]


def test_clean_media_strips_in_place_without_touching_the_pictures(
        site: MiniSite, tainted: dict[str, Path]) -> None:
    before = {name: pixels(path) for name, path in tainted.items() if name != "video"}
    originals = {name: path.read_bytes() for name, path in tainted.items()}
    listed = run("clean-media", "--dry-run")
    assert "content/photos/phone.jpg: would remove GPS position" in listed.output
    assert {name: path.read_bytes() for name, path in tainted.items()} == originals

    result = run("clean-media")
    assert result.exit_code == 1  # the video is refused
    assert "content/media/walk.mp4: not cleaned, videos cannot be cleaned in place" \
        in result.output
    assert "content/photos/iphone.heic: removed GPS position, camera serial number, camera " \
        "make or model; re-encoded by Pillow" in result.output
    assert "Cleaned 7 file(s); 0 already clean; 1 could not be cleaned" in result.output
    for name in ("jpeg", "png", "webp", "heic", "avif", "txt"):
        assert image_leaks(tainted[name], SECRETS) == [], name
    # Not re-encoded: the same picture, bit for bit once decoded.
    for name in ("jpeg", "png", "webp", "txt", "upright"):
        assert pixels(tainted[name]) == before[name], name
    assert tainted["video"].read_bytes() == originals["video"]
    assert [str(found.path) for found in media_files([site.content]) if found] == [
        str(tainted["video"])]


def test_a_turned_photo_keeps_its_orientation_and_nothing_else(
        site: MiniSite, tainted: dict[str, Path]) -> None:
    path = tainted["upright"]
    clean, note = stripped(path.read_bytes(), 50_000_000)
    assert note is None
    path.write_bytes(clean)
    with Image.open(path) as image:
        assert dict(image.getexif()) == {ExifTags.Base.Orientation: 6}
        assert not {"xmp", "comment"} & set(image.info)
    assert not [secret for secret in SECRETS if secret in clean]
    assert not [m for m in METADATA_MARKERS[1:] if m in clean]
    assert not carried(path)
    # The build turns it upright: stored 120×80, shown 80×120.
    described, _ = render(clean, "t", ImageOptions())
    assert (described.width, described.height) == (80, 120)


def test_png_chunks_keep_their_crcs_and_webp_its_container(
        site: MiniSite, tainted: dict[str, Path]) -> None:
    png, _ = stripped(tainted["png"].read_bytes(), 50_000_000)
    position, kinds = 8, []
    while position < len(png):
        length = struct.unpack(">I", png[position:position + 4])[0]
        kind, body = png[position + 4:position + 8], png[position + 8:position + 8 + length]
        crc = struct.unpack(">I", png[position + 8 + length:position + 12 + length])[0]
        assert zlib.crc32(kind + body) == crc, kind
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    webp, _ = stripped(tainted["webp"].read_bytes(), 50_000_000)
    assert struct.unpack("<I", webp[4:8])[0] == len(webp) - 8
    assert b"EXIF" not in webp and b"XMP " not in webp
    assert webp[12:16] == b"VP8X" and not webp[20] & 0x0C  # no EXIF or XMP flag left
    with Image.open(io.BytesIO(webp)) as image:
        image.load()
        assert not image.getexif() and "xmp" not in image.info


def test_imports_write_only_clean_photos(site: MiniSite, tmp_path: Path) -> None:
    photo = photo_with_secrets(tmp_path / "p.jpg").read_bytes()
    attachment = {"type": "Document", "mediaType": "image/jpeg", "name": "Un manantial",
                  "url": "/media_attachments/files/1/original/p.jpg"}
    (tmp_path / "ana.zip").write_bytes(archive(
        tmp_path, [create(note(1, "<p>El agua volvió</p>", attachment=[attachment]))],
        {"media_attachments/files/1/original/p.jpg": photo}))
    result = run("import", "mastodon", "ana.zip", "--territory", "X", "--author", "Ana")
    assert result.exit_code == 0
    photos = list((site.content / "photos/imported").iterdir())
    assert len(photos) == 1 and image_leaks(photos[0], SECRETS) == []
    assert pixels(photos[0]) == pixels(tmp_path / "p.jpg")  # cleaned, not re-encoded


def test_pictures_appended_after_the_end_of_a_jpeg_go(tmp_path: Path) -> None:
    # Phones append a second picture (MPF) or a maker's trailer after the end-of-image.
    clean, _ = stripped(photo_with_secrets(tmp_path / "a.jpg").read_bytes(), 50_000_000)
    appended = tmp_path / "b.jpg"
    appended.write_bytes(clean + photo_with_secrets(tmp_path / "c.jpg").read_bytes())
    assert carried(appended).labels == ("data after the picture",)
    result, _ = stripped(appended.read_bytes(), 50_000_000)
    assert result == clean


def test_new_writes_no_media(site: MiniSite) -> None:
    assert run("new", "Agua", "--territory", "X", "--lang", "es").exit_code == 0
    assert not [found for found in media_files([site.content])]


def test_the_commit_hook_refuses_a_tainted_file_and_passes_a_clean_one(tmp_path: Path) -> None:
    tainted = photo_with_secrets(tmp_path / "field.jpg")
    clean = tmp_path / "clean.jpg"
    clean.write_bytes(stripped(tainted.read_bytes(), 50_000_000)[0])
    (tmp_path / "story.md").write_text(story("Agua"))
    text = str(tmp_path / "story.md")
    refused = CliRunner().invoke(commit_hook, [str(tainted), str(clean), text])
    assert refused.exit_code == 1
    assert "field.jpg: carries GPS position, camera serial number" in refused.output
    assert "clean.jpg" not in refused.output
    passed = CliRunner().invoke(commit_hook, [str(clean), text])
    assert passed.exit_code == 0 and passed.output == ""


def test_pre_commit_runs_the_hook_on_staged_files(tmp_path: Path) -> None:
    """The repository's own hook configuration, run by the pre-commit tool, offline."""
    repo = tmp_path / "site"
    repo.mkdir()
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo)
    photo_with_secrets(repo / "content/photos/field.jpg")
    environment = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"),
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
                   "GIT_CONFIG_GLOBAL": os.devnull}

    def git(*arguments: str) -> None:
        subprocess.run(["git", *arguments], cwd=repo, check=True, capture_output=True,
                       env=environment)

    git("init", "-q")
    git("add", ".")

    def pre_commit() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--files",
                               "content/photos/field.jpg"], cwd=repo, capture_output=True,
                              text=True, env=environment, timeout=120)

    refused = pre_commit()
    print(refused.stdout, refused.stderr)
    assert refused.returncode == 1
    assert "content/photos/field.jpg: carries GPS position" in refused.stdout
    photo = repo / "content/photos/field.jpg"
    photo.write_bytes(stripped(photo.read_bytes(), 50_000_000)[0])
    git("add", ".")
    passed = pre_commit()
    assert passed.returncode == 0, passed.stdout


def test_the_public_hook_names_a_declared_console_script() -> None:
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "- id: milpa-media-metadata" in hooks and "entry: milpa-media-check" in hooks
    assert 'milpa-media-check = "milpa.commit_hook:main"' in (ROOT / "pyproject.toml").read_text()
    for kind, name in (("manifest", ".pre-commit-hooks.yaml"),
                       ("config", ".pre-commit-config.yaml")):
        subprocess.run([sys.executable, "-m", "pre_commit", f"validate-{kind}", str(ROOT / name)],
                       check=True, capture_output=True, timeout=60)


def test_the_demo_content_is_clean() -> None:
    assert [found.path for found in media_files([ROOT / "content"]) if found] == []
    assert carried(ROOT / "content/media/radio-first-broadcast.mp4") is not None


def test_check_refuses_a_picture_over_the_pixel_limit_quickly(site: MiniSite) -> None:
    bomb = bomb_png(site.content / "photos/bomb.png")
    assert bomb.stat().st_size < 20_000
    started = time.monotonic()
    result = run("check")
    assert result.exit_code == 1
    assert ("content/photos/bomb.png: 10000×10000 is 100 megapixels, over the 50 megapixel "
            "limit (MILPA_MAX_IMAGE_PIXELS)") in result.output
    assert "1 would keep their story or page out of the build" in result.output
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(("side", "message"), [
    (15_000, "225 megapixels, more than Pillow opens (100 megapixels) and over "
     "MILPA_MAX_IMAGE_PIXELS: shrink it before committing"),
    (8_000, "8000×8000 is 64 megapixels, over the 50 megapixel limit"),
])
def test_a_huge_gif_is_refused_with_a_message(site: MiniSite, side: int, message: str) -> None:
    buffer = io.BytesIO()
    Image.new("P", (4, 4)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", side, side)  # the screen, then the one frame
    frame = data.index(0x2C, 13)
    data[frame + 5:frame + 9] = struct.pack("<HH", side, side)
    (site.content / "bomb.gif").write_bytes(bytes(data))
    result = run("check")
    assert result.exit_code == 1
    assert f"content/bomb.gif: {message}" in result.output
    assert "1 would keep their story or page out of the build" in result.output


def test_render_refuses_what_pillow_would_call_a_bomb(tmp_path: Path) -> None:
    # The plugin's path, for builds run by `pelican` itself without the check first.
    with pytest.raises(ImageTooLarge, match="over the 50 megapixel limit"):
        render(bomb_png(tmp_path / "b.png", 7_500).read_bytes(), "b", ImageOptions())
    with pytest.raises(ImageTooLarge, match="225 megapixels, more than Pillow opens"):
        render(bomb_png(tmp_path / "c.png", 15_000).read_bytes(), "c", ImageOptions())
    with pytest.raises(ImageTooLarge, match="1 megapixel limit"):
        render(bomb_png(tmp_path / "d.png", 1_500).read_bytes(), "d",
               ImageOptions(max_pixels=1_000_000))


def _build_peak_rss(site: MiniSite) -> tuple[subprocess.CompletedProcess[str], float]:
    """`publish.py build` in its own process: its outcome and its peak memory in MB.

    The peak is the kernel's high-water mark of the process's own memory (VmHWM), which
    starts afresh at exec; getrusage's ru_maxrss would carry over the forking test runner's.
    """
    environment = {**os.environ,
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    probe = (f"import re, runpy, sys\n"
             f"sys.argv = ['publish.py', 'build', '--no-ping']\n"
             f"try:\n"
             f"    runpy.run_path({str(ROOT / 'publish.py')!r}, run_name='__main__')\n"
             f"finally:\n"
             f"    status = open('/proc/self/status').read()\n"
             f"    print('peak', re.search(r'VmHWM:\\s+(\\d+)', status)[1], file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=site.base, capture_output=True,
                          text=True, env=environment, timeout=120)
    peak = [line for line in done.stderr.splitlines() if line.startswith("peak ")]
    return done, int(peak[-1].split()[1]) / 1024


def test_build_refuses_a_bomb_without_allocating_it(site: MiniSite) -> None:
    bomb_png(site.content / "photos/bomb.png")
    site.add("stories/bomb.md", story("Bomba", "![A white field](../photos/bomb.png)"))
    started = time.monotonic()
    done, peak = _build_peak_rss(site)
    print(done.stdout, done.stderr, f"peak {peak:.0f} MB")
    assert done.returncode == 1
    assert "bomb.png: 10000×10000 is 100 megapixels, over the 50 megapixel limit" in done.stderr
    assert not (site.output / "index.html").exists()
    assert time.monotonic() - started < 60
    # Decoding it would take 100 MB as 1-bit pixels and 300 MB more as RGB.
    assert peak < 150, f"peak {peak:.0f} MB"


def video_with_cover(path: Path) -> Path:
    """A video with a cover picture riding along as an extra stream."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        cover = container.add_stream("mjpeg", rate=1)
        for each in (stream, cover):
            each.width, each.height = 64, 48
        stream.pix_fmt, cover.pix_fmt = "yuv420p", "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        for encoder in (stream, cover):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), "blue"))
            for packet in [*encoder.encode(frame), *encoder.encode()]:
                container.mux(packet)
    return path


def test_videos_are_read_by_content_with_their_side_streams(tmp_path: Path) -> None:
    found = carried(video_with_location(tmp_path / "v.mov.txt"))
    assert found is not None and found.kind == "video"
    assert found.labels == (GPS, "comment or description")
    assert carried(video_with_cover(tmp_path / "c.mp4")).labels == ("extra streams",)


def test_gifs_are_re_encoded_and_animations_refused(tmp_path: Path) -> None:
    still = tmp_path / "s.gif"
    _picture().save(still, "GIF", comment=b"home of the author")
    assert carried(still).labels == ("comment or description",)
    clean, note = stripped(still.read_bytes(), 50_000_000)
    assert note and "re-encoded by Pillow" in note
    assert b"home of the author" not in clean and pixels(still) == pixels_of(clean)
    moving = tmp_path / "m.gif"
    _picture().save(moving, "GIF", save_all=True, append_images=[Image.new("RGB", (96, 64))],
                    comment=b"home of the author")
    with pytest.raises(CannotStrip, match="animated or many-page GIF"):
        stripped(moving.read_bytes(), 50_000_000)


def pixels_of(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()
