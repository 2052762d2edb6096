"""Where Ventros may send requests a tenant chose the address of: only to public addresses
(no SSRF into our network). Outbound webhooks, a channel's WAHA `base_url` and the
`media_url` WAHA fetches for a message all pass here.

A URL is checked when the subscription is created and again before every attempt, and the
attempt connects to the address that was checked (`Target.connect_url`), so a DNS answer
that changes between the check and the connection (DNS rebinding) cannot redirect it.
`VENTROS_WEBHOOKS_ALLOW_PRIVATE` turns the check off for webhooks (development and tests),
`VENTROS_WAHA_ALLOW_PRIVATE` for WAHA (a self-hosted WAHA often has a private address).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ventros.kernel.errors import RuleViolation

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_SECONDS = 5.0


class UnsafeTarget(RuleViolation):
    """The URL resolves to an address webhooks may not reach (or to none)."""

    def __init__(self, detail: str, *, field: str = "url") -> None:
        super().__init__(detail, field=field)


# IPv6 prefixes that carry an IPv4 address a translator or tunnel will reach: NAT64
# (RFC 6052 well-known, RFC 8215 local-use), IPv4-compatible (deprecated, ::/96) and
# IPv4-translated (SIIT, ::ffff:0:0:0/96). Mapped (::ffff:0:0/96), 6to4 and Teredo are
# recognised by the ipaddress module itself.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, shared (CGNAT),
    reserved, documentation, multicast or unspecified. IPv4 inside IPv6 is judged as IPv4
    (every candidate embedding must be public)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded:
            return all(is_public(inner) for inner in embedded)
    return address.is_global and not address.is_multicast


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses this IPv6 address leads to through a translator or tunnel."""
    for known in (address.ipv4_mapped, address.sixtofour, _teredo_client(address)):
        if known is not None:
            return [known]
    value = int(address)
    last_32_bits = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _NAT64_LOCAL_USE:
        # The operator picks the prefix length; /48 puts the IPv4 around the u-octet
        # (RFC 6052 §2.2), /96 at the end. Both layouts are judged.
        high = (value >> 64) & 0xFFFF
        low = (value >> 40) & 0xFFFF
        return [ipaddress.IPv4Address((high << 16) | low), last_32_bits]
    if any(address in net for net in (_NAT64_WELL_KNOWN, _IPV4_COMPATIBLE, _IPV4_TRANSLATED)):
        return [last_32_bits]
    return []


def _teredo_client(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    teredo = address.teredo
    return teredo[1] if teredo else None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect, and the original host for `Host` and TLS (SNI)."""

    url: str
    connect_url: str
    host_header: str | None = None
    sni_hostname: str | None = None


async def resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError) as error:
        raise UnsafeTarget(f"the url's host {host!r} does not resolve") from error
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # Scoped IPv6 addresses (fe80::1%eth0) are link-local: refused below anyway.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeTarget(f"the url's host {host!r} does not resolve")
    return addresses


async def check_target(url: str, *, allow_private: bool) -> Target:
    """The URL pinned to a public address it resolves to; `UnsafeTarget` when any address
    it resolves to is not public (an attacker may control some of the answers)."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeTarget("url must be an absolute http(s) URL")
    if allow_private:
        return Target(url=url, connect_url=url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    refused = [a for a in addresses if not is_public(a)]
    if refused:
        raise UnsafeTarget(
            f"the url's host resolves to a non-public address ({refused[0]}); "
            "only public addresses may be reached"
        )
    pinned = addresses[0]
    pinned_host = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = (userinfo + "@" if userinfo else "") + pinned_host
    if parts.port:
        netloc += f":{parts.port}"
    original_host = f"[{host}]" if ":" in host else host
    return Target(
        url=url,
        connect_url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
        host_header=original_host + (f":{parts.port}" if parts.port else ""),
        sni_hostname=host if parts.scheme == "https" else None,
    )


async def ensure_allowed(
    url: str,
    *,
    allow_private: bool,
    field: str = "url",
    allowed_by: str = "VENTROS_WEBHOOKS_ALLOW_PRIVATE",
) -> None:
    """For the API: raise `UnsafeTarget` (422, on `field`) unless the URL may be reached
    from here; the message names the operator setting `allowed_by` that lifts the rule."""
    try:
        await check_target(url, allow_private=allow_private)
    except UnsafeTarget as error:
        hint = f" (an operator may allow private addresses with {allowed_by}=1)"
        raise UnsafeTarget(error.detail + hint, field=field) from error
