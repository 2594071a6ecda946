"""publish.py as an editor uses it, through click's CliRunner."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

import publish
from milpa.replies import Reply
from milpa.state import DataStore, Follower

from .conftest import (
    SECRET_SERIAL,
    MiniSite,
    photo_with_secrets,
    run,
    settings_file,
    story,
)
from .privacy import image_leaks


def test_new_writes_a_story_that_checks_and_builds(site: MiniSite) -> None:
    result = run("new", "Agua para todos: ¿cuándo?", "--territory", "Costa Chica",
                 "--lang", "quc", "--author", "Ana Pérez", "--tags", "agua")
    assert result.exit_code == 0
    path = Path(result.stdout.strip())
    assert path == Path("content/stories/costa-chica/2026-06-01-agua-para-todos-cuando.md")
    assert "Status: published" in result.stderr
    text = path.read_text()
    for field in ("Title: Agua para todos: ¿cuándo?", "Territory: Costa Chica", "Lang: quc",
                  "Authors: Ana Pérez", "Tags: agua", "Cover-Alt:", "Expires:",
                  "Content-Warning:", "Pinned: false", "Translation: false", "Status: draft"):
        assert field in text.splitlines()
    check = run("check")
    assert check.exit_code == 0 and "no problems" in check.output
    draft = run("build")
    assert draft.output.startswith("Built 0 stories, ")
    assert not (site.output / "stories/agua-para-todos-cuando/index.html").exists()
    path.write_text(text.replace("Status: draft", "Status: published"))
    built = run("build")
    assert built.exit_code == 0
    assert built.output.startswith("Built 1 stories, 0 pages, 0 image renditions: ")
    page = (site.output / "stories/agua-para-todos-cuando/index.html").read_text()
    assert '<article lang="quc">' in page


def test_new_refuses_a_bad_language_and_an_existing_file(site: MiniSite) -> None:
    bad = CliRunner().invoke(publish.cli, ["new", "T", "--territory", "X", "--lang", "e$"])
    assert bad.exit_code == 2 and "BCP 47" in bad.output
    assert run("new", "T", "--territory", "X", "--lang", "es").exit_code == 0
    again = CliRunner().invoke(publish.cli, ["new", "T", "--territory", "X", "--lang", "es"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_check_reports_each_problem_as_path_line_message(site: MiniSite) -> None:
    photo_with_secrets(site.content / "photos/big.jpg", (1200, 900))
    site.add("stories/broken.md", (
        "Title: Broken\n"
        "Date: 2026-02-30\n"
        "Territory: Sierra Norte\n"
        "Lang: spanish!\n"
        "Pinned: maybe\n"
        "Expires: 24h\n"
        "Cover: photos/big.jpg\n"
        "Titel: typo\n"
        "\n"
        "![](photos/big.jpg)\n"
        "![A road](photos/none.jpg)\n"
        "[see]({filename}/stories/none.md)\n"
        "`![code is not an image](x.jpg)`\n"
    ))
    site.add("stories/untitled.md", "Date: 2026-05-01\nLang: es\nTerritory: X\n\nText\n")
    result = CliRunner().invoke(publish.cli, ["check", "-s", "pelicanconf.py"])
    print(result.output)
    lines = result.output.splitlines()
    assert result.exit_code == 1
    expected = [
        "content/photos/big.jpg: carries GPS position, camera serial number, camera make or "
        "model, comment or description, XMP metadata (run: python publish.py clean-media "
        "content/photos/big.jpg)",
        "content/stories/broken.md:2: Date: '2026-02-30' is not a date (write YYYY-MM-DD HH:MM)",
        "content/stories/broken.md:4: 'spanish!' is not a BCP 47 language tag "
        "(for example es, en, quc, nah)",
        "content/stories/broken.md:5: Pinned: 'maybe' is not true or false",
        "content/stories/broken.md:7: photos/big.jpg has no alt text: add "
        "'Cover-Alt: what the photo shows'",
        "content/stories/broken.md:8: unknown field 'titel' (did you mean Title?)",
        "content/stories/broken.md:10: photos/big.jpg has no alt text: write "
        "![what it shows](photos/big.jpg)",
        "content/stories/broken.md:11: photos/none.jpg not found (looked for "
        "content/photos/none.jpg)",
        "content/stories/broken.md:12: link to {filename}/stories/none.md, which does not exist",
        "content/stories/untitled.md:1: missing title: add 'Title: …'",
    ]
    assert lines[: len(expected)] == expected
    assert lines[-1] == ("10 problem(s) in 3 file(s); 8 would keep their story or page out of "
                         "the build.")


@pytest.mark.parametrize(("lang", "expected"), [
    ("es", ["content/stories/broken.md:4: 'spanish!' no es una etiqueta de idioma BCP 47 "
            "(por ejemplo es, en, quc, nah)",
            "content/stories/broken.md:5: campo desconocido 'titel' (¿quisiste decir Title?)",
            "content/stories/broken.md:7: no se encontró photos/none.jpg (se buscó "
            "content/photos/none.jpg)",
            "content/stories/broken.md:7: photos/none.jpg no tiene texto alternativo: escribe "
            "![lo que muestra](photos/none.jpg)",
            "content/stories/untitled.md:1: falta el título: añade 'Title: …'",
            "content/stories/untitled.md:4: programada para 2026-07-01 09:00: la primera "
            "compilación después de esa fecha la publica y la anuncia",
            "5 problema(s) en 2 archivo(s); 5 dejaría(n) su historia o página fuera de la "
            "compilación."]),
    ("en", ["content/stories/broken.md:4: 'spanish!' is not a BCP 47 language tag "
            "(for example es, en, quc, nah)",
            "content/stories/broken.md:5: unknown field 'titel' (did you mean Title?)",
            "content/stories/broken.md:7: photos/none.jpg has no alt text: write "
            "![what it shows](photos/none.jpg)",
            "content/stories/broken.md:7: photos/none.jpg not found (looked for "
            "content/photos/none.jpg)",
            "content/stories/untitled.md:1: missing title: add 'Title: …'",
            "content/stories/untitled.md:4: scheduled for 2026-07-01 09:00: the first build "
            "after that publishes and announces it",
            "5 problem(s) in 2 file(s); 5 would keep their story or page out of the build."]),
])
def test_check_speaks_the_site_language_with_path_and_line(
        site: MiniSite, lang: str, expected: list[str]) -> None:
    (site.base / "pelicanconf.py").write_text(settings_file(DEFAULT_LANG=lang))
    site.add("stories/broken.md", "Title: Roto\nDate: 2026-05-01\nTerritory: X\n"
             "Lang: spanish!\nTitel: typo\n\n![](photos/none.jpg)\n")
    site.add("stories/untitled.md", "Lang: es\nTerritory: X\nSlug: untitled\n"
             "Date: 2026-07-01 09:00\n\nText\n")
    result = run("check")
    assert result.exit_code == 1
    assert result.output.splitlines() == expected


def test_check_says_field_values_it_cannot_read_in_the_site_language(site: MiniSite) -> None:
    """The readers of fields (dates, yes/no, status, expiry) and of the front matter word
    their problems once; `check` says them in the site's language."""
    (site.base / "pelicanconf.py").write_text(settings_file(DEFAULT_LANG="es"))
    site.add("stories/fields.md", "Title: Campos\nTitle: Otra vez\nDate: pronto\n"
             "Territory: X\nLang: es\nPinned: quizás\nStatus: publicado\n\nTexto\n")
    site.add("stories/bare.md", "Solo texto, sin encabezado.\n")
    result = run("check")
    assert result.exit_code == 1
    for line in ["content/stories/fields.md:2: 'title' aparece dos veces (la primera en la "
                 "línea 1)",
                 "content/stories/fields.md:3: Date: 'pronto' no es una fecha (escribe "
                 "AAAA-MM-DD HH:MM)",
                 "content/stories/fields.md:6: Pinned: 'quizás' no es true ni false",
                 "content/stories/fields.md:7: Status: 'publicado' no es ninguno de published, "
                 "draft, hidden (escribe 'Status: published')",
                 "content/stories/bare.md:1: no hay encabezado: empieza el archivo con "
                 "'Title: …'"]:
        assert line in result.output.splitlines(), result.output


def test_check_counts_expired_and_scheduled_stories_apart_in_the_site_language(
        site: MiniSite) -> None:
    (site.base / "pelicanconf.py").write_text(settings_file(DEFAULT_LANG="es"))
    site.add("stories/old.md", story("Old", Date="2026-05-01 10:00", Expires="24h"))
    site.add("stories/later.md", story("Later", Slug="later", Date="2026-07-01 09:00"))
    result = run("check")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1].endswith(
        ": ningún problema (1 caducada(s), ya no se publica(n); 1 programada(s), aún no "
        "publicada(s)).")


def test_check_flags_expired_stories_and_oversize_photos_without_blocking_build(
        site: MiniSite) -> None:
    photo_with_secrets(site.content / "photos/p.jpg", (2000, 1500))
    site.add("stories/old.md", story("Old notice", Date="2026-05-01 10:00", Expires="24h",
                                     Cover="photos/p.jpg", Cover_Alt="A field"))
    size = (site.content / "photos/p.jpg").stat().st_size
    (site.base / "pelicanconf.py").write_text(
        (site.base / "pelicanconf.py").read_text() + f"MILPA_MAX_SOURCE_IMAGE_BYTES = {size - 1}\n")
    result = run("check")
    assert result.exit_code == 1
    assert "content/stories/old.md:5: expired on 2026-05-02 10:00" in result.output
    assert f"content/stories/old.md:6: photos/p.jpg is {size / 1e6:.1f} MB, over" in result.output
    built = run("build")
    assert built.exit_code == 0 and built.output.startswith("Built 0 stories")


def test_a_broken_story_is_left_out_with_its_message_and_the_rest_is_built(
        site: MiniSite) -> None:
    site.add("stories/ok.md", story("Fine"))
    site.add("stories/bad.md", "Title: Bad\nLang: es\nDate: 2026-01-01\nTerritory: X\nbroken\n")
    result = CliRunner().invoke(publish.cli, ["build"])
    print(result.output)
    assert result.exit_code == 1
    assert ("left out: content/stories/bad.md:5: front-matter line is not 'Field: value'"
            in result.output)
    assert "the rest was built and put in place" in result.output
    assert "Traceback" not in result.output
    assert (site.output / "stories/fine/index.html").is_file()
    assert not (site.output / "stories/bad").exists()


def test_build_takes_a_settings_file_and_an_output_folder(site: MiniSite) -> None:
    site.add("stories/ok.md", story("Fine"))
    result = run("build", "-s", "publishconf.py", "-o", "public")
    assert result.exit_code == 0 and result.output.rstrip().endswith("→ public/")
    page = (site.base / "public/stories/fine/index.html").read_text()
    assert 'href="https://stories.example.org/territory/sierra-norte/"' in page


def test_a_missing_settings_file_is_a_clear_error(site: MiniSite) -> None:
    result = CliRunner().invoke(publish.cli, ["build", "-s", "nope.py"])
    assert result.exit_code == 1 and "settings file nope.py not found" in result.output


def test_serve_refuses_an_empty_output(site: MiniSite) -> None:
    shutil.rmtree(site.output, ignore_errors=True)
    result = CliRunner().invoke(publish.cli, ["serve", "--no-build", "--port", "8765"])
    assert result.exit_code == 1 and "nothing built" in result.output


def test_followers_and_blocks_from_the_command_line(site: MiniSite) -> None:
    store = DataStore(site.base / "data")
    for number, server in enumerate(["a.example", "a.example", "b.example", "bad.example"]):
        store.record_follower("stories", Follower(
            f"https://{server}/users/{number}", f"https://{server}/users/{number}/inbox",
            f"https://{server}/inbox", "2026-05-01T00:00:00+00:00"))
    listed = run("followers")
    assert listed.output.splitlines()[:3] == [
        "stories: 4 followers on 3 servers", "       2  a.example", "       1  b.example"]
    exported = run("followers", "--csv")
    assert exported.output.splitlines()[0] == ("Account address,Show boosts,Notify on new "
                                               "posts,Languages,Follows,Actor,Since")
    assert "https://a.example/users/0,true,false,,stories,https://a.example/users/0," \
        "2026-05-01T00:00:00+00:00" in exported.output.splitlines()
    assert len(exported.output.splitlines()) == 5
    blocklist = site.base / "domain_blocks.csv"
    blocklist.write_text("#domain,#severity,#reject_media,#reject_reports,#public_comment,"
                         "#obfuscate\nbad.example,suspend,false,false,spam,false\n"
                         "worse.example,suspend,false,false,,false\n")
    blocked = run("block", "import", str(blocklist))
    assert blocked.output.strip() == ("Blocked 2 domains (2 in all); removed 1 follows "
                                      "from them.")
    assert store.follower_count("stories") == 3
    assert store.blocks()["domains"] == ["bad.example", "worse.example"]
    empty = site.base / "empty.csv"
    empty.write_text("#domain,#severity\n")
    refused = CliRunner().invoke(publish.cli, ["block", "import", str(empty)])
    assert refused.exit_code == 1 and "no domains found" in refused.output


def test_moderated_replies_appear_under_their_story(site: MiniSite) -> None:
    site.add("stories/fine.md", story("Fine", Slug="fine"))
    store = DataStore(site.base / "data")
    for number in range(20):
        store.save_reply(Reply(
            id=f"https://a.example/notes/{number}", story="es/fine",
            actor=f"https://a.example/users/{number}", author_name=f"Reader {number}",
            author_handle=f"@r{number}@a.example", author_url=f"https://a.example/@r{number}",
            url=f"https://a.example/@r{number}/{number}", published="2026-06-01T10:00:00Z",
            content=f'<p>Thank you, number {number}! <a href="https://a.example/x" '
                    f'onclick="steal()">link</a><script>steal()</script>'
                    f'<img src="https://tracker.example/pixel.png"></p>', status="approved"))
    held = Reply(id="https://b.example/notes/9", story="es/fine",
                 actor="https://b.example/users/9", author_name="Held", author_handle="@h@b",
                 author_url="https://b.example/@h", url="https://b.example/@h/9",
                 published="2026-06-02T10:00:00Z", content="<p>Please publish me</p>")
    store.save_reply(held)
    store.record_reaction("likes", "es/fine", "https://a.example/users/1", "like-1")
    listed = run("moderate")
    assert f"{store.short_id(held)}  es/fine  @h@b" in listed.output
    assert "Please publish me" in listed.output
    assert listed.output.rstrip().endswith("1 reply held; 20 approved.")
    approved = run("moderate", "--approve", store.short_id(held))
    assert approved.output.startswith(f"Approved {store.short_id(held)} by @h@b.")
    unknown = CliRunner().invoke(publish.cli, ["moderate", "--reject", "zzzzzzzz"])
    assert unknown.exit_code == 1 and "nothing held with id zzzzzzzz" in unknown.output
    assert run("build").exit_code == 0
    page_path = site.output / "stories/fine/index.html"
    page = BeautifulSoup(page_path.read_text(), "html.parser")
    replies = page.select("section.replies li")
    assert len(replies) == 21 and "Please publish me" in replies[-1].get_text()
    assert page.select("section.replies script, section.replies img") == []
    assert "onclick" not in str(page.select_one("section.replies"))
    for link in page.select("section.replies a"):
        assert set(link["rel"]) >= {"nofollow", "ugc", "noopener"}
    # The story is in Spanish, so is the interface around it.
    assert "1 me gusta · 0 impulsos" in page.get_text()
    assert len(gzip.compress(page_path.read_bytes(), 9)) <= 14 * 1024
    collection = json.loads((site.output / "ap/objects/es/fine").read_text())["replies"]
    assert collection["totalItems"] == 21 and held.id in collection["orderedItems"]


def test_export_takes_stories_stripped_photos_and_followers(site: MiniSite) -> None:
    photo_with_secrets(site.content / "photos/field.jpg", (400, 300))
    site.add("stories/fine.md", story("Fine", "![A field](photos/field.jpg)", Slug="fine"))
    DataStore(site.base / "data").record_follower("stories", Follower(
        "https://a.example/users/1", "https://a.example/users/1/inbox", None,
        "2026-05-01T00:00:00+00:00", acct="reader@a.example"))
    result = run("export", "out/milpa.zip")
    assert result.output.startswith("Exported 1 photos, 1 stories, pages and other files")
    with zipfile.ZipFile(site.base / "out/milpa.zip") as bundle:
        names = set(bundle.namelist())
        assert names == {"milpa-export/content/stories/fine.md",
                         "milpa-export/content/photos/field.jpg", "milpa-export/followers.csv"}
        (site.base / "field.jpg").write_bytes(bundle.read("milpa-export/content/photos/field.jpg"))
        followers = bundle.read("milpa-export/followers.csv").decode()
    assert image_leaks(site.base / "field.jpg", (SECRET_SERIAL.encode(),)) == []
    assert "reader@a.example,true,false,,stories," in followers
