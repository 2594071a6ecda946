"""The interface's language: which catalog a page speaks, and dates and numbers in it.

Catalogs are gettext ``.po`` files under ``locale/<lang>/LC_MESSAGES/milpa.po``, compiled in
memory with Babel when first used, so a community adds its language by adding one ``.po``
file (no compile step, no stale ``.mo``). Dates and numbers come from Babel's CLDR data:
no system locale is ever needed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

logger = logging.getLogger(__name__)

# The theme is written in English: English needs no catalog to be complete.
SOURCE_LANG = "en"
DOMAIN = "milpa"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# Indigenous languages of Mexico and Guatemala (ISO 639-3): readers of these usually read
# Spanish too, so an interface with no catalog of its own falls back to Spanish.
_MEXICO = ("nah", "nhe", "nhw", "nch", "ncj", "azz", "yua", "zap", "zai", "zaw", "zpq",
           "mix", "xtm", "ote", "otm", "oto", "tzo", "tzh", "toj", "maz", "maa", "mau",
           "tar", "tee", "toc", "tot", "chd", "cso", "huv", "hus", "lac", "mto", "mxe",
           "pua", "sei", "yaq", "mfy", "ctu", "chj", "cuc", "amu", "tpx", "tcf", "trc",
           "poi", "pps", "mhr", "cco", "zoh", "zos")
_GUATEMALA = ("quc", "cak", "mam", "kek", "tzj", "ixl", "poh", "poc", "acr", "jac", "kjb",
              "cac", "usp", "ttc", "agu", "quv", "ctu", "mop", "xin", "cab", "myn")
DEFAULT_FALLBACKS: dict[str, tuple[str, ...]] = {code: ("es",) for code in _MEXICO + _GUATEMALA}


def _primary(tag: str) -> str:
    return tag.replace("_", "-").split("-", 1)[0].lower()


def fallback_chain(lang: str, site_lang: str,
                   fallbacks: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """Languages to try for ``lang``'s interface, best first, ending with the site's.

    ``fallbacks`` is the ``MILPA_LANGUAGE_FALLBACKS`` setting, keyed by full tag or by its
    primary language subtag (``quc`` covers ``quc-GT``).
    """
    chain = [lang, _primary(lang)]
    chain += fallbacks.get(lang, ()) or fallbacks.get(_primary(lang), ())
    chain += [site_lang, _primary(site_lang)]
    return tuple(dict.fromkeys(chain))


def catalog_path(lang: str, folders: Iterable[Path]) -> Path | None:
    """The ``.po`` file for ``lang`` in the first folder that has one (the site's own
    folders come before the bundled one)."""
    for folder in (*folders, LOCALE_DIR):
        candidate = Path(folder) / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if candidate.is_file():
            return candidate
    return None


def interface_language(lang: str, site_lang: str, fallbacks: Mapping[str, Iterable[str]],
                       folders: tuple[Path, ...] = ()) -> str:
    """The language a page's interface is shown in: the first of the chain with a catalog,
    else English, the theme's own."""
    for candidate in fallback_chain(lang, site_lang, fallbacks):
        if candidate == SOURCE_LANG or catalog_path(candidate, folders):
            return candidate
    return SOURCE_LANG


def translations(lang: str, folders: tuple[Path, ...] = ()) -> NullTranslations:
    """The compiled catalog for ``lang`` (English: the messages as written)."""
    path = catalog_path(lang, folders)
    if path is None:
        return NullTranslations()
    # Keyed by the file's modification time: an edited catalog is read again by `serve`.
    return _compiled(path, path.stat().st_mtime_ns)


@cache
def _compiled(path: Path, _modified: int) -> Translations:
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=None, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def has_message(lang: str, message: str, folders: tuple[Path, ...] = (),
                plural: bool = False) -> bool:
    """Whether ``lang``'s catalog translates ``message`` (English always does); a plural
    message is stored under its singular and each form's number."""
    if lang == SOURCE_LANG:
        return True
    compiled = getattr(translations(lang, folders), "_catalog", {})
    return (message, 0) in compiled if plural else message in compiled


def N_(message: str) -> str:  # noqa: N802 (the name pybabel looks for)
    """Marks ``message`` for the catalogs where it is written; it is translated later."""
    return message


def editor_text(lang: str, message: str, folders: tuple[Path, ...] = ()) -> str:
    """``message`` (marked with ``N_``) in ``lang`` or its fallback, for what the site's
    editors read: the ``new`` scaffold, and ``check``'s messages when they are marked."""
    shown = interface_language(lang, lang, DEFAULT_FALLBACKS, folders)
    return translations(shown, folders).gettext(message)


def _babel_locale(lang: str) -> Locale:
    """Babel's locale for ``lang``, or English where CLDR has no data for it."""
    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(SOURCE_LANG)


def long_date(moment: date | datetime, lang: str) -> str:
    """``18 de abril de 2026``: the date as the language writes it, from CLDR."""
    return format_date(moment, format="long", locale=_babel_locale(lang))


def number(value: float, lang: str) -> str:
    """``1.234`` or ``1,234``: a count as the language writes it, from CLDR."""
    return format_decimal(value, locale=_babel_locale(lang))
