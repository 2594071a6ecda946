"""The address guard at connect time: every session that talks to other servers uses it.

aiohttp resolves a name once per connection; the guard sits exactly there, in the
connector, so the addresses it checks are the addresses connected to (no second lookup a
rebinding name server could answer differently) and IP literals in URLs, which aiohttp
never sends to a resolver, are checked by the same rule (``milpa.addresses.refusal``).
Answers that are refused are dropped; a host with no answer left is refused before any
packet leaves.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from milpa.addresses import refusal


class AddressRefused(OSError):
    """Every address a host resolves to is one we never contact."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)  # aiohttp shows the strerror part


class GuardedConnector(aiohttp.TCPConnector):
    def __init__(self, allow_loopback: bool, **options: Any) -> None:
        # Cached answers would be checked again anyway; without a cache, one lookup per
        # connection keeps the guard's view and the socket's the same by construction.
        super().__init__(use_dns_cache=False, **options)
        self.allow_loopback = allow_loopback

    async def _resolve_host(self, host: str, port: int,
                            traces: Sequence[Any] | None = None) -> list[ResolveResult]:
        answers = await super()._resolve_host(host, port, traces=traces)
        allowed = [answer for answer in answers
                   if refusal(answer["host"], self.allow_loopback) is None]
        if not allowed:
            reasons = sorted({refusal(answer["host"], self.allow_loopback) or ""
                              for answer in answers})
            raise AddressRefused(f"{host} refused: {'; '.join(reasons) or 'no address'}")
        return allowed


def guarded_session(allow_loopback: bool, timeout: aiohttp.ClientTimeout | None = None,
                    resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A session for talking to other servers: the guard in its connector, no cookies."""
    connector = GuardedConnector(allow_loopback, resolver=resolver)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 timeout=timeout or aiohttp.ClientTimeout(total=20))


def refused_by_guard(error: BaseException) -> bool:
    """Whether a client error is the guard's refusal (never to be retried)."""
    return isinstance(error, aiohttp.ClientConnectorError) and isinstance(
        error.os_error, AddressRefused)
