"""Loggers for the long-running services."""

from __future__ import annotations

import logging
import sys


def service_logger(name: str) -> logging.Logger:
    """A logger that reports every event.

    Importing Pelican makes every new logger drop repeated warnings (its LimitFilter):
    right for a build's output, wrong for a server, where the tenth forged request from
    the same address must be logged like the first. Pelican is not imported here: the
    services never load it; when a process did (``serve`` builds first), its filter goes.
    """
    logger = logging.getLogger(name)
    pelican_log = sys.modules.get("pelican.log")
    if pelican_log is not None:
        for limit in [f for f in logger.filters if isinstance(f, pelican_log.LimitFilter)]:
            logger.removeFilter(limit)
    return logger
