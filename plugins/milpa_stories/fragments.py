"""Markup a template makes of one story, made once per build however many pages show it.

A story is listed on the home page, its territory's, each of its tags', its authors' and
its language's pages: the theme wraps what it shows of it in
``{% call once(article, interface_lang(), SITEURL) %}…{% endcall %}``, and the markup is
made the first time and reused after, for the same story, the same interface language and
the same site address (which differs per page with relative URLs). Everything else the
markup may read is the story itself, fixed once the build writes pages, or the same for
the whole build. The markup of the last 4,096 stories shown is kept: a small site's
every story, a large site's without growing with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

_PLAIN = (str, int, float, bool, type(None))
KEPT = 4096


class Once:
    """``once(value, *keys, caller)`` for one Jinja environment of one build."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._made: OrderedDict[tuple[Any, ...], tuple[Any, Markup]] = OrderedDict()

    def __call__(self, value: Any, *keys: Any, caller: Callable[[], str]) -> Markup:
        if not all(isinstance(key, _PLAIN) for key in keys):
            return Markup(caller())  # a key that cannot be compared: made every time
        key = (id(value), *keys)
        found = self._made.get(key)
        if found is None or found[0] is not value:  # ids are reused only once freed
            found = self._made[key] = (value, Markup(caller()))
            if len(self._made) > self.kept:
                self._made.popitem(last=False)
        else:
            self._made.move_to_end(key)
        return found[1]


def install(generator: Any) -> None:
    """generator_init handler: each environment gets its own, so each build a new one."""
    env = getattr(generator, "env", None)
    if env is not None:
        env.globals["once"] = Once()
