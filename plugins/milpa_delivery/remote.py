"""Talking to other servers: fetching actors and keys (signed), delivering activities.

Every request is signed with the actor key (servers in authorized-fetch mode refuse
unsigned ones), times out, and never goes to a private, loopback or link-local address
unless loopback is allowed (tests and the local demo): a crafted key URL must not turn the
inbox into a probe of the network it runs in (SSRF).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections import OrderedDict
from typing import Any
from urllib.parse import urldefrag, urlsplit

import aiohttp
from bovine.clients.signed_http import SignedHttpClient, legacy_digest_method
from bovine.clients.signed_http_methods import signed_post
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret

from milpa.logs import service_logger
from milpa.signing import Signer

logger = service_logger(__name__)
# Mastodon also serves actors as plain application/json to some clients.
DOCUMENT_TYPES = ("application/activity+json", "application/ld+json", "application/json")
MAX_DOCUMENT_BYTES = 1_000_000


class RemoteRefused(Exception):
    """A remote document we will not fetch or cannot use; the message says why."""


async def check_address(url: str, allow_loopback: bool) -> None:
    """Refuse URLs that are not http(s) or that resolve to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteRefused(f"not an http(s) URL: {url}")
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(parts.hostname, parts.port or 443,
                                         type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise RemoteRefused(f"cannot resolve {parts.hostname}: {error}") from None
    for *_, address in answers:
        ip = ipaddress.ip_address(address[0])
        if ip.is_loopback and allow_loopback:
            continue
        if not ip.is_global or ip.is_multicast:
            raise RemoteRefused(f"{parts.hostname} resolves to {ip}, a non-public address")


class RemoteActors:
    """Fetches actor documents and their public keys, with a bounded cache."""

    def __init__(self, session: aiohttp.ClientSession, signer: Signer, allow_loopback: bool,
                 timeout: float = 10.0, cache_size: int = 1024) -> None:
        self.session = session
        self.client = SignedHttpClient(session, signer.key_id, signer.private_key)
        self.allow_loopback = allow_loopback
        self.timeout = timeout
        self.cache_size = cache_size
        self._documents: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def document(self, url: str, fresh: bool = False) -> dict[str, Any]:
        url = urldefrag(url).url
        if not fresh and url in self._documents:
            self._documents.move_to_end(url)
            return self._documents[url]
        await check_address(url, self.allow_loopback)
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client.get(url)
                async with response:
                    if response.status != 200:
                        raise RemoteRefused(f"{url} answered {response.status}")
                    if not response.content_type.startswith(DOCUMENT_TYPES):
                        raise RemoteRefused(f"{url} is {response.content_type}, not ActivityPub")
                    body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RemoteRefused(f"cannot fetch {url}: {error or type(error).__name__}") from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise RemoteRefused(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(body)
        except ValueError:
            raise RemoteRefused(f"{url} is not JSON") from None
        if not isinstance(document, dict):
            raise RemoteRefused(f"{url} is not a JSON object")
        self._documents[url] = document
        while len(self._documents) > self.cache_size:
            self._documents.popitem(last=False)
        return document

    def is_cached(self, url: str) -> bool:
        return urldefrag(url).url in self._documents

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

    async def deliver(self, inbox: str, activity: dict[str, Any], key_id: str) -> None:
        """One POST signed with ``key_id``, the key of the activity's actor (Mastodon matches
        the signer with the actor); raises RemoteRefused when the inbox did not take it."""
        await check_address(inbox, self.allow_loopback)
        body = json.dumps(activity)
        # All our actors share one key pair, parsed once; each signs with its own key id.
        secret = CryptographicSecret(key_id, self.client.secret.private_key)
        try:
            async with asyncio.timeout(self.timeout):
                response = await signed_post(self.session, secret, inbox, body,
                                             legacy_digest_method,
                                             content_type="application/activity+json")
                async with response:
                    if response.status >= 300:
                        raise RemoteRefused(f"{inbox} answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RemoteRefused(f"cannot deliver to {inbox}: {error or type(error).__name__}"
                                ) from None
