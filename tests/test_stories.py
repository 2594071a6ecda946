from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from milpa.languages import is_valid_tag, language_name
from milpa.stories import expiry_time, parse_bool, parse_date, parse_duration

ZONE = ZoneInfo("America/Mexico_City")
PUBLISHED = datetime(2026, 5, 1, 10, 0, tzinfo=ZONE)


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", timedelta(hours=24)), ("3d", timedelta(days=3)), ("2w", timedelta(weeks=2)),
    ("90m", timedelta(minutes=90)), ("1d12h", timedelta(hours=36)), ("1D 6H", timedelta(hours=30)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["2026-05-02", "tomorrow", "24", "h24", ""])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_expiry_after_a_duration_or_at_a_date_in_the_site_zone() -> None:
    assert expiry_time("24h", PUBLISHED, ZONE) == PUBLISHED + timedelta(hours=24)
    assert expiry_time("2026-05-03 08:00", PUBLISHED, ZONE) == datetime(2026, 5, 3, 8, tzinfo=ZONE)


def test_an_unreadable_expiry_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="duration such as 24h"):
        expiry_time("soonish", PUBLISHED, ZONE)


def test_dates_without_zone_take_the_site_zone() -> None:
    assert parse_date("2026-05-01 10:00", ZONE) == PUBLISHED
    assert parse_date("2026-05-01T10:00:00+00:00", ZONE).utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="not a date"):
        parse_date("2026-13-45", ZONE)


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("Yes", True), ("false", False),
                                                ("", False), ("0", False)])
def test_booleans(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


def test_ambiguous_booleans_are_refused() -> None:
    with pytest.raises(ValueError, match="not true or false"):
        parse_bool("maybe")


@pytest.mark.parametrize("tag", ["es", "en", "fr", "quc", "nah", "es-MX", "zap"])
def test_valid_language_tags(tag: str) -> None:
    assert is_valid_tag(tag)


@pytest.mark.parametrize("tag", ["", "e$", "zz", "spanish!", "xx-YY"])
def test_invalid_language_tags(tag: str) -> None:
    assert not is_valid_tag(tag)


def test_languages_are_named_in_themselves_unless_the_site_says_otherwise() -> None:
    assert language_name("es") == "Español"
    assert language_name("quc") == "Kʼicheʼ"
    assert language_name("nah", (("nah", "Mexicano"),)) == "Mexicano"
    # Babel's CLDR locales first, langcodes' table for the languages they lack.
    assert language_name("es-MX") == "Español (México)"
    assert language_name("nah") == "Nāhuatl"
    assert language_name("zz") == "zz"
