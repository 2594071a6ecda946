"""The build's last step, on the staging folder before it is put in place.

Pelican copies some files as they are: everything under STATIC_PATHS (``content/extra/``),
EXTRA_PATH_METADATA sources and the theme's static files. Whatever their names, every
photo among them is re-encoded in place with nothing but its pixels, and raw photos and
videos are removed and reported. Then the whole output is searched for private key
material; any find fails the build.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from milpa.filetypes import file_kind
from milpa.references import relative_to_cwd
from milpa.safecopy import Refused, stripped_file

logger = logging.getLogger(__name__)


def strip_copied_media(output: Path, pipeline_folder: Path, copied: Mapping[str, Path]
                       ) -> list[str]:
    """Strip or remove every photo or video not written by the media pipeline.

    ``pipeline_folder`` holds the media plugin's renditions, stripped as they were made;
    a file Pelican copied there (``copied``: save_as paths of static files, and their
    sources) is treated like any other. Returns 'source: why' for each file removed.
    """
    removed = []
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        relative = path.relative_to(output).as_posix()
        if pipeline_folder in path.parents and relative not in copied:
            continue
        kind = file_kind(path)
        if kind is None:
            continue
        data = path.read_bytes()
        path.unlink()  # never write through a link into a source folder
        try:
            path.write_bytes(stripped_file(data, kind))
        except Refused as refused:
            source = copied.get(relative)
            named = f"{relative_to_cwd(source)} (as {relative})" if source else relative
            removed.append(f"{named}: not published, {refused}")
            continue
        logger.info("Stripped %s (%s) of everything but its pixels", relative, kind.name)
    return removed
