"""The policy from the environment or a file: presets, precedence, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runtime.policy import PolicyError, ToolPolicy, load_policy, policy_from

P = "CONFIGURABLE_AGENTS_POLICY_"


def test_presets() -> None:
    assert load_policy({}) == ToolPolicy.cluster()
    assert load_policy({}, default="local") == ToolPolicy.local()
    cluster, local = ToolPolicy.cluster(), ToolPolicy.local()
    assert (cluster.allowed_functions, cluster.allow_loopback, cluster.allow_private) == (
        [],
        False,
        False,
    )
    assert (local.allowed_functions, local.allow_loopback, local.allow_private) == (
        ["*"],
        True,
        False,
    )
    assert cluster.egress_allow == local.egress_allow == ["*"]


def test_the_environment_overrides_the_preset() -> None:
    policy = load_policy(
        {
            f"{P}PRESET": "cluster",
            f"{P}ALLOWED_FUNCTIONS": "acme.tools.*, agent_runtime.tools.library:calculate",
            f"{P}EGRESS_ALLOW": "https://docs.example.com/, http://mcp.tools.svc:8080/mcp",
            f"{P}ALLOW_PRIVATE": "true",
        },
        default="local",
    )
    assert policy.allowed_functions == ["acme.tools.*", "agent_runtime.tools.library:calculate"]
    assert policy.egress_allow == ["https://docs.example.com/", "http://mcp.tools.svc:8080/mcp"]
    assert (policy.allow_loopback, policy.allow_private) == (False, True)


def test_lists_may_be_json() -> None:
    policy = load_policy({f"{P}ALLOWED_FUNCTIONS": '["a.b:c", "d.*"]'})
    assert policy.allowed_functions == ["a.b:c", "d.*"]


def test_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(
        "preset: local\nallowedFunctions: [acme.tools.*]\negressAllow: ['*']\nallowPrivate: true\n"
    )
    policy = load_policy({f"{P}FILE": str(file), f"{P}ALLOW_LOOPBACK": "false"})
    assert policy.allowed_functions == ["acme.tools.*"]
    assert (policy.allow_loopback, policy.allow_private) == (False, True)
    # The variable's preset wins over the file's.
    strict = load_policy({f"{P}FILE": str(file), f"{P}PRESET": "cluster"})
    assert strict.allow_loopback is False and strict.allow_private is True


def test_json_file(tmp_path: Path) -> None:
    file = tmp_path / "policy.json"
    file.write_text('{"allowedFunctions": ["a.b:c"]}')
    assert policy_from(file=file).allowed_functions == ["a.b:c"]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({f"{P}PRESET": "laptop"}, f"{P}PRESET: expected local or cluster, got 'laptop'"),
        (
            {f"{P}ALLOWED_FUNCTIONS": "pkg*"},
            f"{P}ALLOWED_FUNCTIONS: 'pkg*' is not a function pattern",
        ),
        (
            {f"{P}EGRESS_ALLOW": "ftp://example.com/"},
            f"{P}EGRESS_ALLOW: 'ftp://example.com/' is not * or a URL prefix",
        ),
        ({f"{P}ALLOW_LOOPBACK": "maybe"}, f"{P}ALLOW_LOOPBACK: Input should be a valid boolean"),
        ({f"{P}FILE": "/nonexistent/policy.yaml"}, "/nonexistent/policy.yaml: cannot read it"),
    ],
)
def test_mistakes_are_one_line_naming_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(environ)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("allowedFunction: [a.b:c]\n", "allowedFunction: unknown setting"),
        ("allowedFunctions: [pkg*]\n", "allowedFunctions: 'pkg*' is not a function pattern"),
        ("preset: laptop\n", "preset: expected local or cluster"),
        ("- a\n", "expected a mapping of policy settings"),
        ("allowLoopback: [\n", "not YAML or JSON"),
    ],
)
def test_file_mistakes_name_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy({f"{P}FILE": str(file)})
    assert str(caught.value).startswith(f"{file}: {message}")
    assert "\n" not in str(caught.value)
