"""Build time of N synthetic stories: `publish.py build` against plain `pelican`.

    python bench/build.py [--stories 1000] [--runs 3] [--photos 20]

Writes N stories (three territories, three languages, tags) into a temporary folder and
times, alternating in one run, `python publish.py build` (our settings, theme and every
plugin) and `python -m pelican` (Pelican's default theme, no plugins) on the same stories:
first with no photos, then with each story showing one of a few photos (the rendition
cache warmed by an untimed first build, as on any rebuild). Prints the medians and their
ratio (target: at most 1.3). Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from milpa.keys import create_key_pair

ROOT = Path(__file__).resolve().parent.parent
TERRITORIES = ("Sierra Norte", "Costa Chica", "Valle del Río Verde")
LANGUAGES = ("es", "en", "quc")
PARAGRAPH = ("Las semillas viajan con nosotros de una cosecha a otra, y con ellas las "
             "palabras de las abuelas que las cuidaron. ") * 6


def write_stories(content: Path, count: int, photos: int) -> None:
    stories = content / "stories"
    stories.mkdir(parents=True)
    (content / "pages").mkdir()
    for index in range(photos):
        image = Image.new("RGB", (1600, 1067), (40 + index * 9 % 200, 110, 60))
        sun = (100 + index * 20, 200, 900 + index * 20, 700)
        ImageDraw.Draw(image).ellipse(sun, fill=(240, 200, 90))
        (content / "photos").mkdir(exist_ok=True)
        image.save(content / "photos" / f"p{index}.jpg", quality=80)
    for index in range(count):
        photo = (f"\n\n![A field of maize, photo {index % photos}](photos/p{index % photos}.jpg)"
                 if photos else "")
        (stories / f"story-{index:05d}.md").write_text(
            f"Title: Story number {index}\n"
            f"Date: 2026-{1 + index % 12:02d}-{1 + index % 28:02d} {index % 24:02d}:00\n"
            f"Authors: Author {index % 7}\n"
            f"Territory: {TERRITORIES[index % 3]}\n"
            f"Tags: tag{index % 25}, tag{index % 9}\n"
            f"Lang: {LANGUAGES[index % 3]}\n"
            f"Summary: The summary of story {index}.\n\n"
            f"{PARAGRAPH}{photo}\n\n{PARAGRAPH}\n", encoding="utf-8")


def site_settings(base: Path, content: Path, name: str) -> Path:
    """A settings file: the project's settings over ``content``, with a throwaway key pair."""
    keys = base / "keys"
    if not keys.exists():
        create_key_pair(keys)
    settings = base / f"{name}.py"
    settings.write_text(
        (ROOT / "pelicanconf.py").read_text()
        + f"\nPATH = {str(content)!r}\nCACHE_PATH = {str(base / 'cache')!r}\n"
        + f"PLUGIN_PATHS = [{str(ROOT / 'plugins')!r}]\nTHEME = {str(ROOT / 'theme')!r}\n"
        + f"MILPA_KEYS_PATH = {str(keys)!r}\nMILPA_DATA_PATH = {str(base / 'data')!r}\n"
        # The demo's profile photos exist only in the demo's content.
        + ("" if content == ROOT / "content" else
           "MILPA_ACTOR_ICON = MILPA_ACTOR_IMAGE = None\nMILPA_TERRITORIES = {}\n"))
    return settings


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - started


def compare(base: Path, stories: int, photos: int, runs: int) -> tuple[float, float]:
    content = base / f"content-{photos}"
    write_stories(content, stories, photos)
    ours_settings = site_settings(base, content, f"ours-{photos}")
    plain_settings = base / f"plain-{photos}.py"
    plain_settings.write_text(f"PATH = {str(content)!r}\nTIMEZONE = 'UTC'\n")
    ours = [sys.executable, "publish.py", "build", "-s", str(ours_settings),
            "-o", str(base / "out-ours")]
    plain = [sys.executable, "-m", "pelican", str(content), "-s", str(plain_settings),
             "-o", str(base / "out-plain")]
    first = timed(ours)  # fills the rendition cache, as the first build of a site does
    print(f"  first build with an empty cache: {first:.2f} s", flush=True)
    ours_times, plain_times = [], []
    for run in range(runs):
        plain_times.append(timed(plain))
        ours_times.append(timed(ours))
        print(f"  run {run + 1}/{runs}: pelican {plain_times[-1]:.2f} s, "
              f"milpa {ours_times[-1]:.2f} s", flush=True)
    return statistics.median(ours_times), statistics.median(plain_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--photos", type=int, default=20, help="distinct photos (images on)")
    arguments = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for photos in (0, arguments.photos):
            label = f"{arguments.stories} stories, " + (f"{photos} photos" if photos else
                                                        "no photos")
            print(f"{label}:", flush=True)
            ours, plain = compare(Path(folder), arguments.stories, photos, arguments.runs)
            results.append((label, ours, plain))
    print(f"\n{'':<30} {'pelican':>9} {'milpa':>9} {'ratio':>7}")
    for label, ours, plain in results:
        print(f"{label:<30} {plain:>8.2f}s {ours:>8.2f}s {ours / plain:>7.2f}")
    print(f"Per story (milpa, no photos): {results[0][1] / arguments.stories * 1000:.1f} ms")


if __name__ == "__main__":
    main()
