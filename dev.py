#!/usr/bin/env python3
"""Set up Milpa and run it, with nothing but Python 3.11 and git on the machine.

    python3 dev.py demo     install, build the demo site and serve it on 127.0.0.1:8000
    python3 dev.py test     install, then run the whole test suite (arguments go to pytest)

Everything Python goes into .venv/ beside this file; it is reinstalled when pyproject.toml
changes. Tools from outside Python (chromium, java, npm) are not installed here:
the tests that need them say so, and .ci/run installs them on CI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
VNU_VERSION = "26.9.27"
# The accessibility checker the browser test injects into each page.
AXE_VERSION = "4.14.1"
SYSTEM_TOOLS = {
    "chromium": "chromium",  # the browser test
    "java": "default-jre-headless",  # the HTML validator
    "npm": "npm",  # fetches the HTML validator
    "nginx": "nginx",  # the test of deploy/nginx.conf
    "caddy": "caddy",  # the test of deploy/Caddyfile
}


def say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def _stamp_for(extra: str) -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()


def ensure_python_packages(extra: str) -> None:
    """Create .venv and install the project into it, unless that is already done.

    An install with the test tools also serves the demo.
    """
    wanted = _stamp_for(extra)
    stamp = VENV / ".milpa-installed"
    if stamp.exists() and stamp.read_text() in {wanted, _stamp_for("test")}:
        return
    if not PYTHON.exists():
        say("creating .venv")
        venv.create(VENV, with_pip=True)
    say(f"installing Milpa{'[' + extra + ']' if extra else ''} into .venv (once)")
    target = f".[{extra}]" if extra else "."
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--editable", target], cwd=ROOT, check=True)
    stamp.write_text(wanted)


def ensure_validator() -> None:
    """The Nu HTML Checker and axe-core, from npm, for the HTML and browser tests."""
    wanted = {"vnu-jar": VNU_VERSION, "axe-core": AXE_VERSION}
    missing = [f"{name}@{version}" for name, version in wanted.items()
               if not (ROOT / "node_modules" / name).is_dir()]
    if not missing or not shutil.which("npm"):
        return
    say(f"installing {' '.join(missing)} (HTML and accessibility checkers) into node_modules")
    subprocess.run(["npm", "install", "--silent", "--no-save", "--no-package-lock",
                    "--no-audit", "--no-fund", *missing], cwd=ROOT, check=True)


def report_missing_tools() -> None:
    missing = [package for tool, package in SYSTEM_TOOLS.items() if not shutil.which(tool)]
    if missing:
        say("some tests will be skipped without: " + " ".join(missing) +
            f" (Debian/Ubuntu: sudo apt-get install {' '.join(missing)})")


def main(arguments: list[str]) -> int:
    command, rest = (arguments[0], arguments[1:]) if arguments else ("", [])
    os.chdir(ROOT)
    if command == "demo":
        ensure_python_packages("")
        if not (ROOT / "keys" / "actor.public.pem").exists():
            subprocess.run([PYTHON, "publish.py", "keys"], cwd=ROOT, check=True)
        run = [str(PYTHON), "publish.py", "serve", *rest]
    elif command == "test":
        ensure_python_packages("test")
        ensure_validator()
        report_missing_tools()
        run = [str(PYTHON), "-m", "pytest", *rest]
    else:
        print(__doc__.strip())
        return 2
    os.execv(run[0], run)
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
