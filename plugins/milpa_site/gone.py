"""The site after `publish.py take-down`: a notice at the home page and tombstones.

While the take-down record exists in the data folder, the build writes this instead of
the site: no story pages, feeds, media or WebFinger documents. Every former ActivityPub
id gets its Tombstone under ``tombstones/`` (at the id's own path), and every server
configuration under deploy/, ``serve`` and the ``_redirects`` written here answer that
path with 410 Gone and the Tombstone. The actors stay as they were (their public key
with them) until their own Deletes are delivered: a server that does not have the key
yet can still fetch it to check those Deletes.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from milpa.activitypub import to_json
from milpa.checks import say
from milpa.i18n import N_
from milpa.settings import setting
from milpa.state import DataStore
from milpa.takedown import DONE, GONE_FOLDER, TakeDown, tombstone


def taken_down(settings: dict[str, Any]) -> TakeDown | None:
    record = DataStore(Path(setting(settings, "MILPA_DATA_PATH"))).take_down()
    return None if record is None else TakeDown.from_dict(record)


def notice_page(site_name: str, lang: str) -> str:
    """The home page's short notice, in the site's language (no script, no style)."""
    title = say(lang, N_("{site} was taken down"), site=site_name)
    text = say(lang, N_("Its stories and accounts are no longer published here."))
    return (f'<!doctype html>\n<html lang="{html.escape(lang)}"><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex">'
            f"<title>{html.escape(title)}</title>\n"
            f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>\n")


def write_gone_site(settings: dict[str, Any], record: TakeDown, staging: Path,
                    previous: Path) -> None:
    """The notice, the tombstones and ``_redirects`` into ``staging``; the actors of the
    ``previous`` output are kept until the take-down is done."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    lang = settings.get("DEFAULT_LANG") or "en"
    (staging / "index.html").write_text(notice_page(settings.get("SITENAME") or "", lang),
                                        encoding="utf-8")
    gone_paths = []
    for gone in record.objects + (record.actors if record.phase == DONE else []):
        path = urlsplit(gone.id).path.lstrip("/")
        target = staging / GONE_FOLDER / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(to_json(tombstone(gone, record.deleted)))
        gone_paths.append(path)
    for gone in record.actors:
        path = urlsplit(gone.id).path.lstrip("/")
        if record.phase == DONE:
            # WebFinger is routed to this file: Mastodon deletes an account whose
            # WebFinger answers 410, even if its Delete never arrived.
            jrd = f".well-known/jrd/{gone.sender}.json"
            (staging / GONE_FOLDER / jrd).parent.mkdir(parents=True, exist_ok=True)
            (staging / GONE_FOLDER / jrd).write_bytes(to_json(tombstone(gone, record.deleted)))
            gone_paths.append(jrd)
        elif (previous / path).is_file():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(previous / path, staging / path)
    # Server configurations the site publishes (deploy/apache.htaccess, deploy/_headers)
    # keep working: they carry the rule that answers the tombstones with 410.
    for name in (".htaccess", "_headers"):
        if (previous / name).is_file():
            shutil.copyfile(previous / name, staging / name)
    # Hosts that read `_redirects` (Netlify and the like): the same rule, path by path.
    (staging / "_redirects").write_text("".join(
        f"/{path}  /{GONE_FOLDER}/{path}  410!\n" for path in sorted(gone_paths)),
        encoding="utf-8")
