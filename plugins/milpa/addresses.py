"""Which network addresses our outgoing requests may reach (the SSRF rule, pure).

An address is refused when it, or the IPv4 address an IPv6 form embeds, is not a public
unicast address. IPv6 has several ways to carry an IPv4 address (mapped, compatible,
NAT64, 6to4, Teredo); each is unwrapped and checked as the IPv4 address it reaches, so
``64:ff9b::a9fe:a9fe`` is refused like ``169.254.169.254``. Loopback may be allowed (tests,
the local demo), and then only plain loopback: ``127.0.0.0/8`` and ``::1``, never the
unspecified address or a wrapped form of loopback.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
TEREDO = ipaddress.IPv6Network("2001::/32")
COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible ::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, in any of the forms that route to it."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.teredo is not None:
        return ip.teredo[1]  # the client: the address packets reach in the end
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves, not wrappers
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(address: str, allow_loopback: bool = False) -> str | None:
    """Why ``address`` (an IP address as text) may not be contacted; None when it may."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # drop a zone id
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            why = refusal(str(inner))  # loopback wrapped in IPv6 is never allowed
            return f"{ip} embeds {inner}: {why}" if why else None
    if ip.is_loopback and allow_loopback:
        return None
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if not ip.is_global:
        return f"{ip} is a non-public address"
    return None
