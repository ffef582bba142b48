"""What kind of address a host is: every spelling of an IP, and the names that mean one.

The egress rules are decided on addresses, so each way of writing one must come out the same:
``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1`` and ``[::ffff:127.0.0.1]`` are all
127.0.0.1 here, as they are to the C library's resolver. A host whose last label is a number but
which is no valid IPv4 address (``1.2.3.4.5``, ``foo.123``) is refused rather than handed to a
resolver that may read it some other way. IPv6 addresses that carry an IPv4 one (mapped, NAT64,
6to4) are judged by the IPv4 address inside.
"""

from __future__ import annotations

import enum
import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressClass(enum.Enum):
    """Kinds of address, by what the egress rules do with them."""

    METADATA = "a cloud metadata address"
    UNSPECIFIED = "an unspecified address (0.0.0.0/8 or ::)"
    LINK_LOCAL = "a link-local address"
    MULTICAST = "a multicast address"
    RESERVED = "a reserved or broadcast address"
    LOOPBACK = "a loopback address"
    PRIVATE = "a private or cluster-internal address"
    PUBLIC = "a public address"

    @property
    def always_refused(self) -> bool:
        return self not in (AddressClass.LOOPBACK, AddressClass.PRIVATE, AddressClass.PUBLIC)


#: Instance metadata services: AWS, GCP, Azure, DigitalOcean, OpenStack (169.254.169.254), AWS
#: ECS and EKS pod identity, AWS over IPv6, Alibaba, Azure's wire server, Oracle's legacy one.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
    )
)
#: Names of metadata services, refused whatever they resolve to.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
        "metadata.packet.net",
    }
)
#: The well-known NAT64 prefix: its last 32 bits are the IPv4 address it translates to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Ranges Python's ``is_global`` calls global that no server of the internet is in: old IPv6
#: site-local, IETF protocol assignments, and local-use NAT64 (whose IPv4 part can sit anywhere).
_NOT_GLOBAL = (
    ipaddress.ip_network("fec0::/10"),
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST = ipaddress.ip_address("255.255.255.255")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")
_NUMBER = re.compile(r"^(0[x][0-9a-f]*|[0-9]+)$")


def parse_host(host: str) -> IPAddress | str:
    """The IP address a host spells, else its normalised name; ValueError if it is neither.

    Names are lower-cased with one trailing dot removed. Hosts with percent signs, zone ids or
    characters no DNS name has are refused.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        if "%" in text:
            raise ValueError(f"host {host!r} carries a zone id")
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise ValueError(f"host {host!r} is not a valid IPv6 address") from None
    if text.endswith("."):
        text = text[:-1]
    labels = text.split(".")
    if not text or any(not _LABEL.match(label) for label in labels):
        raise ValueError(f"host {host!r} is not a valid name or address")
    if _NUMBER.match(labels[-1]):
        return _inet_aton(host, labels)
    return text


def _inet_aton(host: str, labels: list[str]) -> ipaddress.IPv4Address:
    """IPv4 in any of the forms inet_aton reads: 1 to 4 parts, decimal, octal (0...) or hex."""
    if len(labels) > 4 or not all(_NUMBER.match(label) for label in labels):
        raise ValueError(f"host {host!r} ends in a number but is not an IPv4 address")
    try:
        parts = [_number(label) for label in labels]
    except ValueError:
        raise ValueError(f"host {host!r} is not a valid IPv4 address") from None
    *head, last = parts
    if any(p > 255 for p in head) or last >= 256 ** (4 - len(head)):
        raise ValueError(f"host {host!r} is not a valid IPv4 address")
    value = last
    for index, part in enumerate(head):
        value |= part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _number(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def classify(address: IPAddress) -> AddressClass:
    """The class the egress rules judge ``address`` by."""
    inner = embedded_ipv4(address)
    if inner is not None:
        inner_class = classify(inner)
        mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
        # a translated public IPv4 address (DNS64 on an IPv6-only network) is as public
        if mapped or address in _NAT64 or inner_class is not AddressClass.PUBLIC:
            return inner_class
    if address in METADATA_ADDRESSES:
        return AddressClass.METADATA
    if address.is_unspecified or address in _THIS_NETWORK:
        return AddressClass.UNSPECIFIED
    if address.is_link_local:
        return AddressClass.LINK_LOCAL
    if address.is_loopback:
        return AddressClass.LOOPBACK
    if address.is_multicast:
        return AddressClass.MULTICAST
    if address == _BROADCAST or address.is_reserved:
        return AddressClass.RESERVED
    if not address.is_global or any(address in net for net in _NOT_GLOBAL):
        return AddressClass.PRIVATE
    return AddressClass.PUBLIC


def classify_name(name: str) -> AddressClass | None:
    """The class a name has whatever it resolves to, if it has one (metadata, localhost)."""
    if name in METADATA_NAMES:
        return AddressClass.METADATA
    if name == "localhost" or name.endswith(".localhost"):
        return AddressClass.LOOPBACK
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an address, or an address in brackets) is reachable from this
    machine only: ``localhost`` or a loopback address as written.

    Narrower than ``classify`` on purpose: it decides whether a server may go without
    authentication, or a URL without TLS, so a name that merely may resolve to loopback
    (``api.localhost``) or an unusual spelling (``127.1``) does not count.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
