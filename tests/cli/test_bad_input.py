"""Bad input gets one clear line per problem, exit status 2, no traceback, and nothing stored."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, EXAMPLES

LINEAR = EXAMPLES / "01-linear-chain" / "workflow.yaml"


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def broken(tmp_path: Path, text: str) -> str:
    path = tmp_path / "workflow.yaml"
    path.write_text(text)
    return str(path)


def store_file(env: dict[str, str]) -> Path:
    return Path(env["CONFIGURABLE_AGENTS_STORE"].removeprefix("sqlite:///"))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda t: t.replace(
                "  nodes:\n", "  nodes:\n    - {name: x, type: llm, promt: hi}\n", 1
            ),
            "spec.nodes[0].promt: unknown field",
        ),
        (
            lambda t: t.replace("{from: research, to: write}", "{from: research, to: wirte}"),
            "spec.edges[1].to: unknown node 'wirte'; did you mean 'write'?",
        ),
        (
            lambda t: t.replace("topic: {type: string}", "topic: {type: strin}"),
            "spec.state.topic.type",
        ),
        (lambda t: t + "\n  limits: {maxSteps: lots}\n", "spec.limits.maxSteps"),
        (
            lambda t: t.replace("List the key facts about {{ topic }}.", "{{ topik }}"),
            "spec.nodes[0].prompt: template names 'topik' is not a declared state field; did you mean 'topic'?",
        ),
        (
            lambda t: t.replace(
                "metadata:\n  name: linear-chain", "metadata:\n  name: Linear_Chain"
            ),
            "metadata.name",
        ),
        (lambda t: t.replace("  input: [topic]", "  input: [topic\n"), "invalid YAML: line"),
    ],
    ids=[
        "unknown-field",
        "unknown-node",
        "wrong-type",
        "not-an-int",
        "template",
        "bad-name",
        "yaml",
    ],
)
def test_invalid_workflow_file(
    mutate, expected: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    path = broken(tmp_path, mutate(LINEAR.read_text()))
    for verb in (["run", path, "-i", "topic=x"], ["validate", path]):
        done = run_cli(verb, cli_env)
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr
        assert "Traceback" not in done.stderr
        assert done.stdout == ""
        assert all(line.startswith("error: ") for line in done.stderr.splitlines())
    assert not store_file(cli_env).exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-i", "topik=x"], "input.topik: not an input of this workflow (inputs: topic)"),
        ([], "input.topic: required"),
        (["-i", "topic"], "--input 'topic': expected key=value"),
        (["--input-json", "{bad"], "--input-json: invalid JSON"),
        (["--input-json", "[1]"], "--input-json: expected a JSON object"),
        (["--input-json", '{"topic": 3}'], "input.topic: expected string, got integer"),
    ],
)
def test_bad_input_writes_nothing(args: list[str], expected: str, cli_env: dict[str, str]) -> None:
    done = run_cli(["run", str(LINEAR), *args], cli_env)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert not store_file(cli_env).exists()


def test_typed_input_parsing(tmp_path: Path, cli_env: dict[str, str]) -> None:
    text = (
        (EXAMPLES / "02-router-loop" / "workflow.yaml")
        .read_text()
        .replace("input: [topic]", "input: [topic, score]")
    )
    path = broken(tmp_path, text)
    done = run_cli(["run", path, "-i", "topic=x", "-i", "score=high"], cli_env)
    assert done.returncode == 2
    assert "--input score: expected integer, got 'high'" in done.stderr
    assert run_cli(["run", path, "-q", "-i", "topic=x", "-i", "score=3"], cli_env).returncode == 0


def test_missing_file_and_unknown_run(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = run_cli(["run", str(tmp_path / "nope.yaml")], cli_env)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file"
    for verb in (
        ["runs", "show", "run-missing"],
        ["runs", "resume", "run-missing"],
        ["runs", "cancel", "run-missing"],
    ):
        done = run_cli(verb, cli_env)
        assert done.returncode == 2, verb
        assert done.stderr.strip() == "error: run 'run-missing' not found"


def test_bad_store_url_is_one_line(cli_env: dict[str, str]) -> None:
    done = run_cli(["run", str(LINEAR), "-i", "topic=x", "--store", "mysql://db/x"], cli_env)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: store: unsupported store URL 'mysql://db/x'")
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(cli_env: dict[str, str]) -> None:
    done = run_cli(
        ["--debug", "run", str(LINEAR), "-i", "topic=x", "--store", "mysql://db/x"], cli_env
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr


def test_several_workflows_in_one_file(tmp_path: Path, cli_env: dict[str, str]) -> None:
    one = LINEAR.read_text()
    two = one.replace("name: linear-chain", "name: second-chain")
    agentpool = (EXAMPLES / "01-linear-chain" / "agentpool.yaml").read_text()
    path = broken(tmp_path, "\n---\n".join([one, agentpool, two]))
    done = run_cli(["run", path, "-i", "topic=x"], cli_env)
    assert done.returncode == 2
    assert "choose one with --workflow" in done.stderr
    done = run_cli(["run", path, "--workflow", "second-chain", "-i", "topic=x"], cli_env)
    assert done.returncode == 0, done.stderr
    assert "default/second-chain" in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["serve", "--port", "0", "--store", "mysql://u:pw@db/x"],
            "error: store: unsupported store URL 'mysql://u:***@db/x'",
        ),
        (
            ["serve", "--port", "0", "--kubernetes", "--insecure-no-auth"],
            "error: no Kubernetes credentials",
        ),
        (["serve", "--port", "0", "--auth", "kubernetes"], "error: no Kubernetes credentials"),
        (
            ["operator", "--metrics-port", "0", "--health-port", "0"],
            "error: no Kubernetes credentials",
        ),
    ],
    ids=["serve-bad-store", "serve-no-cluster", "serve-auth-no-cluster", "operator-no-cluster"],
)
def test_servers_that_cannot_start_say_why_in_one_line(
    args: list[str], expected: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "KUBECONFIG": str(tmp_path / "missing-kubeconfig")}
    done = run_cli(args, env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(expected), done.stderr
    assert "Traceback" not in done.stderr and "pw@" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--host", "0.0.0.0"], "host 0.0.0.0 is not a loopback address"),
        (["--kubernetes"], "kubernetes is set"),
        (["--auth", "ldap"], "auth.0: Input should be 'kubernetes' or 'oidc'"),
        (["--auth", "oidc"], "auth oidc needs oidc_issuer_url and oidc_audience"),
        (
            ["--auth", "oidc", "--oidc-issuer-url", "http://idp.example", "--oidc-audience", "x"],
            "oidc_issuer_url: must be an https:// URL",
        ),
        (["--auth", "kubernetes", "--insecure-no-auth"], "insecure_no_auth contradicts auth"),
    ],
    ids=["public-bind", "cluster", "unknown-mode", "oidc-half", "oidc-http", "both"],
)
def test_serve_refuses_to_run_unauthenticated_where_others_can_reach_it(
    args: list[str], expected: str, cli_env: dict[str, str]
) -> None:
    """Exit 2 with one line naming the setting, before any port is opened."""
    done = run_cli(["serve", "--port", "0", *args], cli_env)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "Error: :" not in done.stderr  # a rule over several settings names no empty field


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("notaurl", "expected an http:// or https:// URL"),
        ("http://admin:secret@127.0.0.1:8000", "may not hold credentials"),
    ],
)
def test_ui_refuses_a_gateway_url_it_cannot_use(
    url: str, expected: str, cli_env: dict[str, str]
) -> None:
    done = run_cli(["ui", "--gateway", url, "--port", "0"], cli_env)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "--gateway" in done.stderr
    assert "secret" not in done.stderr and "Traceback" not in done.stderr
