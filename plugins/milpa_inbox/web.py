"""The one process that listens: serves the built site (the inbox joins it later).

Behaves like the shipped web-server configuration: clean URLs (``/stories/x/`` serves
``stories/x/index.html``), explicit content types, conditional requests (ETag and
Last-Modified come with aiohttp's FileResponse), and nothing outside the output folder.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from milpa.activitypub import ACTIVITY_JSON
from milpa.discovery import JRD_FOLDER, JRD_TYPE, NODEINFO_TYPE, XRD_TYPE, webfinger_name
from milpa.logs import service_logger
from milpa.remote_follow import follow_url
from milpa.takedown import GONE_FOLDER

from .followers_sync import add_followers_sync_route
from .inbox import Inbox, add_inbox_routes

logger = service_logger(__name__)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}
# Renditions and videos are named by their content's hash: they never change.
_IMMUTABLE = frozenset({".avif", ".webp", ".jpg", ".mp4", ".webm"})


FEED_TYPES = {".atom.xml": "application/atom+xml; charset=utf-8",
              ".rss.xml": "application/rss+xml; charset=utf-8"}
# Types by place, for files whose name says nothing (the same rules as deploy/nginx.conf).
PATH_TYPES = (
    ("ap/", ACTIVITY_JSON),
    (".well-known/jrd/", JRD_TYPE),
    (".well-known/host-meta", XRD_TYPE),
    (".well-known/nodeinfo", "application/json"),
    ("nodeinfo/", NODEINFO_TYPE),
    (".well-known/atproto-did", "text/plain; charset=utf-8"),
)


# The site runs no script: a reply that got markup past nh3 still could not run one. Styles
# are inline (one request per page); images, video and the favicon (data:) come from here.
# form-action allows https: because the "follow from your server" form is answered with a
# redirect to the reader's own server, and browsers hold redirects of a form to form-action.
# The same policy is in every file under deploy/.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                           "media-src 'self'; base-uri 'none'; form-action 'self' https:; "
                           "frame-ancestors 'none'")
# Where the follow form is answered (MILPA_FOLLOW_FROM_URL's default).
FOLLOW_FROM_PATH = "/follow-from"


def security_headers(allow_remote_images: bool = False) -> dict[str, str]:
    """Headers every response carries; remote images in replies need ``https:`` images."""
    policy = CONTENT_SECURITY_POLICY.replace("data:", "data: https:") if allow_remote_images \
        else CONTENT_SECURITY_POLICY
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"}


def content_type(relative: str) -> str:
    """The Content-Type of an output file, from its path inside the output folder."""
    for prefix, path_type in PATH_TYPES:
        if relative.startswith(prefix):
            return path_type
    for ending, feed_type in FEED_TYPES.items():
        if relative.endswith(ending):
            return feed_type
    suffix = Path(relative).suffix
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(relative)[0] or \
        "application/octet-stream"


def compressible(media_type: str) -> bool:
    """Text, as the shipped nginx and Caddy configurations compress it."""
    kind = media_type.split(";")[0].strip()
    return kind.startswith("text/") or kind.endswith(("json", "xml"))


def add_follow_route(app: web.Application, base: str) -> None:
    """The "follow from your server" form's answer: a redirect to the reader's server.
    Served by ``serve`` and by the inbox process (deploy/ sends the path to it)."""

    async def follow_from(request: web.Request) -> web.StreamResponse:
        site = base or str(request.url.origin())
        target = follow_url(request.query.get("server", ""), request.query.get("uri", ""), site)
        if target is None:
            raise web.HTTPBadRequest(
                text="Write the name of your server, like mastodon.social, and try again.\n")
        raise web.HTTPSeeOther(target)

    app.router.add_get(FOLLOW_FROM_PATH, follow_from)


def site_app(output: Path, base: str = "",
             make_inbox: Callable[[], Inbox] | None = None,
             allow_remote_images: bool = False) -> web.Application:
    """Serve ``output``; ``base`` is the site's address, whose host WebFinger answers for.

    With ``make_inbox``, the same process receives activities too. Every response, errors
    included, carries the security headers (``allow_remote_images``: the site's
    MILPA_REPLIES_ALLOW_IMAGES).
    """
    root = output.resolve()
    always = security_headers(allow_remote_images)

    async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(always)

    async def webfinger(request: web.Request) -> web.StreamResponse:
        resource = request.query.get("resource", "")
        if not resource:
            logger.info("WebFinger request without resource from %s", request.remote)
            raise web.HTTPBadRequest(text="resource parameter missing\n")
        name = webfinger_name(resource, base)
        if name and gone(f"{JRD_FOLDER}/{name}.json") is not None:
            raise web.HTTPGone(text="this account was deleted\n")
        target = root / JRD_FOLDER / f"{name}.json" if name else None
        if target is None or not target.is_file():
            raise web.HTTPNotFound(text="no such actor here\n")
        return web.FileResponse(target, headers={"Content-Type": JRD_TYPE,
                                                 "Access-Control-Allow-Origin": "*"})

    def gone(wanted: str) -> Path | None:
        """The Tombstone of a document the site took down (milpa_site.gone)."""
        tombstone = (root / GONE_FOLDER / wanted).resolve()
        return tombstone if tombstone.is_relative_to(root / GONE_FOLDER) and \
            tombstone.is_file() else None

    async def serve_file(request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["path"]
        target = (root / wanted).resolve()
        if not target.is_relative_to(root) or wanted.startswith(f"{GONE_FOLDER}/"):
            raise web.HTTPNotFound()
        tombstone = gone(wanted)
        if tombstone is not None:  # as deploy/ answers it: 410 with the Tombstone
            return web.Response(status=410, body=tombstone.read_bytes(), headers={
                "Content-Type": ACTIVITY_JSON, "Access-Control-Allow-Origin": "*"})
        if target.is_dir():
            if wanted and not wanted.endswith("/"):
                raise web.HTTPMovedPermanently(f"/{wanted}/")
            target = target / "index.html"
        if not target.is_file():
            raise web.HTTPNotFound(text="Not found\n")
        cache = "public, max-age=31536000, immutable" if target.suffix in _IMMUTABLE \
            else "public, max-age=300"
        headers = {"Content-Type": content_type(target.relative_to(root).as_posix()),
                   "Cache-Control": cache}
        if headers["Content-Type"] in (ACTIVITY_JSON, JRD_TYPE):
            headers["Access-Control-Allow-Origin"] = "*"
        response = web.FileResponse(target, headers=headers)
        # Pages, feeds and documents shrink to a third or less; photos and videos do not.
        # Not on conditional or range requests: aiohttp would put a gzip trailer on a
        # 304 or a partial body (they are answered uncompressed, as before).
        conditional = any(name in request.headers for name in
                          ("If-None-Match", "If-Modified-Since", "Range", "If-Range"))
        if compressible(headers["Content-Type"]) and not conditional and \
                "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression(web.ContentCoding.gzip)
        return response

    app = web.Application()
    app.on_response_prepare.append(add_security_headers)
    if make_inbox is not None:
        add_inbox_routes(app, make_inbox)
        add_followers_sync_route(app)
    app.router.add_get("/.well-known/webfinger", webfinger)
    add_follow_route(app, base)
    app.router.add_get("/{path:.*}", serve_file)
    return app

