"""Size of the site feed at the default entry cap, raw and gzip-compressed.

    python bench/feed_size.py [--stories 60]

Builds N synthetic stories (as bench/build.py writes them, each with a photo) and the
bundled demo, and prints the size of the whole-site Atom and RSS feeds. Prints figures;
never fails on them.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

from build import ROOT, site_settings, write_stories


def built_feeds(settings: Path, output: Path) -> dict[str, bytes]:
    subprocess.run([sys.executable, "publish.py", "build", "-s", str(settings), "-o",
                    str(output)], check=True, cwd=ROOT, capture_output=True)
    return {name: (output / "feeds" / name).read_bytes()
            for name in ("all.atom.xml", "all.rss.xml")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=60)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        write_stories(base / "content", arguments.stories, photos=5)
        synthetic = site_settings(base, base / "content", "synthetic")
        demo = site_settings(base, ROOT / "content", "demo")
        runs = {f"{arguments.stories} synthetic stories": built_feeds(synthetic, base / "out"),
                "demo content": built_feeds(demo, base / "demo")}
    print(f"{'content':<26} {'feed':<14} {'raw B':>8} {'gzip B':>8}")
    for label, feeds in runs.items():
        for name, data in feeds.items():
            print(f"{label:<26} {name:<14} {len(data):>8} {len(gzip.compress(data, 9)):>8}")


if __name__ == "__main__":
    main()
