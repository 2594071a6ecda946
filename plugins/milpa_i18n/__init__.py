"""The theme in the reader's language: gettext, dates and numbers for every page.

A story page speaks its story's language, or the first language of its fallback chain with a
catalog; every other page (listings, territories, authors, tags, archive) the site's
``DEFAULT_LANG``. The language is chosen per page, from the page being written.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.support import NullTranslations
from jinja2 import pass_context
from jinja2.runtime import Context
from pelican import signals

from milpa.i18n import has_message, interface_language, long_date, number, translations
from milpa.settings import setting

logger = logging.getLogger(__name__)
# Each missing translation is reported once per build, not once per page.
_reported: set[tuple[str, str]] = set()


def _folders(settings: dict[str, Any]) -> tuple[Path, ...]:
    # Relative folders are the site's own: beside its content folder.
    site = Path(settings.get("PATH", ".")).resolve().parent
    return tuple(site / folder for folder in setting(settings, "MILPA_LOCALE_PATHS"))


def site_translations(settings: dict[str, Any]) -> NullTranslations:
    """The catalog of the site's language, for what speaks for the whole site (feeds)."""
    site_lang = settings.get("DEFAULT_LANG", "en")
    folders = _folders(settings)
    lang = interface_language(site_lang, site_lang,
                              setting(settings, "MILPA_LANGUAGE_FALLBACKS"), folders)
    return translations(lang, folders)


class PageLanguage:
    """Gettext callables for one generator's Jinja environment, reading the page's language
    from the template context (``article`` on story pages, ``page`` on pages)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.site_lang = settings.get("DEFAULT_LANG", "en")
        self.fallbacks = setting(settings, "MILPA_LANGUAGE_FALLBACKS")
        self.folders = _folders(settings)
        # One build's answers, by language: looking a catalog up stats files, and a page
        # asks dozens of times. A new build (or `serve`'s next one) makes a new instance.
        self._languages: dict[str, str] = {}
        self._catalogs: dict[str, NullTranslations] = {}
        self._checked: set[tuple[str, str]] = set()
        # A story's date is shown on its page and on every listing that shows it.
        self._dates: dict[tuple[str, str], str] = {}

    def of(self, context: Context) -> str:
        item = context.get("article") or context.get("page")
        lang = getattr(item, "lang", None) or self.site_lang
        if lang not in self._languages:
            self._languages[lang] = interface_language(lang, self.site_lang, self.fallbacks,
                                                       self.folders)
        return self._languages[lang]

    def catalog(self, lang: str) -> NullTranslations:
        if lang not in self._catalogs:
            self._catalogs[lang] = translations(lang, self.folders)
        return self._catalogs[lang]

    def gettext(self, context: Context, message: str) -> str:
        lang = self.of(context)
        self._check(lang, message)
        return self.catalog(lang).gettext(message)

    def ngettext(self, context: Context, singular: str, plural: str, count: int) -> str:
        lang = self.of(context)
        self._check(lang, singular, plural=True)
        return self.catalog(lang).ngettext(singular, plural, count)

    def long_date(self, moment: date | datetime, lang: str) -> str:
        key = (moment.isoformat(), lang)  # with its UTC offset: equal instants differ here
        if key not in self._dates:
            self._dates[key] = long_date(moment, lang)
        return self._dates[key]

    def _check(self, lang: str, message: str, plural: bool = False) -> None:
        if (lang, message) in self._checked:
            return
        self._checked.add((lang, message))
        if (lang, message) not in _reported and not has_message(lang, message, self.folders,
                                                                plural):
            _reported.add((lang, message))
            logger.warning("No %s translation for the interface text %r", lang, message)

    def install(self, generator: Any) -> None:
        # Jinja passes the context to functions marked so; bound methods cannot be marked.
        @pass_context
        def gettext(context: Context, message: str) -> str:
            return self.gettext(context, message)

        @pass_context
        def ngettext(context: Context, singular: str, plural: str, count: int) -> str:
            return self.ngettext(context, singular, plural, count)

        @pass_context
        def interface_lang(context: Context) -> str:
            return self.of(context)

        @pass_context
        def date_filter(context: Context, moment: date | datetime) -> str:
            return self.long_date(moment, self.of(context))

        @pass_context
        def number_filter(context: Context, value: float) -> str:
            return number(value, self.of(context))

        env = generator.env
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_callables(gettext, ngettext, newstyle=True)
        env.globals["interface_lang"] = interface_lang
        env.filters["long_date"] = date_filter
        env.filters["number"] = number_filter


def _install(generator: Any) -> None:
    if hasattr(generator, "env"):
        PageLanguage(generator.settings).install(generator)


def _new_build(_pelican: Any) -> None:
    _reported.clear()


def register() -> None:
    signals.initialized.connect(_new_build)
    # Every generator that renders templates has its own Jinja environment.
    signals.generator_init.connect(_install)
