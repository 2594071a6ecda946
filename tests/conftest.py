"""Shared fixtures: miniature sites in temporary folders, built by real Pelican."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from PIL import ExifTags, Image

import publish
from milpa.keys import create_key_pair
from milpa_inbox.inbox import inbox_from_settings
from milpa_inbox.web import site_app
from milpa_site.build import BuildSummary, build, load_settings

ROOT = Path(__file__).resolve().parent.parent
SECRET_SERIAL = "SN-TEST-SECRET-0042"
# 17°03'55.4"N: degrees, minutes and seconds as EXIF stores them.
SECRET_LATITUDE = (17.0, 3.0, 55.4)


def _make_keys() -> Path:
    """One key pair for the whole test session (made in a temporary folder)."""
    folder = Path(tempfile.mkdtemp(prefix="milpa-test-keys-"))
    create_key_pair(folder / "keys")
    return folder / "keys"


TEST_KEYS = _make_keys()


def require_tool(*names: str) -> None:
    """Skip a test whose outside tool is missing, except on CI, where that is a failure."""
    missing = [name for name in names if not shutil.which(name)]
    if missing:
        message = f"needs {', '.join(missing)} (see .ci/run for the packages)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def photo_with_secrets(path: Path, size: tuple[int, int] = (800, 600), orientation: int = 1,
                       colour: str = "seagreen") -> Path:
    """A JPEG carrying what a phone adds: GPS, camera serial, orientation, XMP, a comment."""
    image = Image.new("RGB", size, colour)
    # A red block in the top-left corner shows whether orientation was applied.
    image.paste("red", (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.BodySerialNumber] = SECRET_SERIAL
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = SECRET_LATITUDE
    exif[ExifTags.IFD.GPSInfo] = gps
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPSLatitude 17,3.92N</x:xmpmeta>'
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", exif=exif, xmp=xmp, comment=b"home of the author")
    return path


def story(title: str, body: str = "Text.", **fields: str) -> str:
    """Markdown for a story: Title, the given fields (Content_Warning → Content-Warning)."""
    defaults = {"date": "2026-05-01 10:00", "territory": "Sierra Norte", "lang": "es"}
    header = {"title": title, **defaults, **{k.lower(): v for k, v in fields.items()}}
    lines = [f"{key.replace('_', '-').title()}: {value}" for key, value in header.items()]
    return "\n".join(lines) + "\n\n" + textwrap.dedent(body).strip() + "\n"


def settings_file(**values: Any) -> str:
    """A settings file for a miniature site: the project's settings, then ``values``."""
    values = {"PLUGIN_PATHS": [str(ROOT / "plugins")], "THEME": str(ROOT / "theme"),
              "MILPA_NOW": "2026-06-01T12:00:00+00:00", "MILPA_KEYS_PATH": str(TEST_KEYS),
              "MILPA_ACTOR_ICON": None, "MILPA_ACTOR_IMAGE": None, "MILPA_LOGO": None,
              "MILPA_AUTHORS": {},
              "MILPA_TERRITORIES": {}, **values}
    return (ROOT / "pelicanconf.py").read_text() + "\n" + "".join(
        f"{name} = {value!r}\n" for name, value in values.items())


class MiniSite:
    """A site folder with content/, built with the project's real settings and plugins."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.content = base / "content"
        self.output = base / "output"
        (self.content / "stories").mkdir(parents=True)
        (self.content / "pages").mkdir()

    def add(self, relative: str, text: str) -> Path:
        path = self.content / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return load_settings(ROOT / "pelicanconf.py", {
            "PATH": str(self.content), "OUTPUT_PATH": str(self.output),
            "CACHE_PATH": str(self.base / "cache"), "MILPA_NOW": "2026-06-01T12:00:00+00:00",
            "MILPA_KEYS_PATH": str(TEST_KEYS), "MILPA_DATA_PATH": str(self.base / "data"),
            # The demo's profile photos are not in a miniature site.
            "MILPA_ACTOR_ICON": None, "MILPA_ACTOR_IMAGE": None, "MILPA_LOGO": None,
            "MILPA_AUTHORS": {},
            "MILPA_TERRITORIES": {},
            **overrides,
        })

    def build(self, **overrides: Any) -> BuildSummary:
        return build(self.settings(**overrides))

    def served_with_inbox(self, base: str, **overrides: Any) -> web.Application:
        """Built with ``base`` as its address, then served with its inbox (loopback allowed,
        as peers in tests live on 127.0.0.1)."""
        overrides = {"MILPA_INBOX_ALLOW_LOOPBACK": True, **overrides}
        settings = self.settings(SITEURL=base, **overrides)
        self.build(SITEURL=base, **overrides)
        return site_app(self.output, base, inbox_from_settings(settings, self.output, base))

    def read(self, relative: str) -> str:
        return (self.output / relative).read_text(encoding="utf-8")


@pytest.fixture
def mini_site(tmp_path: Path) -> MiniSite:
    return MiniSite(tmp_path)


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo content, built once for the whole session."""
    base = tmp_path_factory.mktemp("demo")
    settings = load_settings(ROOT / "pelicanconf.py", {
        "OUTPUT_PATH": str(base / "output"), "CACHE_PATH": str(base / "cache"),
        "MILPA_KEYS_PATH": str(TEST_KEYS), "MILPA_DATA_PATH": str(base / "data"),
    })
    build(settings)
    return base / "output"


# The command line as an editor runs it, in a miniature site of its own.
def run(*arguments: str) -> Result:
    result = CliRunner().invoke(publish.cli, list(arguments), catch_exceptions=False)
    print(result.output)  # shown by pytest when an assertion fails
    return result


@pytest.fixture
def site(mini_site: MiniSite, monkeypatch: pytest.MonkeyPatch) -> MiniSite:
    """A miniature site folder with its own settings file, as the working directory."""
    (mini_site.base / "pelicanconf.py").write_text(settings_file())
    shutil.copy(ROOT / "publishconf.py", mini_site.base)
    # Pelican loads settings files as modules named after them; start from a clean slate.
    monkeypatch.delitem(sys.modules, "pelicanconf", raising=False)
    monkeypatch.chdir(mini_site.base)
    return mini_site
