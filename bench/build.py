"""Build time of N synthetic stories: `publish.py build` against plain Pelican configured alike.

    python bench/build.py [--stories 1000] [--runs 3] [--photos 0]

Writes N stories (three territories, three languages, tags) into a temporary folder and
times, alternating in one run, `python publish.py build` (our settings, theme and every
plugin) and `python -m pelican` with Pelican's default theme and no plugins but the same
URLs, pagination and direct templates, and Pelican's own Atom and RSS feeds for the site,
each territory, tag, author and language (what Milpa's feeds plugin writes). Prints each
pair's ratio of wall-clock time (target: at most 1.3) and of processor time (user and
system, which other work on a shared machine changes less), their medians, and the files
and bytes each writes.
With ``--photos N`` each story shows one of N photos (the rendition cache warmed by an
untimed first build, as on any rebuild). Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
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
BUILD_CLOCK = "2027-01-01T00:00:00+00:00"
PARAGRAPH = ("Las semillas viajan con nosotros de una cosecha a otra, y con ellas las "
             "palabras de las abuelas que las cuidaron. ") * 6
# Pelican's own feeds, where Milpa's feeds plugin writes the same ones.
PLAIN_FEEDS = """
FEED_ALL_ATOM = 'feeds/all.atom.xml'
FEED_ALL_RSS = 'feeds/all.rss.xml'
CATEGORY_FEED_ATOM = 'feeds/{slug}.atom.xml'
CATEGORY_FEED_RSS = 'feeds/{slug}.rss.xml'
TAG_FEED_ATOM = 'feeds/tag-{slug}.atom.xml'
TAG_FEED_RSS = 'feeds/tag-{slug}.rss.xml'
AUTHOR_FEED_ATOM = 'feeds/author-{slug}.atom.xml'
AUTHOR_FEED_RSS = 'feeds/author-{slug}.rss.xml'
TRANSLATION_FEED_ATOM = 'feeds/all-{lang}.atom.xml'
TRANSLATION_FEED_RSS = 'feeds/all-{lang}.rss.xml'
"""


def story_text(index: int, photos: int, words: str = PARAGRAPH, date: str | None = None
               ) -> str:
    """A story told in 2026 (``date``, else one spread over the year by ``index``)."""
    photo = (f"\n\n![A field of maize, photo {index % photos}](photos/p{index % photos}.jpg)"
             if photos else "")
    date = date or f"2026-{1 + index % 12:02d}-{1 + index % 28:02d} {index % 24:02d}:00"
    return (f"Title: Story number {index}\n"
            f"Date: {date}\n"
            f"Authors: Author {index % 7}\n"
            f"Territory: {TERRITORIES[index % 3]}\n"
            f"Tags: tag{index % 25}, tag{index % 9}\n"
            f"Lang: {LANGUAGES[index % 3]}\n"
            f"Summary: The summary of story {index}.\n\n"
            f"{words}{photo}\n\n{PARAGRAPH}\n")


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
        (stories / f"story-{index:05d}.md").write_text(story_text(index, photos),
                                                       encoding="utf-8")


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
        # The build's clock is after every story's date (all in 2026): none is scheduled
        # for later, so Milpa builds every story, as plain Pelican does, whatever the day.
        + f"MILPA_NOW = {BUILD_CLOCK!r}\n"
        # The demo's profile photos exist only in the demo's content.
        + ("" if content == ROOT / "content" else
           "MILPA_ACTOR_ICON = MILPA_ACTOR_IMAGE = MILPA_LOGO = None\nMILPA_TERRITORIES = {}\n"))
    return settings


def plain_settings(base: Path, content: Path, name: str) -> Path:
    """Milpa's URLs, pagination and templates, Pelican's default theme and own feeds."""
    settings = base / f"{name}.py"
    settings.write_text(
        (ROOT / "pelicanconf.py").read_text()
        # The default theme has no template for our "follow" page: no pages (none here).
        + "\nPLUGINS = []\nTHEME = 'notmyidea'\nJINJA_ENVIRONMENT = {}\nPAGE_PATHS = []\n"
        + f"PATH = {str(content)!r}\nCACHE_PATH = {str(base / 'cache-plain')!r}\n"
        + PLAIN_FEEDS)
    return settings


def timed(command: list[str], output: Path, cold: Path | None = None
          ) -> tuple[float, float]:
    """Seconds ``command`` takes to build into the empty folder ``output`` (wall clock, and
    the processor time it used, user and system, which other work on a shared machine
    changes less); with ``cold``, after that cache folder is emptied (a full build: nothing
    kept from the last one)."""
    shutil.rmtree(output, ignore_errors=True)
    if cold is not None:
        for folder in cold.glob("content-*"):
            shutil.rmtree(folder)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), command)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def tree_size(folder: Path) -> tuple[int, int]:
    """Files and bytes under ``folder``."""
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
    return len(sizes), sum(sizes)


def milpa_command(settings: Path, output: Path) -> list[str]:
    return [sys.executable, "publish.py", "build", "-s", str(settings), "-o", str(output)]


def compare(base: Path, stories: int, photos: int, runs: int) -> dict[str, object]:
    content = base / f"content-{photos}"
    write_stories(content, stories, photos)
    ours = milpa_command(site_settings(base, content, f"ours-{photos}"), base / "out-ours")
    plain = [sys.executable, "-m", "pelican", str(content),
             "-s", str(plain_settings(base, content, f"plain-{photos}")),
             "-o", str(base / "out-plain"), "--delete-output-directory"]
    # Fills the rendition cache, as the first build of a site does.
    first, _ = timed(ours, base / "out-ours")
    print(f"  first build with an empty cache: {first:.2f} s", flush=True)
    ratios, cpu_ratios, ours_times, plain_times = [], [], [], []
    for run in range(runs):
        # Alternate which goes first, so neither always meets a warmer machine.
        # Milpa's content cache (and its page memo) is emptied and both output folders
        # removed first: full builds from nothing.
        if run % 2:
            ours_time = timed(ours, base / "out-ours", base / "cache")
            plain_time = timed(plain, base / "out-plain")
        else:
            plain_time = timed(plain, base / "out-plain")
            ours_time = timed(ours, base / "out-ours", base / "cache")
        ours_times.append(ours_time[0])
        plain_times.append(plain_time[0])
        ratios.append(ours_time[0] / plain_time[0])
        cpu_ratios.append(ours_time[1] / plain_time[1])
        print(f"  pair {run + 1}/{runs}: pelican {plain_time[0]:.2f} s ({plain_time[1]:.2f} s "
              f"processor), milpa {ours_time[0]:.2f} s ({ours_time[1]:.2f} s), ratio "
              f"{ratios[-1]:.2f} (processor time {cpu_ratios[-1]:.2f})", flush=True)
    return {"ratios": ratios, "cpu_ratios": cpu_ratios, "ours": statistics.median(ours_times),
            "plain": statistics.median(plain_times),
            "ours_tree": tree_size(base / "out-ours"), "plain_tree": tree_size(base / "out-plain")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--photos", type=int, default=0, help="distinct photos (0: none)")
    arguments = parser.parse_args()
    label = f"{arguments.stories} stories, " + (f"{arguments.photos} photos"
                                                if arguments.photos else "no photos")
    print(f"{label}:", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        result = compare(Path(folder), arguments.stories, arguments.photos, arguments.runs)
    ratios = result["ratios"]
    print(f"\n{label}: median of per-pair ratios milpa/pelican {statistics.median(ratios):.2f} "
          f"(pairs {min(ratios):.2f}–{max(ratios):.2f}; target ≤ 1.3); of processor time "
          f"{statistics.median(result['cpu_ratios']):.2f}")
    for name, key in (("pelican", "plain"), ("milpa", "ours")):
        files, size = result[f"{key}_tree"]
        print(f"  {name:<8} median {result[key]:6.2f} s, {files} files, {size / 1e6:.1f} MB")
    print(f"Per story (milpa): {result['ours'] / arguments.stories * 1000:.1f} ms")


if __name__ == "__main__":
    main()
