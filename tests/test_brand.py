"""The site's logo: in the header, and made into icons that carry nothing but pixels."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image, ImageCms, PngImagePlugin

from milpa.brand import HOME_SCREEN_ICON, TAB_ICON
from milpa_site.build import BuildFailed

from .conftest import SECRET_SERIAL, MiniSite, photo_with_secrets, story
from .privacy import image_leaks


def logo_with_secrets(path: Path) -> Path:
    """A wide PNG logo carrying a colour profile and a text chunk that names its maker."""
    photo_with_secrets(path.with_suffix(".jpg"), (300, 150))
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", SECRET_SERIAL)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with Image.open(path.with_suffix(".jpg")) as photo:
        photo.save(path, pnginfo=text, icc_profile=profile)
    path.with_suffix(".jpg").unlink()
    return path


def test_a_logo_becomes_the_header_picture_and_clean_icons(mini_site: MiniSite) -> None:
    logo_with_secrets(mini_site.content / "photos/logo.png")
    mini_site.add("stories/a.md", story("Agua", slug="a"))
    mini_site.build(MILPA_LOGO="photos/logo.png")
    page = BeautifulSoup(mini_site.read("stories/a/index.html"), "html.parser")
    secrets = (SECRET_SERIAL.encode(),)
    # The tab's icon is inlined: no request; the page's policy allows `img-src data:`.
    icon = page.select_one('link[rel="icon"]')["href"]
    assert icon.startswith("data:image/png;base64,")
    inlined = mini_site.output / "tab-icon.png"
    inlined.write_bytes(base64.b64decode(icon.split(",", 1)[1]))
    home_screen = mini_site.output / "apple-touch-icon.png"
    header = mini_site.output / "logo.png"
    for path, size in ((inlined, (TAB_ICON, TAB_ICON)),
                       (home_screen, (HOME_SCREEN_ICON, HOME_SCREEN_ICON)), (header, (96, 48))):
        with Image.open(path) as image:
            assert (image.format, image.size) == ("PNG", size), path
        assert image_leaks(path, secrets) == [], path
    assert page.select_one('link[rel="apple-touch-icon"]')["href"].endswith(
        "/apple-touch-icon.png")
    shown = page.select_one("header.site a.brand img")
    assert (shown["alt"], shown["width"], shown["height"]) == ("", "48", "24")
    assert shown["src"].endswith("/logo.png")
    assert len(icon) < 1_500


def test_without_a_logo_the_site_name_is_the_wordmark_and_no_icon_is_asked_for(
        mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", slug="a"))
    mini_site.build()
    page = BeautifulSoup(mini_site.read("stories/a/index.html"), "html.parser")
    assert page.select_one('link[rel="icon"]')["href"] == "data:,"
    assert page.select_one("header.site a.brand img") is None
    assert not (mini_site.output / "logo.png").exists()
    assert not (mini_site.output / "apple-touch-icon.png").exists()


def test_an_unreadable_logo_is_an_error_that_names_it(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("Agua", slug="a"))
    (mini_site.content / "photos").mkdir(parents=True, exist_ok=True)
    (mini_site.content / "photos/logo.png").write_bytes(b"not a picture")
    with pytest.raises(BuildFailed, match=r"MILPA_LOGO photos/logo\.png"):
        mini_site.build(MILPA_LOGO="photos/logo.png")
