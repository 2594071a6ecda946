"""Page weight of the home page and a story page, beside Pelican's default theme.

    python bench/page_weight.py [--story stories/water-returns/index.html]

Builds the demo content twice in a temporary folder (our theme and plugins; Pelican's
default theme, no plugins) and prints, for each page, the bytes (raw and gzip) of the HTML
and every stylesheet, script and font it needs before any image, the number of requests
that makes, and the ratio between the two. Then, for every story with photos (the demo's
are real photographs), what a 360-px-wide phone downloads to read it whole at device pixel
ratios 1 and 2: HTML and CSS gzipped, and the image each ``<picture>`` makes the browser
choose (the first ``<source>`` it can decode, then ``sizes`` and ``srcset`` as a browser
reads them). Targets: 50 KB at 1, 100 KB at 2. Last, the time the photo pipeline takes to
make every rendition of the demo's photos from scratch (what a build without its cache
pays once), and the files it writes. Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from milpa.images import ImageOptions, avif_available, render
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


PHONE_WIDTH = 360  # CSS pixels
ROOT_EM = 16  # CSS pixels in an em, the browsers' default
# What a current phone browser decodes, in the order a <picture> offers them.
DECODES = ("image/avif", "image/webp", "image/jpeg", "")
_CONDITION = re.compile(r"\(\s*(min|max)-width\s*:\s*([\d.]+)(px|em|rem)\s*\)")


def css_pixels(length: str, viewport: int) -> float:
    """A ``sizes`` length (px, em, rem, vw, or calc(A - B) of those) in CSS pixels."""
    difference = re.fullmatch(r"calc\((\S+)\s+-\s+(\S+)\)", length)
    if difference:
        return css_pixels(difference[1], viewport) - css_pixels(difference[2], viewport)
    number = float(re.match(r"[\d.]+", length).group())
    if length.endswith("vw"):
        return number * viewport / 100
    return number * ROOT_EM if length.endswith("em") else number


def slot_width(sizes: str, viewport: int) -> float:
    """The width ``sizes`` gives the image at this viewport width (one condition each)."""
    for entry in (part.strip() for part in sizes.split(",")):
        condition = _CONDITION.match(entry)
        if condition is None:
            return css_pixels(entry, viewport)
        bound = float(condition[2]) * (ROOT_EM if condition[3] != "px" else 1)
        if (viewport >= bound) if condition[1] == "min" else (viewport <= bound):
            return css_pixels(entry[condition.end():].strip(), viewport)
    return viewport


def chosen(srcset: str, needed: float) -> str:
    """The smallest candidate at least ``needed`` pixels wide, else the widest."""
    candidates = sorted((int(width.rstrip("w")), url) for url, width in
                        (item.split() for item in srcset.split(",")))
    return next((url for width, url in candidates if width >= needed), candidates[-1][1])


def phone_download(output: Path, page: str, ratio: int) -> tuple[int, int, int]:
    """(HTML + CSS gzip bytes, image bytes, images) a phone fetches to read ``page``."""
    text = weight_before_images(output, page).compressed
    document = BeautifulSoup((output / page).read_bytes(), "html.parser")
    images = 0
    for picture in document.select("main picture"):
        offers = [*picture.find_all("source", srcset=True), picture.img]
        offer = min(offers, key=lambda tag: DECODES.index(tag.get("type", ""))
                    if tag.get("type", "") in DECODES else len(DECODES))
        needed = slot_width(offer.get("sizes", "100vw"), PHONE_WIDTH) * ratio
        url = chosen(offer["srcset"], needed) if offer.get("srcset") else offer["src"]
        images += local_file(output, "/" + page, url).stat().st_size
    return text, images, len(document.select("main picture"))


def rendition_time() -> None:
    """Every rendition of each photo under content/photos, made from scratch, timed."""
    files: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    started = time.perf_counter()
    photos = sorted((ROOT / "content" / "photos").glob("*.jpg"))
    for photo in photos:
        _, made = render(photo.read_bytes(), photo.stem, ImageOptions())
        for name, data in made.items():
            files[name.rsplit(".", 1)[1]] += 1
            sizes[name.rsplit(".", 1)[1]] += len(data)
    seconds = time.perf_counter() - started
    print(f"\nRenditions of {len(photos)} photos (AVIF {'on' if avif_available() else 'off'}, "
          f"widths {ImageOptions().widths}): {seconds:.1f} s from scratch, "
          f"{seconds / len(photos):.2f} s a photo; "
          + ", ".join(f"{files[kind]} {kind} ({sizes[kind] / 1024:.0f} KB)"
                      for kind in sorted(files)))


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
        print(f"\nA {PHONE_WIDTH}-px phone reading each story with photos (KB; target 50 at "
              "DPR 1, 100 at DPR 2):")
        print(f"{'story':<58} {'photos':>6} {'text':>6} {'DPR 1':>7} {'DPR 2':>7}")
        for page in sorted(ours.glob("stories/**/index.html")):
            relative = page.relative_to(ours).as_posix()
            totals = [phone_download(ours, relative, ratio) for ratio in (1, 2)]
            if totals[0][2]:
                print(f"{relative:<58} {totals[0][2]:>6} {totals[0][0] / 1024:>6.1f} "
                      + " ".join(f"{(text + images) / 1024:>7.1f}"
                                 for text, images, _ in totals))
    rendition_time()


if __name__ == "__main__":
    main()
