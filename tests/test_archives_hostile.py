"""Archives are data: hostile Mastodon and X archives, made here, never become front
matter, paths or markup, and a malformed one is one line of error with nothing written."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import publish
from milpa import archives
from milpa.archives import ArchiveError, read_mastodon, read_x, story_markdown
from milpa.frontmatter import read_front_matter

from .conftest import ROOT, SECRET_SERIAL, MiniSite, photo_with_secrets, settings_file
from .privacy import tree_leaks
from .test_import import archive, create, note, tweet, x_archive


def zip_of(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def with_symlink(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("outbox.json", json.dumps({"orderedItems": []}))
        link = zipfile.ZipInfo(name)
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def lying_about_its_size() -> bytes:
    """outbox.json says 1,000 bytes (local and central headers) but unpacks to 10 MB."""
    data = bytearray(zip_of({"outbox.json": b" " * (10 * 1024 * 1024)}))
    real = (10 * 1024 * 1024).to_bytes(4, "little")
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        assert data[at:at + 4] == real
        data[at:at + 4] = (1000).to_bytes(4, "little")
    return bytes(data)


def outbox(items: object) -> bytes:
    return zip_of({"outbox.json": json.dumps({"orderedItems": items})})


HOSTILE_NOTE = create(note(1, "<p>x</p>"))

MALFORMED = {
    "truncated": (lambda tmp: archive(tmp, [HOSTILE_NOTE])[:300], "not a zip file"),
    "not a zip": (lambda tmp: b"%PDF-1.7 not a zip at all", "not a zip file"),
    "empty zip": (lambda tmp: zip_of({}), "no outbox.json"),
    "invalid JSON": (lambda tmp: zip_of({"outbox.json": "{'orderedItems': ["}),
                     "outbox.json is not valid JSON"),
    "not UTF-8": (lambda tmp: zip_of({"outbox.json": '{"a": "café"}'.encode("latin-1")}),
                  "outbox.json is not UTF-8 text"),
    "outbox a list": (lambda tmp: zip_of({"outbox.json": "[]"}), "must each hold a JSON object"),
    "actor a string": (lambda tmp: zip_of({"outbox.json": '{"orderedItems": []}',
                                           "actor.json": '"me"'}), "must each hold a JSON"),
    "items a string": (lambda tmp: outbox("many"), "no orderedItems list"),
    "huge nesting": (lambda tmp: zip_of({"outbox.json": "[" * 200_000 + "]" * 200_000}),
                     "nested too deeply"),
    "unreadable date": (lambda tmp: outbox([create(note(1, "<p>x</p>", published="soon"))]),
                        "unreadable date"),
    "date a number": (lambda tmp: outbox([create(note(1, "<p>x</p>", published=7))]),
                      "unreadable date"),
    "missing media": (lambda tmp: outbox([create(note(1, "<p>x</p>", attachment=[
        {"mediaType": "image/png", "url": "/media_attachments/gone.png"}]))]),
        "missing from the archive"),
    "media not a photo": (lambda tmp: zip_of({
        "outbox.json": json.dumps({"orderedItems": [create(note(1, "<p>x</p>", attachment=[
            {"mediaType": "image/png", "url": "/media_attachments/a.png"}]))]}),
        "media_attachments/a.png": "<script>not a photo</script>"}), "its bytes are not one"),
    "dot-dot entry": (lambda tmp: zip_of({"outbox.json": "{}", "../../evil.md": "x"}),
                      "points outside the archive"),
    "absolute entry": (lambda tmp: zip_of({"outbox.json": "{}", "/etc/cron.d/x": "x"}),
                       "points outside the archive"),
    "drive letter": (lambda tmp: zip_of({"outbox.json": "{}", "C:/Windows/x": "x"}),
                     "points outside the archive"),
    "symlink": (lambda tmp: with_symlink("media_attachments/link.png"), "symbolic link"),
    "lying size": (lambda tmp: lying_about_its_size(), "outbox.json cannot be unpacked"),
    "zip bomb": (lambda tmp: zip_of({"outbox.json": b"\x00" * (20 * 1024 * 1024)}),
                 "more than 100 times its size"),
    "x without tweets": (lambda tmp: zip_of({"data/account.js": "window.YTD.account.part0 = []"}),
                         "no data/tweets.js"),
    "x tweets an object": (lambda tmp: zip_of({"data/account.js": "[]",
                                               "data/tweets.js": '{"tweet": 1}'}),
                           "does not hold the list X writes"),
    "x id not a number": (lambda tmp: x_archive(tmp, [tweet(1, "x", id_str="../1")], {}),
                          "no numeric id"),
    "x unreadable date": (lambda tmp: x_archive(tmp, [tweet(1, "x", created_at=[])], {}),
                          "unreadable date"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_archive_is_one_line_of_error(tmp_path: Path, case: str) -> None:
    make, message = MALFORMED[case]
    read = read_x if case.startswith("x ") else read_mastodon
    with pytest.raises(ArchiveError, match=message) as refused:
        read(make(tmp_path), "en")
    assert "\n" not in str(refused.value)


@pytest.fixture
def site(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> MiniSite:
    (mini_site.base / "pelicanconf.py").write_text(settings_file(
        PATH=str(mini_site.content), OUTPUT_PATH=str(mini_site.output),
        CACHE_PATH=str(mini_site.base / "cache")))
    monkeypatch.chdir(mini_site.base)
    monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
    return mini_site


def test_malformed_archives_write_nothing_from_the_command_line(site: MiniSite) -> None:
    before = sorted(site.base.rglob("*"))
    for case, (make, message) in sorted(MALFORMED.items()):
        (site.base / "bad.zip").write_bytes(make(site.base))
        kind = "x" if case.startswith("x ") else "mastodon"
        result = CliRunner().invoke(publish.cli, ["import", kind, "bad.zip", "--territory",
                                                  "T", "--author", "A"])
        assert result.exit_code == 1, (case, result.output)
        assert result.output.startswith("Error: bad.zip: ") and message in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert "Nothing was imported" in result.output
        (site.base / "bad.zip").unlink()
        assert sorted(site.base.rglob("*")) == before, case


def test_too_many_entries_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_ENTRIES", 3)
    crowded = zip_of({f"media_attachments/{n}.png": "" for n in range(4)})
    with pytest.raises(ArchiveError, match="4 entries, more than the 3 allowed"):
        read_mastodon(crowded, "en")


HOSTILE_CW = "Duelo\nSave_as: robots.txt\nSlug: robots\r\nStatus: published\x00\x1b[31m"


def hostile_archive(tmp: Path) -> bytes:
    photo = photo_with_secrets(tmp / "p.jpg", (300, 200)).read_bytes()
    content = ('<p>Hola <script>alert(1)</script><a href="javascript:alert(1)">j</a> '
               '<a href="/keys/actor.private.pem">k</a> <img src=x onerror=alert(1)>'
               '![secret](/keys/actor.private.pem) [link]({filename}/pages/x.md) '
               '<a href="https://radio.example/a_b">radio</a></p>'
               '<iframe src="https://evil.example"></iframe>Suelto *sin* p')
    return archive(tmp, [create(note(
        1, content, summary=HOSTILE_CW,
        tag=[{"type": "Hashtag", "name": "#agua\nStatus: draft"}],
        attachment=[{"mediaType": "image/jpeg", "name": "alt]\n(x)<b>\nSave_as: a",
                     "url": "/media_attachments/files/1/original/..\n).jpg"}]))],
        {"media_attachments/files/1/original/..\n).jpg": photo})


def test_archive_values_never_become_front_matter_paths_or_markup(tmp_path: Path) -> None:
    [story] = read_mastodon(hostile_archive(tmp_path), "es")
    assert story.content_warning == "Duelo Save_as: robots.txt Slug: robots Status: published[31m"
    assert story.tags == ["aguaStatusdraft"]
    assert [name for name, _alt, _data in story.photos] == ["photo.jpg"]
    text = story_markdown(story, "Sierra\nNorte", "Ana\nSave_as: x", "../../photos/imported")
    path = tmp_path / "story.md"
    path.write_text(text)
    header = read_front_matter(path)
    assert sorted(header.fields) == ["authors", "content-warning", "date", "imported", "lang",
                                     "slug", "tags", "territory", "title"]
    assert header.get("authors") == "Ana Save_as: x"
    assert "<script" not in story.body and "javascript:" not in story.body
    assert "<iframe" not in story.body and "<img" not in story.body
    assert 'href="/keys' not in story.body and "{filename}" not in story.body
    assert '<a href="https://radio.example/a_b">radio</a>' in story.body
    assert "&#33;&#91;secret&#93;" in story.body  # text, not a Markdown image
    body = text.split("\n\n", 1)[1]
    assert body.count("![") == 1 and "![alt) (x)<b> Save_as: a](" in body


def test_a_hostile_import_builds_without_touching_robots_txt(site: MiniSite) -> None:
    site.add("extra/robots.txt", "User-agent: *\nDisallow:\n")
    (site.base / "hostile.zip").write_bytes(hostile_archive(site.base))
    result = CliRunner().invoke(publish.cli, ["import", "mastodon", "hostile.zip",
                                              "--territory", "Sierra Norte", "--author", "Ana"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    built = CliRunner().invoke(publish.cli, ["build"], catch_exceptions=False)
    print(built.output)
    assert built.exit_code == 0
    assert site.read("robots.txt") == "User-agent: *\nDisallow:\n"
    [page] = site.output.glob("stories/imported-*/index.html")
    html = page.read_text()
    assert "<script>alert" not in html and "javascript:" not in html
    assert '="/keys/actor.private.pem' not in html  # text, never a link or an image
    assert "Duelo Save_as: robots.txt" in html
    assert tree_leaks(site.content / "photos", (SECRET_SERIAL.encode(),)) == []


def test_a_zip_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with (zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as bundle,
          bundle.open("outbox.json", "w", force_zip64=True) as entry):
        for _ in range(200):
            entry.write(b"\x00" * (1024 * 1024))
    assert bomb.stat().st_size < 1024 * 1024
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from milpa.archives import ArchiveError, read_mastodon\n"
        "try:\n"
        f"    read_mastodon(Path({str(bomb)!r}), 'en')\n"
        "except ArchiveError as error:\n"
        "    print(error)\n"
        # VmHWM, not getrusage: the peak RSS Linux reports survives exec, so it would count
        # the test runner that started this process.
        "print(next(int(line.split()[1]) // 1024 for line in open('/proc/self/status')\n"
        "           if line.startswith('VmHWM')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True,
                          env={"PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}"})
    message, peak_mb = done.stdout.strip().splitlines()
    assert "more than 100 times its size" in message
    assert int(peak_mb) < 200, f"{peak_mb} MB"


def test_archived_photos_are_stripped_and_kinds_the_build_cannot_show_become_jpeg(
        tmp_path: Path) -> None:
    from PIL import Image

    import milpa.safecopy  # noqa: F401 — Pillow opens HEIF from here on
    from milpa.filetypes import sniff

    source = photo_with_secrets(tmp_path / "p.jpg", (120, 90))
    with Image.open(source) as image:
        image.save(tmp_path / "p.heic", "HEIF", exif=image.getexif().tobytes())
    url = "media_attachments/files/1/original/IMG_1.HEIC"
    bundle = archive(tmp_path, [create(note(1, "<p>x</p>", attachment=[
        {"mediaType": "image/heic", "url": f"/{url}", "name": "A field"}]))],
        {url: (tmp_path / "p.heic").read_bytes()})
    [story] = read_mastodon(bundle, "es")
    [(name, alt, data)] = story.photos
    assert (name, alt, sniff(data).name) == ("img-1.jpg", "A field", "jpeg")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / name).write_bytes(data)
    assert tree_leaks(tmp_path / "out", (SECRET_SERIAL.encode(),)) == []
