"""What a story is made of: its front-matter fields and the rules for reading them.

One table (``FIELDS``) drives ``publish.py new`` and ``publish.py check``; a test keeps
the README's field table in step with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from dateutil import parser as date_parser

from .i18n import N_


@dataclass(frozen=True)
class StoryField:
    name: str  # as an editor writes it
    example: str
    required: bool = False

    @property
    def key(self) -> str:
        return self.name.lower()


FIELDS: tuple[StoryField, ...] = (
    # What each field means is documented once, in the README's table.
    StoryField("Title", "Water returns to the milpa", required=True),
    StoryField("Date", "2026-05-03 09:30", required=True),
    StoryField("Modified", "2026-05-04 18:00"),
    StoryField("Authors", "Ixchel Tzoc, Rosa Ventura"),
    StoryField("Territory", "Sierra Norte", required=True),
    StoryField("Tags", "water, seeds"),
    StoryField("Lang", "es", required=True),
    StoryField("Summary", "The spring came back after the assembly protected the hillside."),
    StoryField("Cover", "photos/spring.jpg"),
    StoryField("Cover-Alt", "Women carrying water jars along a trail"),
    StoryField("Content-Warning", "Police violence"),
    StoryField("Pinned", "false"),
    StoryField("Expires", "24h"),
    StoryField("Slug", "water-returns"),
    StoryField("Translation", "false"),
    StoryField("Status", "draft"),
    StoryField("Quote-Policy", "followers"),
)
# Pelican's own statuses: a draft is neither built nor announced; hidden is built, unlisted.
STATUSES: tuple[str, ...] = ("published", "draft", "hidden")
PAGE_FIELDS: tuple[str, ...] = ("title", "lang", "slug", "status", "summary", "template",
                                "save_as", "url", "translation", "order",
                                "imported")  # written by `publish.py import`
# Pelican's own spellings that editors may reasonably use.
ALIASES = {"author": "authors", "category": "territory"}
KNOWN_KEYS = frozenset(f.key for f in FIELDS) | set(ALIASES) | set(PAGE_FIELDS)

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off", ""})

_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m)", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+\s*[wdhm]\s*)+$", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}


class FieldError(ValueError):
    """A field value that cannot be read. ``str()`` is the English sentence; ``template``
    and ``values`` let `check` say it in the site's language (milpa.checks.say)."""

    def __init__(self, template: str, /, **values: object) -> None:
        super().__init__(template.format(**values))
        self.template, self.values = template, values


def parse_bool(value: str) -> bool:
    """Read a yes/no field, refusing anything ambiguous."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise FieldError(N_("'{value}' is not true or false"), value=value)


def not_a_date(value: str) -> FieldError:
    return FieldError(N_("'{value}' is not a date (write YYYY-MM-DD HH:MM)"), value=value)


def read_date(value: str) -> datetime:
    """A front-matter date as written: without a time zone when it names none. The same
    text always gives the same result, so the check keeps it between builds."""
    try:
        return date_parser.parse(value, default=datetime(2000, 1, 1))
    except (ValueError, OverflowError) as error:
        raise not_a_date(value) from error


def in_zone(parsed: datetime, zone: tzinfo) -> datetime:
    """A date without time zone is in the site's zone."""
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def parse_date(value: str, zone: tzinfo) -> datetime:
    """Parse a front-matter date; a date without time zone is in the site's zone."""
    return in_zone(read_date(value), zone)


STATUS_PROBLEM = N_("Status: '{value}' is not one of {statuses} (write 'Status: published')")


def status_problem(value: str) -> str | None:
    """Why a Status value would keep a story out of the build, or None when it is valid."""
    if value.strip().lower() in STATUSES:
        return None
    return STATUS_PROBLEM.format(value=value, statuses=", ".join(STATUSES))


def parse_duration(value: str) -> timedelta | None:
    """``24h`` → 24 hours; ``1d12h`` → 36 hours; None when ``value`` is not a duration."""
    if not _DURATION.match(value):
        return None
    seconds = sum(int(n) * _UNIT_SECONDS[unit.lower()] for n, unit in _DURATION_PART.findall(value))
    return timedelta(seconds=seconds)


def expiry_time(expires: str, published: datetime, zone: tzinfo,
                read: Callable[[str], datetime] = read_date) -> datetime:
    """When a story stops being published: a duration after its date, or a date/time
    (read by ``read``: the check remembers what it read before)."""
    duration = parse_duration(expires)
    if duration is not None:
        return published + duration
    try:
        return in_zone(read(expires), zone)
    except ValueError:
        raise FieldError(N_("'{value}' is neither a date/time nor a duration such as 24h, "
                            "3d or 2w"), value=expires) from None
