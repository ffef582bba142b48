"""Every spelling of an address comes out as the same address, and each address has its class."""

from __future__ import annotations

import ipaddress

import pytest

from agent_runtime.policy import AddressClass, classify, parse_host
from agent_runtime.policy.addresses import is_loopback

C = AddressClass


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x0", "0.0.0.0"),
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[0:0:0:0:0:ffff:7f00:1]", "::ffff:7f00:1"),
    ],
)
def test_spellings(host: str, address: str) -> None:
    assert parse_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["Example.COM.", "metadata.google.internal", "a-b_c.internal"])
def test_names_are_normalised(host: str) -> None:
    assert parse_host(host) == host.lower().rstrip(".")


@pytest.mark.parametrize(
    "host",
    [
        "1.2.3.4.5",
        "foo.123",
        "256.0.0.1",
        "1.2.65536",
        "4294967296",
        "08.0.0.1",
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
        "a..b",
        "%31%32%37.0.0.1",
        "a b",
        "",
        "::g",
    ],
)
def test_invalid_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError):
        parse_host(host)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", C.METADATA),
        ("fd00:ec2::254", C.METADATA),
        ("100.100.100.200", C.METADATA),
        ("168.63.129.16", C.METADATA),
        ("::ffff:169.254.169.254", C.METADATA),
        ("64:ff9b::a9fe:a9fe", C.METADATA),  # NAT64
        ("2002:a9fe:a9fe::", C.METADATA),  # 6to4
        ("0.0.0.0", C.UNSPECIFIED),
        ("0.1.2.3", C.UNSPECIFIED),
        ("::", C.UNSPECIFIED),
        ("169.254.1.1", C.LINK_LOCAL),
        ("fe80::1", C.LINK_LOCAL),
        ("224.0.0.1", C.MULTICAST),
        ("ff02::1", C.MULTICAST),
        ("255.255.255.255", C.RESERVED),
        ("240.0.0.1", C.RESERVED),
        ("127.0.0.1", C.LOOPBACK),
        ("127.255.0.9", C.LOOPBACK),
        ("::1", C.LOOPBACK),
        ("::ffff:127.0.0.1", C.LOOPBACK),
        ("64:ff9b::7f00:1", C.LOOPBACK),
        ("10.1.2.3", C.PRIVATE),
        ("172.16.0.1", C.PRIVATE),
        ("192.168.0.1", C.PRIVATE),
        ("100.64.0.1", C.PRIVATE),  # carrier-grade NAT, common for pods
        ("fd12:3456::1", C.PRIVATE),
        ("::ffff:10.0.0.1", C.PRIVATE),
        ("8.8.8.8", C.PUBLIC),
        ("2606:4700:4700::1111", C.PUBLIC),
        ("::ffff:8.8.8.8", C.PUBLIC),
    ],
)
def test_classes(address: str, kind: AddressClass) -> None:
    assert classify(ipaddress.ip_address(address)) is kind


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        # Narrower than classify(): deciding that a server may go without authentication, only
        # what is loopback as written counts.
        ("api.localhost", False),
        ("localhost.", False),
        ("127.1", False),
        ("2130706433", False),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback_reads_the_host_as_written(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
