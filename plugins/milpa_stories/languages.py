"""A page per language, so a reader can keep to the stories they can read."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from pelican.generators import Generator

from milpa.languages import language_name
from milpa.settings import setting


@dataclass
class Language:
    code: str
    name: str
    url: str
    save_as: str
    # Its pages are given their own stories: a page's fingerprint leaves the whole list out
    # (milpa_site.memo), and ``count`` is what the list of languages shows.
    articles: list[Any] = field(default_factory=list, metadata={"in_pages": False})
    count: int = 0

    @property
    def page_name(self) -> str:
        return self.save_as.removesuffix("index.html").removesuffix(".html").rstrip("/") or "index"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class LanguageLink:
    """What a story's page shows of its language."""

    code: str
    name: str
    url: str

    def __str__(self) -> str:
        return self.name


def languages_of(stories: list[Any], settings: dict[str, Any]) -> list[Language]:
    """Languages in use, most stories first, each with its stories newest first."""
    overrides = tuple(sorted(setting(settings, "MILPA_LANGUAGE_NAMES").items()))
    by_code: dict[str, Language] = {}
    for story in stories:
        if story.lang not in by_code:
            by_code[story.lang] = Language(
                story.lang,
                language_name(story.lang, overrides),
                setting(settings, "MILPA_LANGUAGE_URL").format(lang=story.lang),
                setting(settings, "MILPA_LANGUAGE_SAVE_AS").format(lang=story.lang),
            )
        by_code[story.lang].articles.append(story)
    for language in by_code.values():
        language.articles.sort(key=lambda story: story.date, reverse=True)
        language.count = len(language.articles)
    return sorted(by_code.values(), key=lambda language: (-len(language.articles), language.name))


class LanguagesGenerator(Generator):
    """Puts ``languages`` in the context and writes a paginated page for each."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Paginated like a territory's pages (DEFAULT_PAGINATION stories a page) unless
        # the site's settings say otherwise: Pelican paginates only the templates named.
        self.settings["PAGINATED_TEMPLATES"] = {
            "language": None, **self.settings.get("PAGINATED_TEMPLATES", {})}

    def generate_context(self) -> None:
        originals = self.context.get("articles", [])
        stories = list(chain(originals, (t for story in originals for t in story.translations)))
        self.languages = languages_of(stories, self.settings)
        for language in self.languages:
            # A story names its language and links to its page, never its list: a new story
            # then changes the language's pages, not every story in it (milpa_site.memo).
            link = LanguageLink(language.code, language.name, language.url)
            for story in language.articles:
                story.language = link
        self.context["languages"] = self.languages
        self.context["LANGUAGES_URL"] = setting(self.settings, "MILPA_LANGUAGES_URL")

    def generate_output(self, writer: Any) -> None:
        template = self.get_template("language")
        for language in self.languages:
            # Its pages are told which language, not how many stories it has: a new story
            # then changes its front page alone (the front page has ``articles_page.total``).
            link = LanguageLink(language.code, language.name, language.url)
            writer.write_file(
                language.save_as, template, self.context,
                paginated={"articles": language.articles, "dates": language.articles},
                template_name="language", url=language.url, page_name=language.page_name,
                language=link, articles=language.articles, dates=language.articles,
                blog=True,
            )
        writer.write_file(
            setting(self.settings, "MILPA_LANGUAGES_SAVE_AS"), self.get_template("languages"),
            self.context, template_name="languages",
            url=setting(self.settings, "MILPA_LANGUAGES_URL"),
        )
