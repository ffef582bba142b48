"""AgentPool spec.egress: CIDRs and ports as a NetworkPolicy takes them, errors naming the field
(what the operator reports as Stalled, and `validate` prints)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.spec import AgentPool, SpecError, parse_resource


def pool(egress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "AgentPool",
        "metadata": {"name": "p"},
        "spec": {"capabilities": ["llm"], "egress": egress},
    }


def problems(egress: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_resource(pool(egress))
    return [str(p) for p in caught.value.problems]


def test_ipv4_and_ipv6_with_ports_and_except() -> None:
    parsed = parse_resource(
        pool(
            [
                {"cidr": "203.0.113.0/24", "ports": [{"port": 443}]},
                {"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]},
                {"cidr": "0.0.0.0/0", "ports": [{"port": 53, "protocol": "UDP"}, {"port": 65535}]},
            ]
        )
    )
    assert isinstance(parsed, AgentPool)
    first, second, third = parsed.spec.egress
    assert [(p.port, p.protocol) for p in first.ports] == [(443, "TCP")]
    assert second.except_ == ["2001:db8:1::/48"] and second.ports == []
    assert [(p.port, p.protocol) for p in third.ports] == [(53, "UDP"), (65535, "TCP")]
    assert parse_resource(pool([])).spec.egress == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        (
            [{"cidr": "203.0.113.7/24"}],
            "spec.egress[0].cidr: '203.0.113.7/24' has host bits set: write 203.0.113.0/24",
        ),
        (
            [{"cidr": "203.0.113.7"}],
            "spec.egress[0].cidr: '203.0.113.7' has no prefix length: write 203.0.113.7/32",
        ),
        ([{"cidr": "2001:db8::1"}], "spec.egress[0].cidr: '2001:db8::1' has no prefix length"),
        ([{"cidr": "example.com/32"}], "spec.egress[0].cidr: 'example.com/32' is not an IPv4"),
        ([{"cidr": "10.0.0.0/33"}], "spec.egress[0].cidr: '10.0.0.0/33' is not an IPv4"),
        ([{"cidr": "010.0.0.0/8"}], "spec.egress[0].cidr: '010.0.0.0/8' is not an IPv4"),
        (
            [{"cidr": "10.0.0.0/8"}, {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}],
            "spec.egress[1].except[0]: 192.168.0.0/16 must be a smaller network inside 10.0.0.0/8",
        ),
        (
            [{"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}],
            "spec.egress[0].except[0]: 10.0.0.0/8",
        ),
        ([{"cidr": "10.0.0.0/8", "except": ["2001:db8::/32"]}], "spec.egress[0].except[0]"),
        (
            [{"cidr": "10.0.0.0/8", "except": ["10.1.2.3/16"]}],
            "spec.egress[0].except[0]: '10.1.2.3/16' has host bits set",
        ),
        ([{"cidr": "10.0.0.0/8", "ports": [{"port": 0}]}], "spec.egress[0].ports[0].port:"),
        ([{"cidr": "10.0.0.0/8", "ports": [{"port": 65536}]}], "spec.egress[0].ports[0].port:"),
        (
            [{"cidr": "10.0.0.0/8", "ports": [{"port": 53, "protocol": "ICMP"}]}],
            "spec.egress[0].ports[0].protocol:",
        ),
        ([{"cidr": "10.0.0.0/8", "ports": [443]}], "spec.egress[0].ports[0]:"),
        ([{"ports": [{"port": 443}]}], "spec.egress[0].cidr: required field is missing"),
        ([{"cidr": "10.0.0.0/8", "to": "x"}], "spec.egress[0].to: unknown field"),
    ],
)
def test_bad_egress_is_one_line_naming_the_field(
    egress: list[dict[str, Any]], expected: str
) -> None:
    [problem] = problems(egress)
    assert problem.startswith(expected), problem
    assert "\n" not in problem
