"""Writing one built file, through the build's writer when it keeps the previous output.

``publish.py build`` gives Pelican a writer (``milpa_site.keeping.KeepingWriter``) that
writes a file only when its bytes differ from the previous build's; plain ``pelican``
gives its own Writer, and the file is simply written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def write_output(writer: Any, folder: Path, relative: str, data: bytes) -> None:
    """``data`` as ``folder/relative`` (``folder``: the writer's output folder)."""
    keeping = getattr(writer, "write_bytes", None)
    if keeping is not None:
        keeping(relative, data)
        return
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def copy_output(writer: Any, folder: Path, relative: str, source: Path) -> None:
    """``source`` copied as ``folder/relative``."""
    keeping = getattr(writer, "copy_file", None)
    if keeping is not None:
        keeping(relative, source)
        return
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
