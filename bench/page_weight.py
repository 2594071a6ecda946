"""Page weight of the home page and a story page, beside Pelican's default theme.

    python bench/page_weight.py [--story stories/water-returns/index.html]

Builds the demo content twice in a temporary folder (our theme and plugins; Pelican's
default theme, no plugins) and prints, for each page, the bytes (raw and gzip) of the HTML
and every stylesheet, script and font it needs before any image, the number of requests
that makes, and the ratio between the two. Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from milpa.keys import create_key_pair

ROOT = Path(__file__).resolve().parent.parent
_CSS_URL = re.compile(r"""@import\s+(?:url\()?["']?([^"')\s;]+)|url\(["']?([^"')]+)["']?\)""")


@dataclass
class Weight:
    requests: int = 0
    raw: int = 0
    compressed: int = 0

    def add(self, data: bytes) -> None:
        self.requests += 1
        self.raw += len(data)
        self.compressed += len(gzip.compress(data, 9))


def local_file(output: Path, page_url: str, reference: str) -> Path | None:
    """The output file a same-site URL points at (None for other hosts and data: URLs)."""
    url = urlsplit(urljoin(page_url, reference))
    if url.scheme not in ("", "file") or reference.startswith("data:"):
        return None
    target = output / url.path.lstrip("/")
    return target / "index.html" if target.is_dir() else target


def weight_before_images(output: Path, page: str) -> Weight:
    """HTML, then stylesheets (and what they import or load: fonts), scripts."""
    weight = Weight()
    html = (output / page).read_bytes()
    weight.add(html)
    document = BeautifulSoup(html, "html.parser")
    page_url = "/" + page
    pending = [link["href"] for link in document.find_all("link", rel="stylesheet")]
    pending += [script["src"] for script in document.find_all("script", src=True)]
    seen: set[Path] = set()
    css_text = "".join(style.get_text() for style in document.find_all("style"))
    for reference in [m[0] or m[1] for m in _CSS_URL.findall(css_text)]:
        pending.append(reference)
    while pending:
        reference = pending.pop()
        target = local_file(output, page_url, reference)
        if target is None or target in seen or not target.is_file():
            continue
        if target.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"):
            continue  # images come after
        seen.add(target)
        data = target.read_bytes()
        weight.add(data)
        if target.suffix == ".css":
            css_url = "/" + str(target.relative_to(output))
            pending += [urljoin(css_url, m[0] or m[1]) for m in _CSS_URL.findall(data.decode())]
    return weight


def build(settings: Path, output: Path, keys: Path) -> None:
    subprocess.run([sys.executable, "-m", "pelican", str(ROOT / "content"), "-s", str(settings),
                    "-o", str(output), "-e", f'MILPA_KEYS_PATH="{keys}"',
                    f'CACHE_PATH="{output.parent / "cache"}"'],
                   check=True, cwd=ROOT, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--story", default="stories/water-returns/index.html")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        ours, default = base / "ours", base / "default"
        plain = base / "plain.py"
        plain.write_text(
            (ROOT / "pelicanconf.py").read_text()
            # Pelican's default theme has no template for our "follow" page: leave pages out.
            + "\nPLUGINS = []\nTHEME = 'notmyidea'\nJINJA_ENVIRONMENT = {}\nPAGE_PATHS = []\n"
            + f"CACHE_PATH = {str(base / 'cache')!r}\nPATH = {str(ROOT / 'content')!r}\n")
        create_key_pair(base / "keys")
        build(ROOT / "pelicanconf.py", ours, base / "keys")
        build(plain, default, base / "keys")
        print(f"{'page':<42} {'theme':<16} {'requests':>8} {'raw B':>8} {'gzip B':>8}")
        for page in ("index.html", arguments.story):
            mine, theirs = weight_before_images(ours, page), weight_before_images(default, page)
            for name, weight in (("milpa", mine), ("pelican default", theirs)):
                print(f"{page:<42} {name:<16} {weight.requests:>8} {weight.raw:>8} "
                      f"{weight.compressed:>8}")
            print(f"{page:<42} {'ratio':<16} {mine.requests / theirs.requests:>8.2f} "
                  f"{mine.raw / theirs.raw:>8.2f} {mine.compressed / theirs.compressed:>8.2f}")
        story = weight_before_images(ours, arguments.story)
        print(f"Story page: {story.compressed} B gzip before images "
              f"({story.compressed / 14336:.0%} of the 14 KB budget), {story.requests} request(s).")


if __name__ == "__main__":
    main()
