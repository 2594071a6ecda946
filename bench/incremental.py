"""One new story, and one edited story, on a generated site: time against a full build.

    python bench/incremental.py [--stories 4000] [--runs 3]

Writes N stories, builds them once (untimed), then, in each run, for each change (a new
story, newer than all the others; an edited story) times `publish.py build` into the
previous output, a full build of the same content into an empty folder with an empty
cache of its own, and a full build into an empty folder that keeps the rebuild's caches
(parsed sources, the check's findings, renditions), one after the other, and compares the
trees byte for byte. Prints each pair's ratio against the full build from nothing (the
goal: at most 0.25) and against the one with warm caches, the median of each change's
ratios, and the peak memory of the full build. Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from build import ROOT, milpa_command, site_settings, story_text, write_stories


def timed(command: list[str]) -> tuple[float, int]:
    """Seconds, and the peak resident memory (KB) of the command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return seconds, usage.ru_maxrss


def differences(left: Path, right: Path) -> list[str]:
    """Relative paths that differ between two trees (missing on one side included)."""
    found = []
    pending = [filecmp.dircmp(left, right)]
    while pending:
        compared = pending.pop()
        base = Path(compared.left).relative_to(left)
        found += [str(base / name) for name in compared.left_only + compared.right_only
                  + compared.funny_files]
        _, mismatch, errors = filecmp.cmpfiles(compared.left, compared.right,
                                               compared.common_files, shallow=False)
        found += [str(base / name) for name in mismatch + errors]
        pending += compared.subdirs.values()
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3, help="pairs per change (at most 12)")
    arguments = parser.parse_args()
    count = arguments.stories
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        content = base / "content"
        write_stories(content, count, 0)
        settings = site_settings(base, content, "ours")
        # The full build has a cache of its own, emptied each time; the rebuild keeps its.
        fresh_settings = base / "fresh.py"
        fresh_settings.write_text(settings.read_text()
                                  + f"\nCACHE_PATH = {str(base / 'fresh-cache')!r}\n")
        output, fresh, warm = base / "output", base / "fresh", base / "warm"
        seconds, memory = timed(milpa_command(settings, output))
        print(f"{count} stories: first build {seconds:.2f} s, peak {memory / 1024:.0f} MB",
              flush=True)
        stories = content / "stories"

        def new_story(run: int) -> None:  # published now: newer than every other story
            (stories / f"story-{count + run:05d}.md").write_text(
                story_text(count + run, 0, date=f"2026-12-31 {12 + run:02d}:00"),
                encoding="utf-8")

        def edited_story(run: int) -> None:
            index = count // 2 + run
            (stories / f"story-{index:05d}.md").write_text(
                story_text(index, 0, f"A corrected first paragraph ({run}). "),
                encoding="utf-8")

        changes = {"one new story": new_story, "one edited story": edited_story}
        ratios: dict[str, list[float]] = {name: [] for name in changes}
        warm_ratios: dict[str, list[float]] = {name: [] for name in changes}
        for run in range(arguments.runs):
            for name, change in changes.items():
                change(run)
                incremental, _ = timed(milpa_command(settings, output))
                shutil.rmtree(fresh, ignore_errors=True)
                shutil.rmtree(base / "fresh-cache", ignore_errors=True)
                full, memory = timed(milpa_command(fresh_settings, fresh))
                shutil.rmtree(warm, ignore_errors=True)
                warm_full, _ = timed(milpa_command(settings, warm))
                different = sorted(set(differences(output, fresh))
                                   | set(differences(output, warm)))
                ratios[name].append(incremental / full)
                warm_ratios[name].append(incremental / warm_full)
                print(f"  {name}: incremental {incremental:.2f} s, full {full:.2f} s, ratio "
                      f"{incremental / full:.2f} (target ≤ 0.25); full with warm caches "
                      f"{warm_full:.2f} s, ratio {incremental / warm_full:.2f}; full build "
                      f"peak {memory / 1024:.0f} MB; {len(different)} file(s) differ"
                      + (f": {different[:5]}" if different else ""), flush=True)
        for name in changes:
            for label, found in (("", ratios[name]),
                                 (" against a full build with warm caches", warm_ratios[name])):
                print(f"{name}: median ratio{label} {statistics.median(found):.2f} over "
                      f"{len(found)} pair(s) ({', '.join(f'{ratio:.2f}' for ratio in found)})")

if __name__ == "__main__":
    main()
