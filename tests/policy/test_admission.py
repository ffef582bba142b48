"""Admission: a Workflow's tools against the platform policy, each problem at its field."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.policy import ToolPolicy, tool_policy_problems
from agent_runtime.spec import parse_workflow


def workflow(tools: list[dict[str, Any]]) -> Any:
    return parse_workflow(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "spec": {
                "state": {"out": {"type": "string"}},
                "models": {"default": {"provider": "scripted"}},
                "tools": tools,
                "nodes": [{"name": "a", "type": "llm", "prompt": "hi", "output": "out"}],
                "edges": [{"from": "START", "to": "a"}, {"from": "a", "to": "END"}],
            },
        }
    ).spec


def lines(tools: list[dict[str, Any]], policy: ToolPolicy) -> list[str]:
    return [str(p) for p in tool_policy_problems(workflow(tools), policy)]


def test_the_issue_s_example_is_refused_by_the_cluster_preset() -> None:
    found = lines([{"name": "x", "function": "subprocess:getoutput"}], ToolPolicy.cluster())
    assert found == [
        "spec.tools[0].function: 'subprocess:getoutput' is not allowed by the platform tool "
        "policy (allowedFunctions: none; patterns are pkg.module:function, pkg.module:*, "
        "pkg.* or *)"
    ]


def test_allowed_tools_pass() -> None:
    policy = ToolPolicy(allowed_functions=["agent_runtime.tools.library:*"])
    tools = [
        {"name": "calc", "function": "agent_runtime.tools.library:calculate"},
        {"name": "web", "httpGet": {"allow": ["https://docs.python.org/3/"]}},
        {"name": "remote", "mcp": {"url": "https://mcp.example.com/mcp"}},
    ]
    assert lines(tools, policy) == []
    assert lines(tools, ToolPolicy.local()) == []


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        (
            "http://169.254.169.254/mcp",
            "169.254.169.254 is a cloud metadata address: always refused",
        ),
        ("http://metadata.google.internal/mcp", "a cloud metadata address: always refused"),
        ("http://[fe80::1]/mcp", "a link-local address: always refused"),
        ("http://0.0.0.0:8080/mcp", "an unspecified address"),
        ("http://127.0.0.1:8080/mcp", "a loopback address: refused unless"),
        ("http://2130706433:8080/mcp", "127.0.0.1 is a loopback address"),
        ("http://localhost:8080/mcp", "localhost is a loopback address"),
        ("http://10.0.0.5/mcp", "a private or cluster-internal address: refused unless"),
        ("ftp://example.com/mcp", "scheme 'ftp' is not http or https"),
        ("http://user:pw@example.com/mcp", "user info"),
    ],
)
def test_mcp_urls(url: str, rule: str) -> None:
    found = lines([{"name": "remote", "mcp": {"url": url}}], ToolPolicy.cluster())
    assert len(found) == 1
    assert found[0].startswith(f"spec.tools[0].mcp.url: '{url}' is refused: ")
    assert rule in found[0]


def test_names_are_not_resolved_at_admission() -> None:
    assert (
        lines([{"name": "r", "mcp": {"url": "http://tools.svc/mcp"}}], ToolPolicy.cluster()) == []
    )


def test_an_in_cluster_server_named_in_egress_allow_is_admitted() -> None:
    policy = ToolPolicy(egress_allow=["https://docs.example.com/", "http://10.0.0.5:8080/"])
    assert lines([{"name": "r", "mcp": {"url": "http://10.0.0.5:8080/mcp"}}], policy) == []
    found = lines([{"name": "r", "mcp": {"url": "https://other.example.com/mcp"}}], policy)
    assert found == [
        "spec.tools[0].mcp.url: 'https://other.example.com/mcp' is refused: not under the "
        "platform's egress allow-list (egressAllow: https://docs.example.com/, "
        "http://10.0.0.5:8080/)"
    ]


def test_http_get_allow_prefixes() -> None:
    policy = ToolPolicy(egress_allow=["https://docs.example.com/api"])
    tools = [
        {
            "name": "web",
            "httpGet": {
                "allow": [
                    "https://docs.example.com/api/v1",
                    "https://docs.example.com/",
                    "https://evil.example.com/",
                ]
            },
        },
        {"name": "web2", "httpGet": {"allow": ["http://169.254.169.254/latest/"]}},
    ]
    found = lines(tools, policy)
    assert found[0].startswith(
        "spec.tools[0].httpGet.allow[1]: 'https://docs.example.com/' is not within the "
        "platform's egress allow-list"
    )
    assert found[1].startswith("spec.tools[0].httpGet.allow[2]: ")
    assert found[2].startswith("spec.tools[1].httpGet.allow[0]: ")
    assert len(found) == 3
    metadata = lines(tools[1:], ToolPolicy.local())
    assert metadata == [
        "spec.tools[0].httpGet.allow[0]: 'http://169.254.169.254/latest/' is refused: "
        "169.254.169.254 is a cloud metadata address: always refused"
    ]
