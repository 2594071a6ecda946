import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import milpa.images
from milpa.images import (
    AVIF,
    JPEG,
    WEBP,
    ImageOptions,
    ProcessedImage,
    Rendition,
    RenditionCache,
    render,
    target_widths,
)
from milpa.markup import Photo

from .conftest import SECRET_SERIAL, photo_with_secrets
from .privacy import image_leaks


def test_widths_never_upscale() -> None:
    assert target_widths(2000, (320, 640, 1024)) == [320, 640, 1024]
    assert target_widths(800, (320, 640, 1024)) == [320, 640, 800]
    assert target_widths(200, (320, 640, 1024)) == [200]


def test_renditions_are_jpeg_webp_and_avif_with_nothing_but_pixels(tmp_path: Path) -> None:
    source = photo_with_secrets(tmp_path / "p.jpg", (1600, 1200)).read_bytes()
    described, files = render(source, "p", ImageOptions())
    assert [(r.media_type, r.width) for r in described.renditions] == [
        (kind, width) for kind in (JPEG, WEBP, AVIF) for width in (360, 540, 720, 1080)]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert image_leaks(tmp_path / name, (SECRET_SERIAL.encode(),)) == [], name
    assert {name.rsplit(".", 1)[1] for name in files} == {"jpg", "webp", "avif"}
    assert (described.width, described.height) == (1080, 810)
    # A 4×3-component blurhash: size flag, maximum, DC (4 chars) and 11 AC pairs.
    assert len(described.blurhash) == 1 + 1 + 4 + 2 * 11


def test_orientation_is_applied_before_the_tag_is_dropped(tmp_path: Path) -> None:
    # Orientation 6: stored landscape, meant to be seen rotated 90° clockwise.
    source = photo_with_secrets(tmp_path / "p.jpg", (800, 600), orientation=6).read_bytes()
    described, files = render(source, "p", ImageOptions())
    largest = described.largest(JPEG)
    assert (largest.width, largest.height) == (600, 800)
    (tmp_path / "out.jpg").write_bytes(files[largest.name])
    with Image.open(tmp_path / "out.jpg") as upright:
        # The red corner, top-left when stored, is top-right once rotated clockwise.
        red, green, _blue = upright.convert("RGB").getpixel((upright.width - 10, 10))
        assert red > 200 and green < 80


def test_grayscale_smallest_rendition_is_lighter(tmp_path: Path) -> None:
    source = photo_with_secrets(tmp_path / "p.jpg", (1200, 900), colour="orange").read_bytes()
    colour, _ = render(source, "p", ImageOptions())
    gray, files = render(source, "p", ImageOptions(grayscale_smallest=True))
    smallest = gray.smallest(JPEG)
    (tmp_path / smallest.name).write_bytes(files[smallest.name])
    with Image.open(tmp_path / smallest.name) as image:
        assert image.mode == "L"
    assert smallest.size < colour.smallest(JPEG).size
    assert gray.largest(JPEG).size == colour.largest(JPEG).size


def test_the_cache_does_not_reencode_an_unchanged_photo(tmp_path: Path,
                                                        monkeypatch) -> None:
    source = photo_with_secrets(tmp_path / "p.jpg").read_bytes()
    cache = RenditionCache(tmp_path / "cache", ImageOptions())
    first, entry = cache.process(source, "p.jpg")

    def must_not_render(*_args: object) -> None:
        raise AssertionError("re-encoded an unchanged photo")

    monkeypatch.setattr("milpa.images.render", must_not_render)
    again, same_entry = cache.process(source, "p.jpg")
    assert (again, same_entry) == (first, entry)
    assert sorted(p.name for p in entry.iterdir()) == sorted(
        [r.name for r in first.renditions] + ["meta.json"])


def test_changed_options_make_new_renditions(tmp_path: Path) -> None:
    source = photo_with_secrets(tmp_path / "p.jpg").read_bytes()
    _, small = RenditionCache(tmp_path / "c", ImageOptions(widths=(320,))).process(source, "p")
    _, large = RenditionCache(tmp_path / "c", ImageOptions(widths=(640,))).process(source, "p")
    assert small != large


def test_a_photo_under_another_name_is_named_after_it_whatever_the_cache_met_first(
        tmp_path: Path) -> None:
    source = photo_with_secrets(tmp_path / "p.jpg").read_bytes()
    cache = RenditionCache(tmp_path / "cache", ImageOptions())
    loom, _ = cache.process(source, "zz-loom.jpg")
    # Another cache object, as in the next build: the same bytes met under another name.
    weavers, _ = RenditionCache(tmp_path / "cache", ImageOptions()).process(source,
                                                                            "weavers.jpg")
    assert all(r.name.startswith("weavers-") for r in weavers.renditions)
    assert all(r.name.startswith("zz-loom-") for r in loom.renditions)
    assert all(r.name.startswith("weavers-") for r in cache.process(source, "weavers.jpg")[0]
               .renditions)


def noise(path: Path, size: tuple[int, int] = (1200, 800)) -> bytes:
    """A photo no encoder can shrink: random pixels."""
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(path, "PNG")
    return path.read_bytes()


def test_no_webp_or_avif_heavier_than_the_jpeg_of_its_width_is_written(tmp_path: Path) -> None:
    heavy = ImageOptions(widths=(360, 720), jpeg_quality=5, webp_quality=100, avif_quality=100)
    described, files = render(noise(tmp_path / "n.png"), "n", heavy)
    assert [(r.media_type, r.width) for r in described.renditions] == [(JPEG, 360), (JPEG, 720)]
    assert {name.rsplit(".", 1)[1] for name in files} == {"jpg"}
    picture = Photo(described, "noise", "/media", "n.png").picture()
    assert "<source" not in picture and 'srcset="/media/n-' in picture


def test_each_source_offers_the_lightest_file_of_each_width() -> None:
    def made(kind: str, width: int, size: int) -> Rendition:
        return Rendition(f"p-{width}.{kind.split('/')[1]}", width, width, kind, size)

    image = ProcessedImage(720, 720, "", (
        made(JPEG, 360, 10), made(JPEG, 720, 20), made(WEBP, 360, 5), made(AVIF, 360, 7),
        made(AVIF, 720, 12)))
    photo = Photo(image, "p", "/m", "p.jpg")
    assert photo.srcset(AVIF, WEBP, JPEG) == "/m/p-360.webp 360w, /m/p-720.avif 720w"
    assert photo.srcset(WEBP, JPEG) == "/m/p-360.webp 360w, /m/p-720.jpeg 720w"
    picture = photo.picture()
    assert picture.index('type="image/avif"') < picture.index('type="image/webp"')


def test_without_avif_in_pillow_only_webp_and_jpeg_are_made_and_the_cache_knows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = photo_with_secrets(tmp_path / "p.jpg", (1200, 900)).read_bytes()
    with_avif = ImageOptions().fingerprint()
    monkeypatch.setattr(milpa.images, "avif_available", lambda: False)
    described, files = render(source, "p", ImageOptions())
    assert {r.media_type for r in described.renditions} == {JPEG, WEBP}
    assert not [name for name in files if name.endswith(".avif")]
    assert "image/avif" not in Photo(described, "p", "/m", "p.jpg").picture()
    assert ImageOptions().fingerprint() != with_avif  # Pillow with AVIF later: made again


ONE_CPU = """
import hashlib, os, sys
from pathlib import Path
from milpa.images import AVIF, ImageOptions, render
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
described, files = render(Path(sys.argv[1]).read_bytes(), "p", ImageOptions(widths=(540,)))
print(hashlib.sha256(files[described.of_type(AVIF)[0].name]).hexdigest())
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to compare")
def test_an_avif_has_the_same_bytes_whatever_the_number_of_cpus(tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    noise(tmp_path / "n.png", (800, 600))
    Image.open(tmp_path / "n.png").save(path, quality=90)
    described, files = render(path.read_bytes(), "p", ImageOptions(widths=(540,)))
    here = hashlib.sha256(files[described.of_type(AVIF)[0].name]).hexdigest()
    there = subprocess.run([sys.executable, "-c", ONE_CPU, str(path)], capture_output=True,
                           text=True, timeout=120, check=True, env=os.environ)
    assert there.stdout.strip() == here
