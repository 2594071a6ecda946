"""Blocked domains and actors: one spelling for each, so no variant slips past a block.

A host is the same host in upper case, with a trailing dot, with its default port, or in
Unicode rather than IDNA; an actor id is the same with a trailing slash or a fragment. Both
the blocks (settings, ``block import``, the data folder) and the ids they are checked
against go through the same functions here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import idna

_DEFAULT_PORTS = {"https": 443, "http": 80}
_MAX_LENGTH = 2048


@lru_cache(maxsize=65536)  # blocklists hold thousands of domains, checked on every request
def normal_host(host: str) -> str | None:
    """``host`` lower-cased, without its trailing dot, IDNA-encoded; None if it is no host."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    if not host or len(host) > 253:
        return None
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def normal_domain(entry: str) -> str | None:
    """A domain to block, as a blocklist or an editor may write it (``*.Evil.example.``,
    ``evil.example:8443``, ``https://evil.example/``): its host alone covers every port."""
    entry = entry.strip()
    if "://" not in entry:
        entry = f"//{entry.removeprefix('*.')}"
    try:
        host = urlsplit(entry).hostname
    except ValueError:
        return None
    return normal_host(host) if host else None


@lru_cache(maxsize=65536)
def normal_actor(actor_id: str) -> str | None:
    """An actor id with its host normalised, no default port, no trailing slash, no fragment;
    None if it is not an http(s) URL."""
    if len(actor_id) > _MAX_LENGTH:
        return None
    try:
        parts = urlsplit(actor_id.strip())
        port = parts.port
    except ValueError:
        return None
    host = normal_host(parts.hostname) if parts.hostname else None
    if parts.scheme not in _DEFAULT_PORTS or host is None:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}{query}"


def normal_blocks(domains: Iterable[str], actors: Iterable[str]) -> dict[str, list[str]]:
    """Blocks in their one spelling, sorted; entries that name nothing are left out."""
    return {"domains": sorted({d for d in map(normal_domain, domains) if d}),
            "actors": sorted({a for a in map(normal_actor, actors) if a})}


def is_blocked(actor_id: str, blocks: dict[str, list[str]]) -> bool:
    """Blocked by actor id, or by domain (a blocked domain covers its subdomains).

    An id that cannot be read as an http(s) URL is treated as blocked: nothing it sends
    could be stored or answered anyway.
    """
    actor = normal_actor(actor_id)
    if actor is None:
        return True
    if actor in _normal_set(normal_actor, tuple(blocks["actors"])):
        return True
    domains = _normal_set(normal_domain, tuple(blocks["domains"]))
    host = normal_host(urlsplit(actor).hostname or "") or ""
    if _is_address(host):  # an address has no subdomains: 0.0.1 is no parent of 127.0.0.1
        return host in domains
    labels = host.split(".")
    return any(".".join(labels[start:]) in domains for start in range(len(labels)))


@lru_cache(maxsize=16)  # the same blocklist is checked on every request
def _normal_set(normal: Callable[[str], str | None], entries: tuple[str, ...]
                ) -> frozenset[str | None]:
    return frozenset(map(normal, entries))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
