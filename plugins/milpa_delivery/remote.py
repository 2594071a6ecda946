"""Fetching other servers' documents: actors and their keys, signed, guarded, whole.

Every GET is signed with the site actor's key (servers in authorized-fetch mode refuse
unsigned ones), times out, and goes through the address guard at connect time
(``milpa_delivery.guard``): a crafted key URL must not turn the inbox into a probe of the
network it runs in (SSRF). Redirects are followed by hand, a few hops at most, each hop's
URL checked like the first; the document comes back with the URL it was finally read
from, whose ``id`` it must carry. Bodies are read to the end, however they are chunked,
or refused at the size limit.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp
from bovine.clients.signed_http_methods import signed_get
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret

from milpa.logs import service_logger
from milpa.signing import Signer
from milpa_delivery.guard import guarded_session

logger = service_logger(__name__)
# Mastodon also serves actors as plain application/json to some clients.
DOCUMENT_TYPES = ("application/activity+json", "application/ld+json", "application/json")
MAX_DOCUMENT_BYTES = 1_000_000
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)


class RemoteRefused(Exception):
    """A remote document we will not fetch or cannot use; the message says why."""


@dataclass(frozen=True)
class Fetched:
    url: str  # where the document was finally read, after redirects
    document: dict[str, Any]


def http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteRefused(f"not an http(s) URL: {url}")
    return url


async def read_whole(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, however many pieces it comes in; refused past ``limit`` bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise RemoteRefused(f"{response.url} is larger than {limit} bytes")
    body = bytearray()
    async for piece in response.content.iter_chunked(64 * 1024):
        body += piece
        if len(body) > limit:
            raise RemoteRefused(f"{response.url} is larger than {limit} bytes")
    return bytes(body)


class RemoteActors:
    """Fetches actor documents and their public keys, with a bounded cache.

    Owns its guarded session: use it as ``async with`` or call ``close()``.
    """

    def __init__(self, signer: Signer, allow_loopback: bool, timeout: float = 10.0,
                 cache_size: int = 1024) -> None:
        self.session = guarded_session(allow_loopback)
        self.secret = CryptographicSecret.from_pem(signer.key_id, signer.private_key)
        self.timeout = timeout
        self.cache_size = cache_size
        self._fetched: OrderedDict[str, Fetched] = OrderedDict()

    async def __aenter__(self) -> RemoteActors:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.session.close()

    async def fetch(self, url: str, fresh: bool = False) -> Fetched:
        """The JSON object at ``url`` and the URL it was finally read from."""
        url = urldefrag(url).url
        if not fresh and url in self._fetched:
            self._fetched.move_to_end(url)
            return self._fetched[url]
        try:
            async with asyncio.timeout(self.timeout):
                final, body = await self._get(url)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RemoteRefused(f"cannot fetch {url}: {error or type(error).__name__}") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise RemoteRefused(f"{final} is not JSON") from None
        if not isinstance(document, dict):
            raise RemoteRefused(f"{final} is not a JSON object")
        fetched = Fetched(final, document)
        self._fetched[url] = fetched
        while len(self._fetched) > self.cache_size:
            self._fetched.popitem(last=False)
        return fetched

    async def _get(self, url: str) -> tuple[str, bytes]:
        """Signed GETs, following at most MAX_REDIRECTS redirects, each hop checked."""
        for _hop in range(MAX_REDIRECTS + 1):
            async with await signed_get(self.session, self.secret, http_url(url)) as response:
                if response.status in REDIRECTS and "Location" in response.headers:
                    url = urldefrag(urljoin(url, response.headers["Location"])).url
                    continue
                if response.status != 200:
                    raise RemoteRefused(f"{url} answered {response.status}")
                if not response.content_type.startswith(DOCUMENT_TYPES):
                    raise RemoteRefused(f"{url} is {response.content_type}, not ActivityPub")
                return url, await read_whole(response, MAX_DOCUMENT_BYTES)
        raise RemoteRefused(f"more than {MAX_REDIRECTS} redirects from {url}")

    async def document(self, url: str, fresh: bool = False) -> dict[str, Any]:
        return (await self.fetch(url, fresh)).document

    async def with_inbox(self, url: str) -> tuple[dict[str, Any], str]:
        """The actor document at ``url`` and its inbox; RemoteRefused when it has none."""
        actor = await self.document(url)
        inbox = actor.get("inbox")
        if not isinstance(inbox, str):
            raise RemoteRefused(f"{url} has no inbox")
        return actor, inbox

    def is_cached(self, url: str) -> bool:
        return urldefrag(url).url in self._fetched

    async def public_key(self, key_id: str, fresh: bool = False) -> CryptographicIdentifier:
        """The key ``key_id`` names, as published by its owner's actor document."""
        document = await self.document(key_id, fresh=fresh)
        keys = document.get("publicKey")
        for key in keys if isinstance(keys, list) else [keys]:
            if isinstance(key, dict) and key.get("id") == key_id:
                if key.get("owner") != document.get("id"):
                    raise RemoteRefused(f"key {key_id} is not owned by {document.get('id')}")
                return CryptographicIdentifier.from_public_key(key)
        raise RemoteRefused(f"{document.get('id')} publishes no key {key_id}")
