"""The build's last step, on the staging folder before it is put in place.

Pelican copies some files as they are: everything under STATIC_PATHS (``content/extra/``),
EXTRA_PATH_METADATA sources and the theme's static files. Whatever their names, every
photo among them is re-encoded in place with nothing but its pixels, and raw photos and
videos are removed and reported. Then every file written is searched for private key
material; any find fails the build. Files kept from the previous output were checked when
they were written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from milpa.filetypes import file_kind
from milpa.references import relative_to_cwd
from milpa.safecopy import Refused, stripped_file

logger = logging.getLogger(__name__)


def strip_copied_media(output: Path, pipeline_folder: str, copied: Mapping[str, Path],
                       written: Iterable[str]) -> dict[str, str]:
    """Strip or remove every photo or video not written by the media pipeline.

    ``written``: the relative paths of the files this build wrote into ``output``.
    ``pipeline_folder`` (relative) holds the media plugin's renditions, stripped as they
    were made; a file Pelican copied there (``copied``: save_as paths of static files, and
    their sources) is treated like any other. Returns 'source: why' for each file removed,
    by its relative path.
    """
    removed = {}
    inside = pipeline_folder.rstrip("/") + "/"
    for relative in sorted(written):
        if relative.startswith(inside) and relative not in copied:
            continue
        path = output / relative
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
            removed[relative] = f"{named}: not published, {refused}"
            continue
        logger.info("Stripped %s (%s) of everything but its pixels", relative, kind.name)
    return removed
