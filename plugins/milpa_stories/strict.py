"""``pelican content`` refuses what ``publish.py build`` refuses, and exits non-zero.

Pelican logs a broken story as an ERROR and still exits 0, publishing it without its
photo. Under plain Pelican these handlers run the same check as ``publish.py check`` and
stop the run, before anything is written, when it or any plugin reported an error.
``publish.py build`` leaves broken stories out itself (expiry always wins) and says so
with ``MILPA_LEAVES_OUT_BROKEN``, which turns these handlers off.
"""

from __future__ import annotations

import logging
from typing import Any

from pelican.utils import slugify

from milpa.checks import check_site
from milpa.settings import setting

logger = logging.getLogger(__name__)


class BrokenStories(Exception):
    """Pelican's command line prints this and exits with ``exitcode``."""

    exitcode = 1


class _ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


_counters: dict[int, _ErrorCount] = {}


def _managed(settings: dict[str, Any]) -> bool:
    return bool(setting(settings, "MILPA_LEAVES_OUT_BROKEN"))


def check_before_reading(pelican: Any) -> None:
    """initialized handler: report the check's blocking problems, then count every ERROR
    logged while the stories are read."""
    if _managed(pelican.settings):
        return
    counter = _ErrorCount()
    logging.getLogger().addHandler(counter)
    _counters[id(pelican.settings)] = counter
    substitutions = pelican.settings.get("SLUG_REGEX_SUBSTITUTIONS", [])
    site_slugify = lambda text: slugify(text, regex_subs=substitutions)  # noqa: E731
    for problem in check_site(pelican.settings, site_slugify):
        if problem.blocks_build:
            logger.error("%s", problem)


def refuse_errors(generators: list[Any]) -> None:
    """all_generators_finalized handler: stop before writing when anything was an error."""
    if not generators:
        return
    counter = _counters.pop(id(generators[0].settings), None)
    if counter is None:
        return
    logging.getLogger().removeHandler(counter)
    if counter.count:
        raise BrokenStories(f"{counter.count} error(s) above; nothing was written. Fix them "
                            "(python publish.py check lists them) and build again.")
