"""The pre-commit hook: a commit that adds a photo or video carrying metadata is refused.

``milpa-media-check FILE…`` (pre-commit passes the staged files) runs the scanner ``check``
uses on exactly those files, and exits 1 naming each file and what it carries.
"""

from __future__ import annotations

from pathlib import Path

import click

from .checks import media_files, metadata_message
from .references import relative_to_cwd


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def main(paths: tuple[Path, ...]) -> None:
    """Refuse photos and videos that carry location, device or personal metadata."""
    found = [carried for carried in media_files(paths) if carried]
    for carried in found:
        click.echo(f"{relative_to_cwd(carried.path)}: {metadata_message(carried)}", err=True)
    if found:
        click.echo(f"{len(found)} file(s) would put metadata into the repository's history; "
                   "clean them, then stage them again.", err=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
