"""Loggers for the long-running service."""

from __future__ import annotations

import logging

from pelican.log import LimitFilter


def service_logger(name: str) -> logging.Logger:
    """A logger that reports every event.

    Importing Pelican makes every new logger drop repeated warnings (its LimitFilter):
    right for a build's output, wrong for a server, where the tenth forged request from
    the same address must be logged like the first.
    """
    logger = logging.getLogger(name)
    for limit in [f for f in logger.filters if isinstance(f, LimitFilter)]:
        logger.removeFilter(limit)
    return logger
