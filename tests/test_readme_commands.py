"""Every shell command in the README, as typed, in a copy of the project.

The README's ``sh`` blocks are run line by line, in order, after the quick start's
equivalent (a key pair); a line marked ``[README test: skipped …]`` (a server, the test
suite itself, delivery to followers) is only counted. ``python`` is the system's Python,
without Milpa, so ``python publish.py`` must find the project's ``.venv`` by itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

SKIP_MARK = "[README test: skipped"
LEFT_BEHIND = shutil.ignore_patterns(".git", ".venv", "output", "output.*", "cache", "keys",
                                     "data", "__pycache__", "node_modules", ".*_cache")


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", readme, re.DOTALL | re.MULTILINE)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_every_readme_command_works_as_written(tmp_path: Path) -> None:
    project = tmp_path / "milpa"
    shutil.copytree(ROOT, project, ignore=LEFT_BEHIND)
    # The environment the quick start made, and a `python` that is not it.
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "python").symlink_to(Path(sys.base_prefix) / "bin" / "python3")
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [bin_folder, *(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)]
    env = {**os.environ, "PATH": os.pathsep.join(map(str, path)),
           # The copy's code, not the installed one's.
           "PYTHONPATH": os.pathsep.join([str(project / "plugins"), str(project)])}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([str(project / ".venv/bin/python"), "publish.py", "keys"], cwd=project,
                   env=env, check=True, capture_output=True, timeout=120)
    commands = readme_commands()
    ran = 0
    for command in commands:
        if SKIP_MARK in command:
            continue
        done = subprocess.run(command, shell=True, cwd=project, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        ran += 1
    print(f"ran {ran} of the README's {len(commands)} commands; "
          f"{len(commands) - ran} are marked as skipped")
    assert ran >= 6
