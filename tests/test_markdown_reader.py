"""One Markdown instance for every file reads each file as a new one would."""

from __future__ import annotations

import markdown
from pelican.readers import MarkdownReader

from milpa_site.markdown_reader import ReusedMarkdownReader

from .conftest import MiniSite, story

# Each leaves state a reused instance must forget: footnotes, abbreviations, references.
DOCUMENTS = {
    "a.md": story("A", "Water[^1] and HTML and [seeds][s].\n\n[^1]: From the spring.\n\n"
                  "*[HTML]: HyperText Markup Language\n\n[s]: https://example.org/seeds",
                  Summary="A *short* summary[^2].\n\n[^2]: A note in a field."),
    "b.md": story("B", "HTML again, a dangling[^1] mark and [seeds][s].",
                  Summary="Plain words."),
    # No Summary: nothing resets the instance between this text and the next file's.
    "d.md": story("D", "Rain[^9] and HTML.\n\n[^9]: A note.\n\n*[HTML]: Hyper Text\n\n"
                  "[r]: https://example.org/rain"),
    "e.md": story("E", "A dangling[^9] mark, HTML and [rain][r]."),
    "c.md": story("C", "| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```"),
}


def test_the_reused_reader_reads_like_pelicans(mini_site: MiniSite) -> None:
    settings = mini_site.settings()
    paths = [mini_site.add(f"stories/{name}", text) for name, text in DOCUMENTS.items()]
    reused = ReusedMarkdownReader(settings)
    # Twice round, so every document follows every other.
    for path in paths + paths:
        assert reused.read(str(path)) == MarkdownReader(settings).read(str(path)), path.name


def test_a_build_makes_one_markdown_instance(mini_site: MiniSite, monkeypatch) -> None:
    for number in range(6):
        mini_site.add(f"stories/s{number}.md", story(f"Story {number}", Summary="*Short*."))
    made: list[int] = []
    original = markdown.Markdown.__init__

    def counting(instance: markdown.Markdown, *args: object, **kwargs: object) -> None:
        made.append(1)
        original(instance, *args, **kwargs)

    monkeypatch.setattr(markdown.Markdown, "__init__", counting)
    mini_site.build()
    assert len(made) == 1
