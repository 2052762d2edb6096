"""Webhook targets must be public addresses; a checked target is pinned to its address."""

import ipaddress

import pytest

from ventros.webhooks.ssrf import UnsafeTarget, check_target, is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "ff02::1",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "64:ff9b:1::7f00:1",  # local-use NAT64 (RFC 8215), /96 layout
        "64:ff9b:1:7f00:0:100::",  # local-use NAT64, /48 layout of 127.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a00:5",  # IPv4-compatible 10.0.0.5
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT) 127.0.0.1
        "::ffff:a9fe:a9fe",  # IPv4-mapped 169.254.169.254
        "2002:a00:5::",  # 6to4 of 10.0.0.5
    ],
)
def test_ipv6_translation_addresses_are_judged_by_their_embedded_ipv4(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", ["http://[64:ff9b::7f00:1]:8080/", "http://[::7f00:1]/"])
async def test_urls_through_ipv6_translation_to_inside_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        await check_target(url, allow_private=False)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "64:ff9b::808:808"]
)
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.0.0.1/",
        "http://localhost/hook",
    ],
)
async def test_urls_reaching_inside_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        await check_target(url, allow_private=False)


async def test_allowing_private_targets_skips_the_check() -> None:
    target = await check_target("http://127.0.0.1:9/hook", allow_private=True)
    assert target.connect_url == "http://127.0.0.1:9/hook"
    assert target.host_header is None


async def test_a_public_target_is_pinned_to_the_address_that_was_checked() -> None:
    target = await check_target("http://93.184.215.14:8080/in?x=1", allow_private=False)
    assert target.connect_url == "http://93.184.215.14:8080/in?x=1"
    assert target.host_header == "93.184.215.14:8080"
    assert target.sni_hostname is None


async def test_a_public_ipv6_target_is_pinned_with_brackets_and_keeps_tls_name() -> None:
    target = await check_target("https://[2606:4700:4700::1111]/in", allow_private=False)
    assert target.connect_url == "https://[2606:4700:4700::1111]/in"
    assert target.host_header == "[2606:4700:4700::1111]"
    assert target.sni_hostname == "2606:4700:4700::1111"
