"""The interface speaks the reader's language: catalogs, fallbacks, dates, every page."""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup

from milpa.i18n import (
    DEFAULT_FALLBACKS,
    LOCALE_DIR,
    fallback_chain,
    interface_language,
    long_date,
    number,
    translations,
)
from milpa.scaffold import story_text
from milpa.state import DataStore, Follower
from milpa_i18n import PageLanguage
from milpa_site.build import build, load_settings

from .conftest import ROOT, TEST_KEYS, MiniSite, story

LANGS = ("es", "en", "fr", "pt")


def template_messages() -> set[str | tuple[str, ...]]:
    with (LOCALE_DIR / "milpa.pot").open("rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def english_words() -> set[str]:
    """The theme's English messages that carry no placeholder: none may show on a page
    whose interface is not English."""
    return {m for m in template_messages()
            if isinstance(m, str) and "%(" not in m and "{" not in m}


@pytest.mark.parametrize("lang", LANGS)
def test_every_catalog_is_complete_and_keeps_its_placeholders(lang: str) -> None:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "milpa.po").open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    translated = {m.id: m.string for m in catalog if m.id}
    assert set(translated) == template_messages()
    for message_id, string in translated.items():
        strings = string if isinstance(string, tuple) else (string,)
        assert all(strings), f"{lang}: {message_id!r} is not translated"
        ids = message_id if isinstance(message_id, tuple) else (message_id,)
        wanted = set(re.findall(r"%\(\w+\)s|\{\w+\}", ids[-1]))
        for text in strings:
            assert set(re.findall(r"%\(\w+\)s|\{\w+\}", text)) == wanted, (lang, text)
    assert not list(catalog.check())


def test_indigenous_languages_of_mexico_and_guatemala_fall_back_to_spanish() -> None:
    assert interface_language("quc", "en", DEFAULT_FALLBACKS) == "es"
    assert interface_language("nah", "fr", DEFAULT_FALLBACKS) == "es"
    assert interface_language("quc-GT", "en", DEFAULT_FALLBACKS) == "es"
    # Everything else falls back to the site's language.
    assert interface_language("de", "fr", DEFAULT_FALLBACKS) == "fr"
    assert interface_language("pt-BR", "es", DEFAULT_FALLBACKS) == "pt"
    # A site in a language with no catalog is shown in English, and says so.
    assert interface_language("de", "de", DEFAULT_FALLBACKS) == "en"
    assert fallback_chain("zap", "en", {"zap": ("fr",)}) == ("zap", "fr", "en")


def test_dates_and_numbers_come_from_cldr_not_the_system_locale() -> None:
    assert long_date(date(2026, 4, 18), "es") == "18 de abril de 2026"
    assert long_date(date(2026, 4, 18), "fr") == "18 avril 2026"
    assert long_date(date(2026, 4, 18), "pt") == "18 de abril de 2026"
    assert number(12345, "es") == "12.345"
    assert number(12345, "en") == "12,345"


def soup(site: MiniSite, relative: str) -> BeautifulSoup:
    return BeautifulSoup(site.read(relative), "html.parser")


def test_a_story_page_speaks_its_language_or_its_fallback(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Ri ja'", lang="quc", slug="a", tags="agua"))
    mini_site.add("stories/b.md", story("Les semences", lang="fr", slug="b", tags="agua",
                                        date="2026-05-02 10:00"))
    mini_site.add("stories/c.md", story("Die Saat", lang="de", slug="c", date="2026-05-03"))
    mini_site.build(DEFAULT_LANG="en")
    quc, french, german = (soup(mini_site, f"stories/{s}/index.html") for s in "abc")
    assert quc.html["lang"] == "es" and quc.article["lang"] == "quc"
    assert quc.select_one("nav a").get_text() == "Inicio"
    assert "1 de mayo de 2026" in quc.select_one("article header .meta").get_text()
    assert french.html["lang"] == "fr" and french.select_one("nav a").get_text() == "Accueil"
    assert "2 mai 2026" in french.get_text()
    # German has no catalog: the site's language, English, and the page says so.
    assert german.html["lang"] == "en" and german.select_one("nav a").get_text() == "Home"
    # Listings speak the site's language whatever their stories' languages.
    home = soup(mini_site, "index.html")
    assert home.html["lang"] == "en" and home.h1.get_text() == "Latest stories"


def test_a_community_adds_its_language_with_one_po_file(mini_site: MiniSite,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    folder = mini_site.base / "locale" / "quc" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "milpa.po").write_text(
        'msgid ""\nmsgstr "Language: quc\\n"\n\nmsgid "Home"\nmsgstr "Ja"\n', encoding="utf-8")
    mini_site.add("stories/a.md", story("Ri ja'", lang="quc", slug="a"))
    with caplog.at_level(logging.WARNING, logger="milpa_i18n"):
        mini_site.build(DEFAULT_LANG="es", MILPA_LOCALE_PATHS=["locale"])
    page = soup(mini_site, "stories/a/index.html")
    assert page.html["lang"] == "quc"
    assert page.select_one("nav a").get_text() == "Ja"
    # What the community has not translated yet is reported once, by message.
    missing = [r.getMessage() for r in caplog.records if "No quc translation" in r.getMessage()]
    assert any("'Territories'" in line for line in missing)
    assert len(missing) == len(set(missing))


@pytest.fixture(scope="module")
def spanish_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The bundled demo with only ``DEFAULT_LANG = "es"`` changed, and what it logged."""
    base = tmp_path_factory.mktemp("demo-es")
    settings = load_settings(ROOT / "pelicanconf.py", {
        "OUTPUT_PATH": str(base / "output"), "CACHE_PATH": str(base / "cache"),
        "MILPA_KEYS_PATH": str(TEST_KEYS), "MILPA_DATA_PATH": str(base / "data"),
        "DEFAULT_LANG": "es",
    })
    records: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("milpa_i18n").addHandler(handler)
    try:
        build(settings)
    finally:
        logging.getLogger("milpa_i18n").removeHandler(handler)
    return base / "output", records


def interface_text(page: BeautifulSoup) -> list[str]:
    """Text nodes of the page's own interface: not inside the stories' and pages' texts,
    nor inside anything marked as another language."""
    ui = page.html["lang"]
    for other in page.select("[lang]:not(html)"):
        if not other.decomposed and other["lang"] != ui:
            other.decompose()
    for body in page.select("article > :not(header):not(footer)"):
        if not body.decomposed:
            body.decompose()
    return [text.strip() for text in page.find_all(string=True) if text.strip()]


@pytest.mark.slow
def test_the_demo_in_spanish_has_no_english_interface(spanish_demo: tuple[Path, list[str]]
                                                      ) -> None:
    output, logged = spanish_demo
    assert not [line for line in logged if "translation" in line], logged
    english = english_words()
    pages = sorted(output.rglob("*.html"))
    assert len(pages) > 20
    for path in pages:
        page = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        relative = path.relative_to(output).as_posix()
        # Only a story or page written in a language with a catalog speaks another one.
        expected = "es"
        article = page.select_one("main > article")
        if article and article.get("lang") in {"en", "fr", "pt"}:
            expected = article["lang"]
        assert page.html["lang"] == expected, relative
        if expected == "es":
            found = english & set(interface_text(page))
            assert not found, f"{relative}: {found}"


@pytest.mark.slow
def test_the_spanish_demo_dates_a_kiche_story_in_spanish(spanish_demo: tuple[Path, list[str]]
                                                         ) -> None:
    output, _ = spanish_demo
    page = BeautifulSoup((output / "stories/ri-ja-pa-ri-juyub/index.html").read_text(),
                         "html.parser")
    assert page.html["lang"] == "es" and page.article["lang"] == "quc"
    assert page.select_one("nav a").get_text() == "Inicio"
    assert re.search(r"\d+ de \w+ de 2026", page.select_one("article header .meta").get_text())
    home = BeautifulSoup((output / "index.html").read_text(), "html.parser")
    assert home.h1.get_text() == "Historias recientes"


@pytest.mark.slow
def test_the_spanish_demo_titles_its_feeds_in_spanish(spanish_demo: tuple[Path, list[str]]
                                                      ) -> None:
    output, _ = spanish_demo
    author = feedparser.parse((output / "feeds/author/rosa-ventura.atom.xml").read_bytes())
    assert author.feed.title.endswith("historias de Rosa Ventura")


def test_the_new_story_guide_is_in_the_sites_language() -> None:
    when = datetime(2026, 5, 1, 10, 0)
    values = {"title": "T", "territory": "Sierra Norte", "lang": "quc"}
    assert "Escribe aquí la historia" in story_text(values, when, "es")
    assert "Write the story here" in story_text(values, when, "en")
    # A site in a language with no catalog of its own gets its fallback.
    assert "Escribe aquí la historia" in story_text(values, when, "quc")


@pytest.mark.slow
def test_the_spanish_demo_links_its_pages_in_spanish(spanish_demo: tuple[Path, list[str]]
                                                     ) -> None:
    output, _ = spanish_demo
    home = BeautifulSoup((output / "index.html").read_text(), "html.parser")
    links = {a.get_text(): a["href"] for a in home.select("nav a")}
    assert links["Cómo seguirnos"] == "/follow/es/"
    follow = BeautifulSoup((output / "follow/es/index.html").read_text(), "html.parser")
    assert follow.html["lang"] == "es" and follow.select_one("#fediverse").get_text() == (
        "En el Fediverso")


def test_a_story_ends_with_the_stories_before_and_after_it(mini_site: MiniSite) -> None:
    for day, slug in ((1, "first"), (2, "second"), (3, "third")):
        mini_site.add(f"stories/{slug}.md", story(slug.title(), slug=slug,
                                                  date=f"2026-05-0{day} 10:00"))
    mini_site.add("stories/second-fr.md", story("Deuxième", slug="second", lang="fr",
                                                translation="true", date="2026-05-02 10:00"))
    mini_site.build(DEFAULT_LANG="es")

    def neighbours(relative: str) -> dict[str, str]:
        way = soup(mini_site, relative).select_one("nav.wayon")
        return {a["rel"][0]: a["href"] for a in way.select("a[rel]")}

    assert neighbours("stories/second/index.html") == {"prev": "/stories/first/",
                                                       "next": "/stories/third/"}
    assert neighbours("stories/second/fr/index.html") == {"prev": "/stories/first/",
                                                          "next": "/stories/third/"}
    assert neighbours("stories/first/index.html") == {"next": "/stories/second/"}
    assert neighbours("stories/third/index.html") == {"prev": "/stories/second/"}


def test_an_edited_catalog_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "quc" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = folder / "milpa.po"
    catalog.write_text('msgid ""\nmsgstr ""\n\nmsgid "Home"\nmsgstr "Ja"\n', encoding="utf-8")
    assert translations("quc", (tmp_path,)).gettext("Home") == "Ja"
    catalog.write_text('msgid ""\nmsgstr ""\n\nmsgid "Home"\nmsgstr "Ri ja"\n', encoding="utf-8")
    os.utime(catalog, ns=(1, 10**18))
    assert translations("quc", (tmp_path,)).gettext("Home") == "Ri ja"


@pytest.mark.slow
def test_the_spanish_demo_shows_its_spanish_subtitle_and_bios(
        spanish_demo: tuple[Path, list[str]]) -> None:
    output, _ = spanish_demo
    territory = BeautifulSoup((output / "territory/sierra-norte/index.html").read_text(),
                              "html.parser")
    assert territory.select_one(".tagline").get_text().startswith("Historias de nuestras")
    assert territory.select_one(".bio").get_text().startswith("Historias de los bosques")
    # A page in English keeps the subtitle as written.
    about = BeautifulSoup((output / "about/index.html").read_text(), "html.parser")
    assert about.select_one(".tagline").get_text().startswith("Stories from our")


def test_profiles_show_their_followers_from_the_data_folder_without_writing_it(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", slug="a", author="Ana"))
    mini_site.add("pages/follow.md", "Title: Seguir\nSlug: follow\nLang: es\n"
                  "Template: follow\n\nText.\n")
    store = DataStore(mini_site.base / "data")
    for actor, count in (("sierra_norte", 2), ("ana", 1)):
        for index in range(count):
            store.record_follower(actor, Follower(
                f"https://a.example/users/{index}", f"https://a.example/users/{index}/inbox",
                None, "2026-05-01T00:00:00+00:00"))
    before = sorted((p, p.stat().st_mtime_ns) for p in (mini_site.base / "data").rglob("*"))
    mini_site.build(DEFAULT_LANG="es")
    after = sorted((p, p.stat().st_mtime_ns) for p in (mini_site.base / "data").rglob("*"))
    assert after == before
    territory = soup(mini_site, "territory/sierra-norte/index.html").select_one(".profile")
    assert "@sierra_norte@" in territory.get_text() and "· 2 seguidores" in territory.get_text()
    author = soup(mini_site, "author/ana/index.html").select_one(".profile")
    assert "· 1 seguidor" in author.get_text()
    follow = soup(mini_site, "follow/index.html").select_one("#fediverse").parent.get_text()
    assert "(0 seguidores)" in follow


def test_the_follow_page_explains_feeds_then_offers_the_sites_and_folds_the_rest(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", slug="a", author="Ana", tags="agua"))
    mini_site.add("pages/follow.md", "Title: Seguir\nSlug: follow\nLang: es\n"
                  "Template: follow\n\nText.\n")
    mini_site.build(DEFAULT_LANG="es")
    feeds = soup(mini_site, "follow/index.html").select_one("#feeds").parent
    explained, site_feed = feeds.find_all("p", recursive=False)[:2]
    assert explained.get_text().startswith("Un canal (feed) son las historias más nuevas")
    assert [a["href"].rsplit("/", 1)[-1] for a in site_feed.find_all("a")] == [
        "all.atom.xml", "all.rss.xml"]
    assert site_feed.a.get_text() == "Todas las historias de este sitio"
    folded = feeds.find("details")
    assert folded.summary.get_text() == "Solo un territorio, idioma, autor o tema"
    atoms = [a["href"] for a in folded.select('a[type="application/atom+xml"]')]
    assert len(atoms) == 4 and not any(href.endswith("/all.atom.xml") for href in atoms)


def test_a_date_kept_for_the_build_is_the_date_where_it_happened() -> None:
    language = PageLanguage({"DEFAULT_LANG": "en", "PATH": "content"})
    evening = datetime(2026, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-6)))
    same_instant = evening.astimezone(UTC)  # 2 May, 05:30 UTC
    assert language.long_date(evening, "en") == long_date(evening, "en") == "May 1, 2026"
    assert language.long_date(same_instant, "en") == "May 2, 2026"
