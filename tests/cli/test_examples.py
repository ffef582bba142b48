"""Every example runs to its expected output through the CLI, as a subprocess."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.conftest import CLI, EXAMPLES

CASES: list[tuple[str, list[str], dict[str, Any]]] = [
    (
        "01-linear-chain",
        ["--input", "topic=durable agents"],
        {
            "draft": "Brief: durable agents checkpoint every step, so a run survives any crash.",
            "sources": ["https://example.org/durable-execution"],
        },
    ),
    (
        "02-router-loop",
        ["--input", "topic=leases"],
        {"draft": "A second draft, tighter and clearer.", "score": 9, "revisions": 2},
    ),
    (
        "03-parallel-fan-out",
        ["--input-json", '{"topic": "leases"}'],
        {
            "findings": [
                "news: agents move to Kubernetes",
                "papers: checkpointing cuts recovery time",
                "web: durable execution is mainstream",
            ],
            "coverage": {"news": 1, "papers": 1, "web": 1},
            "summary": "Three sources agree: durable, checkpointed agents are moving to Kubernetes.",
        },
    ),
    (
        "05-tool-agent",
        ["--input", "question=what is six times seven"],
        {"answer": "42", "words": 5},
    ),
]


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("example", "args", "expected"), CASES, ids=[c[0] for c in CASES])
def test_example_runs_to_its_output(
    example: str, args: list[str], expected: dict[str, Any], cli_env: dict[str, str]
) -> None:
    done = run_cli(["run", str(EXAMPLES / example / "workflow.yaml"), *args], cli_env)
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    if "findings" in output:
        output["findings"] = sorted(output["findings"])
    assert output == expected
    assert "succeeded" in done.stderr and "Traceback" not in done.stderr


def test_every_example_has_a_case_and_an_agentpool() -> None:
    folders = sorted(p.name for p in EXAMPLES.iterdir() if (p / "workflow.yaml").exists())
    # the human approval and the chat example have tests of their own
    assert set(folders) - {"04-human-approval", "06-chat"} == {c[0] for c in CASES}
    for folder in folders:
        assert (EXAMPLES / folder / "agentpool.yaml").exists(), folder


def test_the_chat_example_continues_a_conversation(cli_env: dict[str, str]) -> None:
    """Prior messages in ``--input-json`` (LangGraph's form among them), the reply appended."""
    prior = [
        {"type": "human", "content": "Hi", "id": "m1"},
        {"role": "assistant", "content": "Hello! How can I help?", "id": "m2"},
        "What is 6 times 7?",
    ]
    chat = str(EXAMPLES / "06-chat" / "workflow.yaml")
    done = run_cli(["run", chat, "--input-json", json.dumps({"messages": prior})], cli_env)
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout)["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Hi"),
        ("assistant", "Hello! How can I help?"),
        ("user", "What is 6 times 7?"),
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "6 times 7 is 42."),
    ]
    assert [m["id"] for m in messages[:2]] == ["m1", "m2"]
    assert len({m["id"] for m in messages}) == 6
    assert messages[3]["toolCalls"] == [
        {"id": "call_0", "name": "calculate", "args": {"expression": "6 * 7"}}
    ]
    assert messages[4]["toolCallId"] == "call_0"
    # the output is the next turn's input, with a plain text as the next user message
    again = run_cli(
        ["run", chat, "-q", "--input-json", json.dumps({"messages": [*messages, "And 6 * 8?"]})],
        cli_env,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["messages"][:6] == messages
    # --input takes a plain text as one user message (JSON when it starts with [ or {)
    plain = run_cli(["run", chat, "-q", "-i", "messages=What is 6 times 7?"], cli_env)
    assert plain.returncode == 0, plain.stderr
    said = json.loads(plain.stdout)["messages"]
    assert (said[0]["role"], said[0]["content"], len(said)) == ("user", "What is 6 times 7?", 4)
    bad = run_cli(["run", chat, "--input-json", '{"messages": [{"role": "robot"}]}'], cli_env)
    assert bad.returncode == 2
    assert "input.messages[0].role: must be one of system, user, assistant, tool" in bad.stderr


def test_validate_and_graph(cli_env: dict[str, str]) -> None:
    files = sorted(str(p) for p in EXAMPLES.glob("*/*.yaml"))
    done = run_cli(["validate", *files], cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("is valid") == len(files)
    graph = run_cli(["graph", str(EXAMPLES / "02-router-loop" / "workflow.yaml")], cli_env)
    assert graph.returncode == 0
    assert graph.stdout.startswith("flowchart TD")
    assert "check -->|state.score #gt;= 8| __end__" in graph.stdout
    assert "check -->|otherwise| write" in graph.stdout


def test_runs_list_and_show(cli_env: dict[str, str]) -> None:
    for topic in ("a", "b", "c"):
        assert (
            run_cli(
                [
                    "run",
                    str(EXAMPLES / "01-linear-chain" / "workflow.yaml"),
                    "-q",
                    "-i",
                    f"topic={topic}",
                ],
                cli_env,
            ).returncode
            == 0
        )
    page = json.loads(run_cli(["runs", "list", "--json", "--limit", "2"], cli_env).stdout)
    assert len(page["items"]) == 2 and page["nextCursor"]
    rest = json.loads(
        run_cli(["runs", "list", "--json", "--cursor", page["nextCursor"]], cli_env).stdout
    )
    assert len(rest["items"]) == 1
    assert [r["input"]["topic"] for r in page["items"] + rest["items"]] == ["c", "b", "a"]
    shown = json.loads(run_cli(["runs", "show", page["items"][0]["id"]], cli_env).stdout)
    assert shown["status"] == "succeeded"
    assert [s["node"] for s in shown["steps"]] == ["research", "write"]
    assert all(s["inputTokens"] > 0 and s["status"] == "succeeded" for s in shown["steps"])
