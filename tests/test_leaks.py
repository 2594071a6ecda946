"""Bytes decide what a file is, and keys never leave: every door, tainted inputs made here.

The doors: what Pelican copies statically (content/extra/, EXTRA_PATH_METADATA, the
theme's static files), `publish.py export`, and where MILPA_KEYS_PATH may point.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image, TiffImagePlugin, TiffTags

from milpa.filetypes import file_kind, sniff
from milpa.keyguard import KeyScanner, key_exposure
from milpa.keys import PRIVATE_KEY
from milpa_site.build import BuildFailed

from .conftest import (
    ROOT,
    SECRET_SERIAL,
    TEST_KEYS,
    MiniSite,
    photo_with_secrets,
    run,
    settings_file,
    story,
)
from .privacy import tree_leaks

SECRETS = (SECRET_SERIAL.encode(), b"PhoneMaker", b"home of the author")


def _exif_and_xmp(path: Path) -> tuple[bytes, bytes]:
    with Image.open(path) as image:
        return image.getexif().tobytes(), image.info["xmp"]


def _dng(path: Path) -> Path:
    """A TIFF whose first directory says DNGVersion 1.4, with the camera's serial."""
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    directory[50706] = b"\x01\x04\x00\x00"
    directory.tagtype[50706] = TiffTags.BYTE
    directory[270] = SECRET_SERIAL  # ImageDescription
    Image.new("RGB", (32, 24), "olive").save(path, "TIFF", tiffinfo=directory)
    return path


# Video headers as cameras and phones write them, each carrying the secret.
_3GP = b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x02\x00isom3gp4" + SECRET_SERIAL.encode() * 4
_MKV = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 8 + SECRET_SERIAL.encode() * 4
_MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + SECRET_SERIAL.encode() * 4


def tainted_media(folder: Path) -> dict[str, Path]:
    """Each kind a phone or camera writes, under names that hide or misstate it."""
    folder.mkdir(parents=True, exist_ok=True)
    source = photo_with_secrets(folder / "source.jpg", (120, 90))
    exif, xmp = _exif_and_xmp(source)
    files = {}
    with Image.open(source) as image:
        image.save(folder / "IMG_0001.HEIC", "HEIF", exif=exif, xmp=xmp)
        image.save(folder / "photo.avif", "AVIF", exif=exif, xmp=xmp)
    for name in ("IMG_0001.HEIC", "photo.avif"):
        files[name] = folder / name
    for name in ("scan.jfif", "scan.jpe", "disguised.txt"):
        shutil.copy(source, folder / name)
        files[name] = folder / name
    source.unlink()
    files["raw.dng"] = _dng(folder / "raw.dng")
    for name, data in (("clip.3gp", _3GP), ("clip.mkv", _MKV), ("clip.mov", _MOV)):
        (folder / name).write_bytes(data)
        files[name] = folder / name
    return files


def test_the_kind_of_a_file_comes_from_its_bytes(tmp_path: Path) -> None:
    files = tainted_media(tmp_path)
    kinds = {name: file_kind(path).name for name, path in files.items()}
    assert kinds == {"IMG_0001.HEIC": "heif", "photo.avif": "avif", "scan.jfif": "jpeg",
                     "scan.jpe": "jpeg", "disguised.txt": "jpeg", "raw.dng": "dng",
                     "clip.3gp": "3gp", "clip.mkv": "matroska", "clip.mov": "mov"}
    image = Image.new("RGB", (8, 8))
    for writer, expected in (("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"),
                             ("TIFF", "tiff"), ("BMP", "bmp")):
        image.save(tmp_path / "x", writer)
        assert file_kind(tmp_path / "x").name == expected
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST").name == "avi"
    assert sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom").name == "mp4"
    assert sniff(b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat").name == "mov"
    assert sniff(b"Title: a story\n") is None and sniff(b"") is None


def test_photos_copied_statically_are_stripped_and_the_rest_left_out(
        mini_site: MiniSite) -> None:
    tainted_media(mini_site.content / "extra")
    mini_site.add("stories/a.md", story("A"))
    summary = mini_site.build()
    published = mini_site.output / "extra"
    assert sorted(p.name for p in published.iterdir()) == [
        "IMG_0001.HEIC", "disguised.txt", "photo.avif", "scan.jfif", "scan.jpe"]
    assert tree_leaks(mini_site.output, SECRETS, TEST_KEYS) == []
    assert {file_kind(p).name for p in published.iterdir()} == {"heif", "avif", "jpeg"}
    left_out = "\n".join(summary.left_out)
    for name in ("raw.dng", "clip.3gp", "clip.mkv", "clip.mov"):
        assert f"content/extra/{name} (as extra/{name}): not published" in left_out
    assert "export a JPEG from it" in left_out and "never copied as it is" in left_out


def test_a_photo_renamed_by_extra_path_metadata_is_stripped_too(mini_site: MiniSite) -> None:
    photo_with_secrets(mini_site.content / "extra/me.jpg")
    mini_site.build(EXTRA_PATH_METADATA={"extra/me.jpg": {"path": "media/me.jpg"}})
    assert (mini_site.output / "media/me.jpg").is_file()
    assert tree_leaks(mini_site.output, SECRETS) == []


def test_export_strips_every_photo_by_its_bytes_and_leaves_out_the_rest(site: MiniSite) -> None:
    tainted_media(site.content / "photos")
    tainted_media(site.content / "extra")
    site.add("stories/fine.md", story("Fine"))
    result = run("export", "out.zip")
    assert result.exit_code == 0
    assert "Exported 10 photos, 1 stories, pages and other files" in result.output
    with zipfile.ZipFile(site.base / "out.zip") as bundle:
        bundle.extractall(site.base / "unpacked")
    assert tree_leaks(site.base / "unpacked", SECRETS, TEST_KEYS) == []
    names = {p.name for p in (site.base / "unpacked/milpa-export/content/photos").iterdir()}
    assert names == {"IMG_0001.HEIC", "photo.avif", "scan.jfif", "scan.jpe", "disguised.txt"}
    for name in ("raw.dng", "clip.3gp", "clip.mkv", "clip.mov"):
        assert f"left out: photos/{name}:" in result.output


def _with_keys(site: MiniSite, keys: str) -> None:
    (site.base / "pelicanconf.py").write_text(settings_file(MILPA_KEYS_PATH=keys))
    sys.modules.pop("pelicanconf", None)


@pytest.mark.parametrize("keys", ["content/keys", "content/extra/keys", "output/keys"])
def test_keys_inside_what_is_published_are_refused_by_every_command(site: MiniSite,
                                                                   keys: str) -> None:
    site.add("stories/fine.md", story("Fine"))
    _with_keys(site, keys)
    for command in (["keys"], ["check"], ["build"], ["export", "out.zip"]):
        result = run(*command)
        assert result.exit_code == 1, command
        assert f"MILPA_KEYS_PATH ({site.base / keys}) is inside" in result.output, command
        assert "set MILPA_KEYS_PATH to a folder outside content/" in result.output
    assert not (site.base / keys).exists()
    assert not (site.base / "out.zip").exists() and not site.output.exists()


def test_keys_in_the_theme_static_files_or_extra_path_metadata_are_exposed(
        mini_site: MiniSite, tmp_path: Path) -> None:
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    exposed = [
        {"THEME": str(theme), "MILPA_KEYS_PATH": str(theme / "static/keys")},
        {"MILPA_KEYS_PATH": str(mini_site.base / "keys"),
         "EXTRA_PATH_METADATA": {f"../keys/{PRIVATE_KEY}": {"path": "k.pem"}}},
        {"MILPA_KEYS_PATH": str(mini_site.content / "stories")},
    ]
    for overrides in exposed:
        assert key_exposure(mini_site.settings(**overrides)), overrides
    assert key_exposure(mini_site.settings(MILPA_KEYS_PATH=str(mini_site.base / "keys"))) \
        is None


def test_a_private_key_anywhere_in_the_output_fails_the_build_before_the_swap(
        mini_site: MiniSite, tmp_path: Path) -> None:
    mini_site.add("stories/a.md", story("A"))
    mini_site.build()
    before = sorted(p.relative_to(mini_site.output) for p in mini_site.output.rglob("*"))
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    (theme / "static").mkdir(exist_ok=True)
    shutil.copy(TEST_KEYS / PRIVATE_KEY, theme / "static/backup.txt")
    with pytest.raises(BuildFailed, match=r"theme/backup.txt: a PEM private key"):
        mini_site.build(THEME=str(theme))
    # The key's body without its PEM lines, as a JSON string: found by its pieces.
    (theme / "static/backup.txt").unlink()
    body = "".join(line for line in (TEST_KEYS / PRIVATE_KEY).read_text().splitlines()
                   if "-----" not in line)
    mini_site.add("extra/config.json", '{"key": "' + body + '"}')
    with pytest.raises(BuildFailed, match=r"extra/config.json: part of the site's private key"):
        mini_site.build(THEME=str(theme))
    assert sorted(p.relative_to(mini_site.output) for p in mini_site.output.rglob("*")) == before
    assert [p.name for p in mini_site.base.iterdir() if p.name.startswith(".")] == []


def test_the_public_key_is_never_taken_for_the_private_one(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("A"))
    mini_site.build()
    actor = (mini_site.output / "ap/actors/stories").read_bytes()
    assert b"BEGIN PUBLIC KEY" in actor
    assert KeyScanner(TEST_KEYS).leaks_in_tree(mini_site.output) == []


def test_export_refuses_a_private_key_in_content_and_writes_nothing(site: MiniSite) -> None:
    site.add("stories/fine.md", story("Fine"))
    shutil.copy(TEST_KEYS / PRIVATE_KEY, site.content / "notes.md")
    result = run("export", "out.zip")
    assert result.exit_code == 1
    assert "content/notes.md holds a PEM private key" in result.output
    assert "Nothing was exported." in result.output
    assert [p.name for p in site.base.iterdir() if "out.zip" in p.name] == []


def test_stories_showing_each_kind_publish_renditions_or_are_left_out(
        mini_site: MiniSite) -> None:
    files = tainted_media(mini_site.content / "photos")
    for number, name in enumerate(sorted(files)):
        mini_site.add(f"stories/s{number}.md", story(f"S{number}", f"![A field](photos/{name})",
                                                     Slug=f"s{number}"))
        mini_site.add(f"stories/l{number}.md", story(f"L{number}",
                                                     f"[the file]({{static}}/photos/{name})",
                                                     Slug=f"l{number}"))
    summary = mini_site.build()
    assert tree_leaks(mini_site.output, SECRETS, TEST_KEYS) == []
    # Pelican copies what {static} links name, as it is: the photos are stripped, the rest
    # left out.
    assert {file_kind(p).family for p in (mini_site.output / "photos").iterdir()} == {"photo"}
    published = {p.parent.name for p in mini_site.output.glob("stories/s*/index.html")}
    left_out = {reason.split(":")[0].rsplit("/", 1)[-1].removesuffix(".md")
                for reason in summary.left_out}
    assert published | left_out >= {f"s{number}" for number in range(len(files))}
