"""The actor's private key never leaves: not in a folder the site publishes, not in a file.

``key_exposure`` says when MILPA_KEYS_PATH lies where Pelican reads or writes what it
publishes (``keys``, ``check``, ``build`` and ``export`` refuse it); ``KeyScanner`` finds
private key material in written files by content, whatever their name or format.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .keys import PRIVATE_KEY
from .settings import setting

# Any PEM private key: PKCS#8, PKCS#1 ("RSA PRIVATE KEY"), EC, OpenSSH, encrypted ones.
_PEM_HEADER = re.compile(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_CHUNK = 1 << 20
# Pieces of the key's own body looked for in every file: lines as PEM wraps them, shorter
# runs of its base64 that survive other wrappings, and its DER bytes. Taken past the
# modulus, which the public key (published on purpose) shares.
_LINES = (10, 14, 18)
_SEGMENT_STARTS = (700, 900, 1100, 1300)
_SEGMENT = 24
_DER_STARTS = (600, 900)
_DER_LENGTH = 24


def published_places(settings: Mapping[str, Any]) -> Iterator[tuple[str, Path]]:
    """(what it is, where) for every folder or file a build reads to publish, or writes."""
    content = Path(settings["PATH"])
    yield "the content folder (PATH)", content
    yield "the output folder (OUTPUT_PATH)", Path(settings["OUTPUT_PATH"])
    for static in settings.get("STATIC_PATHS") or []:
        yield f"STATIC_PATHS ({static})", content / static
    theme = Path(settings.get("THEME") or "theme")
    for static in settings.get("THEME_STATIC_PATHS") or ["static"]:
        yield f"the theme's static files ({static})", theme / static
    for source in settings.get("EXTRA_PATH_METADATA") or {}:
        yield f"EXTRA_PATH_METADATA ({source})", content / source


def key_exposure(settings: Mapping[str, Any]) -> str | None:
    """Why the private key would be published where MILPA_KEYS_PATH puts it, or None."""
    keys = Path(setting(settings, "MILPA_KEYS_PATH")).resolve()
    private = keys / PRIVATE_KEY
    for what, place in published_places(settings):
        place = place.resolve()
        if place == private or place in private.parents:
            return (f"MILPA_KEYS_PATH ({keys}) is inside {what}, so the private key would be "
                    "published with the site: set MILPA_KEYS_PATH to a folder outside content/, "
                    "the output folder and the theme (for example keys/ beside pelicanconf.py) "
                    "and move the key pair there")
    return None


def _pem_body(pem: str) -> str:
    return "".join(line.strip() for line in pem.splitlines() if line and "-----" not in line)


class KeyScanner:
    """Finds private key material in files: any PEM private key, and pieces of ours."""

    def __init__(self, keys_folder: Path) -> None:
        self.markers: list[bytes] = []
        try:
            pem = (keys_folder / PRIVATE_KEY).read_text()
        except (FileNotFoundError, UnicodeDecodeError):
            return
        lines = [line.strip() for line in pem.splitlines() if line and "-----" not in line]
        body = _pem_body(pem)
        try:
            der = base64.b64decode(body)
        except binascii.Error:
            der = b""
        found = [lines[i] for i in _LINES if i < len(lines)]
        found += [body[i:i + _SEGMENT] for i in _SEGMENT_STARTS if i + _SEGMENT <= len(body)]
        self.markers = [m.encode() for m in found]
        self.markers += [der[i:i + _DER_LENGTH] for i in _DER_STARTS
                         if i + _DER_LENGTH <= len(der)]

    def leak_in_bytes(self, data: bytes) -> str | None:
        """What private key material ``data`` holds, or None."""
        if _PEM_HEADER.search(data):
            return "a PEM private key"
        if any(marker in data for marker in self.markers):
            return "part of the site's private key (MILPA_KEYS_PATH)"
        return None

    def leak_in(self, path: Path) -> str | None:
        """``leak_in_bytes`` for a file, read in bounded, overlapping chunks."""
        overlap = max([64, *(len(m) for m in self.markers)])
        tail = b""
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                window = tail + chunk
                leak = self.leak_in_bytes(window)
                if leak:
                    return leak
                tail = window[-overlap:]
        return None

    def leaks_in_tree(self, folder: Path) -> list[str]:
        """'relative/path: what' for every file under ``folder`` holding key material."""
        return self.leaks_in_files(folder, (p.relative_to(folder).as_posix()
                                            for p in folder.rglob("*") if p.is_file()))

    def leaks_in_files(self, folder: Path, relatives: Iterable[str]) -> list[str]:
        """'relative/path: what' for each of ``relatives`` (files under ``folder``) holding
        key material."""
        found = []
        for relative in sorted(relatives):
            leak = self.leak_in(folder / relative)
            if leak:
                found.append(f"{relative}: {leak}")
        return found
