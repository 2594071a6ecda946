"""The README promises things other files must keep: the two commands and the field table."""

from __future__ import annotations

import re

from milpa.stories import FIELDS

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```(?:sh)?\n(.*?)```", section, re.DOTALL)
    assert block, "the Quick start section has no code block"
    # Without the comments that say what a command does (and why the README test skips it).
    return [line.split(" #")[0].strip() for line in block[1].strip().splitlines()]


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    ci = (ROOT / ".ci/run").read_text()
    assert commands[1] in ci.splitlines()


def test_every_story_field_is_documented_in_the_readme_table() -> None:
    documented = re.findall(r"^\| `([A-Za-z-]+)` \|", README, re.MULTILINE)
    assert [field.name for field in FIELDS] == documented[: len(FIELDS)]
