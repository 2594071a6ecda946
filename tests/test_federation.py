"""The built site, served on 127.0.0.1, resolved by software not written here.

bovine's client looks actors up with WebFinger and parses them; Debian's nginx serves the
same files with the shipped configuration. Both must agree with `publish.py serve`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from bs4 import BeautifulSoup

from milpa.activitypub import ACTIVITY_JSON
from milpa_inbox.web import site_app

from .conftest import ROOT, MiniSite, photo_with_secrets, require_tool, story
from .servers import free_port, running, serving

ACCEPT = {"Accept": f'{ACTIVITY_JSON}, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}


def add_stories(site: MiniSite) -> None:
    photo_with_secrets(site.content / "photos/field.jpg", (1200, 800))
    site.add("stories/a.md", story("Agua", "![A spring](photos/field.jpg)", Authors="Ixchel Tzoc",
                                   Tags="agua", Slug="agua"))
    site.add("stories/b.md", story("Roads", "Closed.", Authors="Tomás Xolo", Lang="en",
                                   Territory="Costa Chica", Slug="roads"))


async def fetch_json(http: aiohttp.ClientSession, url: str) -> tuple[str, dict[str, Any]]:
    async with http.get(url, headers=ACCEPT) as response:
        assert response.status == 200, url
        return response.headers["Content-Type"], await response.json(content_type=None)


async def resolve_like_a_peer(base: str, http: aiohttp.ClientSession) -> None:
    """What a Mastodon-like peer does with @stories@host and with a pasted story URL."""
    # Imported here: bovine's JSON-LD module writes a cache file into the working directory.
    from bovine.clients import lookup_uri_with_webfinger
    from bovine.parse import Actor

    host = urlsplit(base).netloc
    actor_id, _ = await lookup_uri_with_webfinger(http, f"acct:stories@{host}", domain=base)
    assert actor_id == f"{base}/ap/actors/stories"
    content_type, data = await fetch_json(http, actor_id)
    assert content_type.startswith(ACTIVITY_JSON)
    # "about:bovine" skips JSON-LD compaction, which would fetch remote contexts.
    actor = Actor({**data, "@context": "about:bovine"}, domain=host)
    assert actor.id == actor_id
    assert actor.publicKeyPem(f"{actor_id}#main-key").startswith("-----BEGIN PUBLIC KEY-----")
    assert actor.cryptographic_identifiers[0].controller == actor_id
    # acct: round trip: preferredUsername and host lead back to the same actor.
    for name in ("stories", "ixchel_tzoc", "costa_chica"):
        _, profile = await fetch_json(http, f"{base}/ap/actors/{name}")
        back, _ = await lookup_uri_with_webfinger(
            http, f"acct:{profile['preferredUsername']}@{host}", domain=base)
        assert back == profile["id"]
    # The outbox, page by page, and every story in it.
    _, outbox = await fetch_json(http, data["outbox"])
    _, page = await fetch_json(http, outbox["first"])
    assert outbox["totalItems"] == len(page["orderedItems"]) == 2
    for item in page["orderedItems"]:
        content_type, note = await fetch_json(http, item["object"])
        assert content_type.startswith(ACTIVITY_JSON) and note["type"] == "Note"
    # A story URL pasted into a search box: the HTML names its JSON.
    async with http.get(f"{base}/stories/agua/") as response:
        assert response.headers["Content-Type"].startswith("text/html")
        html = BeautifulSoup(await response.text(), "html.parser")
    link = html.find("link", rel="alternate", type=ACTIVITY_JSON)
    _, note = await fetch_json(http, link["href"])
    assert note["attachment"][0]["name"] == "A spring"
    async with http.get(note["attachment"][0]["url"]) as photo:
        assert photo.status == 200 and photo.headers["Content-Type"] == "image/jpeg"
    # Discovery documents with their types.
    for path, expected in ((".well-known/host-meta", "application/xrd+xml"),
                           (".well-known/nodeinfo", "application/json"),
                           ("nodeinfo/2.1", "application/json; profile=")):
        async with http.get(f"{base}/{path}") as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith(
                expected), path
    async with http.get(f"{base}/.well-known/webfinger",
                        params={"resource": f"acct:stories@{host}"}) as response:
        assert response.headers["Content-Type"] == "application/jrd+json"
    async with http.get(f"{base}/.well-known/webfinger") as response:
        assert response.status == 400
    async with http.get(f"{base}/.well-known/webfinger",
                        params={"resource": f"acct:nobody@{host}"}) as response:
        assert response.status == 404


def check_as_a_peer(base: str) -> None:
    async def scenario() -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await resolve_like_a_peer(base, http)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_publish_serve_is_resolved_by_bovine(mini_site: MiniSite,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    add_stories(mini_site)
    monkeypatch.chdir(mini_site.base)  # bovine's JSON-LD cache file lands here

    def built_and_served(base: str):
        mini_site.build(SITEURL=base)
        return site_app(mini_site.output, base)

    with serving(built_and_served) as base:
        check_as_a_peer(base)


NGINX_WRAPPER = """
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        include {config};
    }}
}}
"""


@contextmanager
def shipped_nginx(output: Path, folder: Path, port: int) -> Iterator[None]:
    """Debian's nginx serving ``output`` on ``port``, configured with deploy/nginx.conf."""
    require_tool("nginx")
    prefix = folder / "nginx"
    prefix.mkdir()
    config = prefix / "nginx.conf"
    # Started as root, nginx's workers would become `nobody`, who cannot read pytest's
    # private temporary folders; as any other user, they stay that user.
    user = "user root;" if os.geteuid() == 0 else ""
    config.write_text(NGINX_WRAPPER.format(user=user, prefix=prefix, port=port, root=output,
                                           config=ROOT / "deploy/nginx.conf"))
    with running(["nginx", "-c", str(config), "-p", str(prefix)], port,
                 prefix / "startup.log"):
        yield


@contextmanager
def shipped_caddy(output: Path, folder: Path, port: int) -> Iterator[None]:
    """Debian's Caddy serving ``output`` on ``port``, configured with deploy/Caddyfile."""
    require_tool("caddy")
    config = folder / "Caddyfile"
    config.write_text("{\n\tadmin off\n}\n" + (ROOT / "deploy/Caddyfile").read_text()
                      .replace(":8080 {", f"http://127.0.0.1:{port} {{")
                      .replace("root * output", f"root * {output}"))
    with running(["caddy", "run", "--config", str(config), "--adapter", "caddyfile"], port,
                 folder / "caddy.log"):
        yield


def _shipped_site(mini_site: MiniSite, tool: str, shipped: Callable[..., Any]
                  ) -> Iterator[str]:
    """The mini site behind ``tool`` run with the configuration ``deploy/`` ships."""
    require_tool(tool)
    add_stories(mini_site)
    port = free_port()
    mini_site.build(SITEURL=f"http://127.0.0.1:{port}")
    with shipped(mini_site.output, mini_site.base, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def nginx_site(mini_site: MiniSite) -> Iterator[str]:
    yield from _shipped_site(mini_site, "nginx", shipped_nginx)


@pytest.fixture
def caddy_site(mini_site: MiniSite) -> Iterator[str]:
    yield from _shipped_site(mini_site, "caddy", shipped_caddy)


@pytest.mark.slow
def test_the_shipped_nginx_configuration_is_resolved_by_bovine(
        nginx_site: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    check_as_a_peer(nginx_site)


@pytest.mark.slow
def test_the_shipped_caddy_configuration_is_resolved_by_bovine(
        caddy_site: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    check_as_a_peer(caddy_site)
