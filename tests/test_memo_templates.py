"""What a page's fingerprint covers is found by reading each template file once per build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2

from milpa_site.memo import RenderMemo

BASE = "<title>{{ SITENAME }}</title>{% block body %}{% endblock %}{% include 'foot.html' %}"
TEMPLATES = {
    "base.html": BASE,
    "foot.html": "<footer>{{ FOOTER }}</footer>",
    "article.html": "{% extends 'base.html' %}{% block body %}{{ article.title }}{% endblock %}",
    "page.html": "{% extends 'base.html' %}{% block body %}{{ page.title }}{% endblock %}",
    "tag.html": "{% extends 'base.html' %}{% block body %}{{ tag }}{% endblock %}",
}


class CountingLoader(jinja2.DictLoader):
    """A real loader that remembers which template sources were read."""

    def __init__(self, mapping: dict[str, str]) -> None:
        super().__init__(mapping)
        self.read: list[str] = []

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        self.read.append(template)
        return super().get_source(environment, template)


def memo_and_environment(tmp_path: Path,
                         templates: dict[str, str]) -> tuple[RenderMemo, jinja2.Environment]:
    loader = CountingLoader(templates)
    return RenderMemo(tmp_path / "pages.json", "site"), jinja2.Environment(loader=loader)


def test_a_shared_base_is_read_once_for_every_template_that_extends_it(tmp_path: Path) -> None:
    memo, env = memo_and_environment(tmp_path, TEMPLATES)
    found = {name: memo.variables(env.get_template(name))
             for name in ("article.html", "page.html", "tag.html")}
    assert found["article.html"] == {"SITENAME", "FOOTER", "article"}
    assert found["page.html"] == {"SITENAME", "FOOTER", "page"}
    assert found["tag.html"] == {"SITENAME", "FOOTER", "tag"}
    analysed = [name for name in env.loader.read if name in ("base.html", "foot.html")]
    # get_template reads nothing of base or foot; the analysis reads each once.
    assert sorted(analysed) == ["base.html", "foot.html"]


def test_a_shared_base_that_reaches_whole_lists_leaves_every_template_unmemoized(
        tmp_path: Path) -> None:
    templates = {**TEMPLATES, "foot.html": "{{ articles_paginator.object_list[0].title }}"}
    memo, env = memo_and_environment(tmp_path, templates)
    for name in ("article.html", "page.html", "tag.html"):
        assert memo.variables(env.get_template(name)) is None, name


def parsed_templates(monkeypatch) -> list[str]:
    parsed: list[str] = []
    original = jinja2.Environment.parse

    def counting(env: jinja2.Environment, source: str, *args: object, **kwargs: object):
        parsed.append(source)
        return original(env, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "parse", counting)
    return parsed


def test_the_next_build_parses_only_template_files_whose_source_changed(
        tmp_path: Path, monkeypatch) -> None:
    memo, env = memo_and_environment(tmp_path, TEMPLATES)
    memo.variables(env.get_template("article.html"))
    memo.save({}, {})
    parsed = parsed_templates(monkeypatch)
    again, env = memo_and_environment(tmp_path, TEMPLATES)
    assert again.variables(env.get_template("article.html")) == {"SITENAME", "FOOTER", "article"}
    assert parsed == []
    # A file with other words under the same name is analysed again.
    changed = {**TEMPLATES, "foot.html": "<footer>{{ FOOTER }} {{ LICENSE }}</footer>"}
    third, env = memo_and_environment(tmp_path, changed)
    assert third.variables(env.get_template("article.html")) == {
        "SITENAME", "FOOTER", "LICENSE", "article"}
    assert parsed == [changed["foot.html"]]


def test_a_changed_template_file_changes_the_fingerprint_of_pages_that_use_it(
        tmp_path: Path) -> None:
    # Templates can come from outside the theme (THEME_TEMPLATES_OVERRIDES), which the
    # site's fingerprint does not cover.
    context = {"SITENAME": "Milpa", "FOOTER": "", "article": "same"}
    memo, env = memo_and_environment(tmp_path, TEMPLATES)
    before = memo.fingerprint(env.get_template("article.html"), context)
    changed = {**TEMPLATES, "foot.html": "<footer><b>{{ FOOTER }}</b></footer>"}
    memo, env = memo_and_environment(tmp_path, changed)
    assert memo.fingerprint(env.get_template("article.html"), context) != before
