"""Whose key is this? The identity rules, and a bounded cache of keys that verified.

A key is believed to belong to an actor only when both say so from their own origin:
the key id's document is fetched from the key id's URL and must carry that URL as its
``id`` (a document never speaks for another address); when it is a key document (an
``owner`` and a ``publicKeyPem``, as GoToSocial and others publish), the owner is fetched
too and must list the key; the key id and its owner share one origin (scheme, host, port).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urlsplit

from bovine.crypto.types import CryptographicIdentifier

from milpa_delivery.remote import RemoteActors, RemoteRefused


class Untrusted(Exception):
    """A key we do not believe belongs to anyone; the message says why."""


def origin(url: Any) -> tuple[str, str, int] | None:
    """Scheme, host and port of an http(s) URL; None for anything else."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, brackets that do not close...
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


async def own_document(remote: RemoteActors, url: str, fresh: bool = False) -> dict[str, Any]:
    """The document at ``url``, only if it says it is the document at ``url``.

    A server may publish anything, including a document naming another server's actor:
    whatever a document claims about an address other than its own is not believed.
    """
    if origin(url) is None:  # also what urlsplit cannot parse (a 500 otherwise)
        raise RemoteRefused(f"not an http(s) URL: {url[:200]!r}")
    document = await remote.document(url, fresh=fresh)
    claimed = document.get("id")
    if not isinstance(claimed, str) or urldefrag(claimed).url != urldefrag(url).url:
        raise RemoteRefused(f"{urldefrag(url).url} calls itself {str(claimed)[:200]}")
    return document


def listed_keys(actor: dict[str, Any]) -> list[dict[str, Any]]:
    keys = actor.get("publicKey")
    return [key for key in (keys if isinstance(keys, list) else [keys]) if isinstance(key, dict)]


def pem_of(key: dict[str, Any]) -> str | None:
    pem = key.get("publicKeyPem")
    if isinstance(pem, dict):  # JSON-LD value objects, as some servers send
        pem = pem.get("@value")
    return pem if isinstance(pem, str) else None


@dataclass(frozen=True)
class OwnedKey:
    """A public key and the actor that owns it, by the rules above."""

    key_id: str
    owner: str
    identifier: CryptographicIdentifier  # its controller is the owner


class KeyOwners:
    """Resolves key ids to owned keys; remembers the ones that verified a signature."""

    def __init__(self, remote: RemoteActors, size: int = 4096) -> None:
        self.remote = remote
        self.size = size
        self._verified: OrderedDict[str, OwnedKey] = OrderedDict()

    def cached(self, key_id: str) -> OwnedKey | None:
        key = self._verified.get(key_id)
        if key is not None:
            self._verified.move_to_end(key_id)
        return key

    def remember(self, key: OwnedKey) -> None:
        """Keep a key that verified a signature, so repeat senders cost no fetch."""
        self._verified[key.key_id] = key
        self._verified.move_to_end(key.key_id)
        while len(self._verified) > self.size:
            self._verified.popitem(last=False)

    def forget(self, key_id: str) -> None:
        self._verified.pop(key_id, None)

    async def resolve(self, key_id: str, fresh: bool = False) -> OwnedKey:
        """The key ``key_id`` names and its owner, fetched; Untrusted when the rules fail."""
        try:
            document = await own_document(self.remote, key_id, fresh)
            if "owner" in document or "publicKeyPem" in document:
                owner, pem = await self.from_key_document(key_id, document, fresh)
            else:
                owner, pem = self.from_actor(key_id, document)
        except RemoteRefused as error:
            raise Untrusted(str(error)) from None
        try:
            identifier = CryptographicIdentifier.from_public_key(
                {"owner": owner, "publicKeyPem": pem})
        except (ValueError, TypeError) as error:  # not PEM, or not a key type we know
            raise Untrusted(f"key {key_id} cannot be read: {error}") from None
        return OwnedKey(key_id, owner, identifier)

    async def from_key_document(self, key_id: str, document: dict[str, Any], fresh: bool
                                ) -> tuple[str, str]:
        owner = document.get("owner")
        if origin(owner) != origin(key_id):
            raise Untrusted(f"key {key_id} names an owner on another origin: {str(owner)[:200]}")
        actor = await own_document(self.remote, owner, fresh)
        listed = [key for key in listed_keys(actor) if key.get("id") == key_id]
        if not listed:
            raise Untrusted(f"{owner} does not list the key {key_id}")
        pem = pem_of(document) or pem_of(listed[0])
        if pem is None or pem_of(listed[0]) not in (None, pem):
            raise Untrusted(f"{owner} and the key document {key_id} disagree on the key")
        return owner, pem

    @staticmethod
    def from_actor(key_id: str, actor: dict[str, Any]) -> tuple[str, str]:
        # own_document made sure this is the actor's id: key and owner share the origin.
        owner = urldefrag(key_id).url
        for key in listed_keys(actor):
            if key.get("id") == key_id:
                if key.get("owner", owner) != owner:
                    raise Untrusted(f"{owner} lists {key_id} as owned by {key.get('owner')}")
                pem = pem_of(key)
                if pem is None:
                    raise Untrusted(f"{owner} publishes no PEM for {key_id}")
                return owner, pem
        raise Untrusted(f"{owner} publishes no key {key_id}")
