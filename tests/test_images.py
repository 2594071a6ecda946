from pathlib import Path

from PIL import Image

from milpa.images import JPEG, WEBP, ImageOptions, RenditionCache, render, target_widths

from .conftest import SECRET_SERIAL, photo_with_secrets
from .privacy import image_leaks


def test_widths_never_upscale() -> None:
    assert target_widths(2000, (320, 640, 1024)) == [320, 640, 1024]
    assert target_widths(800, (320, 640, 1024)) == [320, 640, 800]
    assert target_widths(200, (320, 640, 1024)) == [200]


def test_renditions_are_webp_and_jpeg_with_nothing_but_pixels(tmp_path: Path) -> None:
    source = photo_with_secrets(tmp_path / "p.jpg", (1600, 1200)).read_bytes()
    described, files = render(source, "p", ImageOptions())
    assert [(r.media_type, r.width) for r in described.renditions] == [
        (WEBP, 320), (WEBP, 640), (WEBP, 1024), (JPEG, 320), (JPEG, 640), (JPEG, 1024)]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert image_leaks(tmp_path / name, (SECRET_SERIAL.encode(),)) == [], name
    assert (described.width, described.height) == (1024, 768)
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
