"""Where outbound webhooks may go: only to public addresses (no SSRF into our network).

A URL is checked when the subscription is created and again before every attempt, and the
attempt connects to the address that was checked (`Target.connect_url`), so a DNS answer
that changes between the check and the connection (DNS rebinding) cannot redirect it.
`VENTROS_WEBHOOKS_ALLOW_PRIVATE` turns the check off (development and tests).
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

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="url")


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, shared (CGNAT),
    reserved, documentation, multicast or unspecified. IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or _teredo_client(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


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
            "webhooks may only target public addresses (for local testing, an operator "
            "may set VENTROS_WEBHOOKS_ALLOW_PRIVATE=true)"
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


async def ensure_allowed(url: str, *, allow_private: bool) -> None:
    """For the API: raise `UnsafeTarget` (422) unless the URL may be a webhook target."""
    await check_target(url, allow_private=allow_private)
