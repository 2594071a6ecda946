"""The one process that listens: serves the built site (the inbox joins it later).

Behaves like the shipped web-server configuration: clean URLs (``/stories/x/`` serves
``stories/x/index.html``), explicit content types, conditional requests (ETag and
Last-Modified come with aiohttp's FileResponse), and nothing outside the output folder.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from aiohttp import web

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}
# Renditions and videos are named by their content's hash: they never change.
_IMMUTABLE = frozenset({".webp", ".jpg", ".mp4", ".webm"})


FEED_TYPES = {".atom.xml": "application/atom+xml; charset=utf-8",
              ".rss.xml": "application/rss+xml; charset=utf-8"}


def content_type(path: Path) -> str:
    for ending, feed_type in FEED_TYPES.items():
        if path.name.endswith(ending):
            return feed_type
    return CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or \
        "application/octet-stream"


def site_app(output: Path) -> web.Application:
    root = output.resolve()

    async def serve_file(request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["path"]
        target = (root / wanted).resolve()
        if not target.is_relative_to(root):
            raise web.HTTPNotFound()
        if target.is_dir():
            if wanted and not wanted.endswith("/"):
                raise web.HTTPMovedPermanently(f"/{wanted}/")
            target = target / "index.html"
        if not target.is_file():
            raise web.HTTPNotFound(text="Not found\n")
        cache = "public, max-age=31536000, immutable" if target.suffix in _IMMUTABLE \
            else "public, max-age=300"
        return web.FileResponse(target, headers={"Content-Type": content_type(target),
                                                 "Cache-Control": cache})

    app = web.Application()
    app.router.add_get("/{path:.*}", serve_file)
    return app
