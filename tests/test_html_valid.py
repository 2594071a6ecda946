"""Every page of the demo passes the Nu HTML Checker (vnu-jar, run with the system Java)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, require_tool

VNU = ROOT / "node_modules/vnu-jar/build/dist/vnu.jar"


@pytest.mark.slow
def test_the_nu_html_checker_finds_no_errors(demo_output: Path) -> None:
    require_tool("java")
    if not VNU.is_file():
        message = "needs vnu-jar: run `python3 dev.py test` or `npm install vnu-jar`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    checked = subprocess.run(
        ["java", "-jar", str(VNU), "--errors-only", "--skip-non-html", "--format", "text",
         str(demo_output)], capture_output=True, text=True, timeout=240)
    assert checked.returncode == 0, checked.stderr
    assert len(list(demo_output.rglob("*.html"))) > 20
