"""Function tools under the platform policy: refused on the path's text, before any import."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from agent_runtime.executors import NodeTask, PermanentTaskError, TaskExecutor
from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.python import PythonTool
from tests.tools import canary_log

CANARY = "tests.tools.canary_tool"
SAMPLES = "tests.tools.sample_tools"


@pytest.fixture(autouse=True)
def no_canary() -> Iterator[None]:
    sys.modules.pop(CANARY, None)
    canary_log.IMPORTED.clear()
    yield
    sys.modules.pop(CANARY, None)
    canary_log.IMPORTED.clear()


def assert_never_imported() -> None:
    assert CANARY not in sys.modules
    assert canary_log.IMPORTED == []


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    "allowed",
    [
        [],
        [f"{SAMPLES}:add"],
        [f"{SAMPLES}:*"],
        ["tests.tools.canary_tool:other"],
        ["tests.tools.canary_tool.*"],  # modules under it, not the module itself
        ["tests.toolsx.*", "agent_runtime.*"],
    ],
)
async def test_refused_function_is_never_imported(allowed: list[str]) -> None:
    policy = ToolPolicy(allowed_functions=allowed)
    spec = ToolSpec(name="canary", function=f"{CANARY}:run")
    with pytest.raises(ToolError) as through_box:
        await ToolBox(policy=policy).get(spec)
    with pytest.raises(ToolError) as direct:
        await PythonTool.create(spec, policy=policy)
    for caught in (through_box, direct):
        message = one_line(caught.value)
        assert "spec.tools[].function" in message
        assert f"'{CANARY}:run' is not allowed by the platform tool policy" in message
        assert "allowedFunctions" in message
        assert not caught.value.retryable
    assert_never_imported()


async def test_subprocess_getoutput_is_refused_by_the_cluster_preset() -> None:
    with pytest.raises(ToolError, match=r"allowedFunctions: none") as caught:
        await ToolBox(policy=ToolPolicy.cluster()).get(
            ToolSpec(name="x", function="subprocess:getoutput")
        )
    one_line(caught.value)


async def test_a_tool_task_with_a_refused_function_fails_permanently_in_one_line() -> None:
    executor = TaskExecutor(policy=ToolPolicy.cluster())
    task = NodeTask(
        run_id="r1",
        workflow="default/w",
        node="n",
        type="tool",
        tool=ToolSpec(name="canary", function=f"{CANARY}:run"),
    )
    with pytest.raises(PermanentTaskError) as caught:
        await executor.execute(task)
    assert "spec.tools[].function" in one_line(caught.value)
    await executor.aclose()
    assert_never_imported()


async def test_an_llm_task_offering_a_refused_function_fails_before_the_model_is_called() -> None:
    executor = TaskExecutor(policy=ToolPolicy.cluster())
    task = NodeTask(
        run_id="r1",
        workflow="default/w",
        node="n",
        type="llm",
        model={"provider": "scripted", "responses": [{"toolCalls": [{"name": "canary"}]}]},
        prompt="go",
        tools=[ToolSpec(name="canary", function=f"{CANARY}:run")],
    )
    with pytest.raises(PermanentTaskError, match="not allowed by the platform tool policy"):
        await executor.execute(task)
    await executor.aclose()
    assert_never_imported()


@pytest.mark.parametrize(
    "pattern", [f"{CANARY}:run", f"{CANARY}:*", "tests.tools.*", "tests.*", "*"]
)
async def test_allowed_functions_still_work(pattern: str) -> None:
    box = ToolBox(policy=ToolPolicy(allowed_functions=[pattern]))
    tool = await box.get(ToolSpec(name="canary", function=f"{CANARY}:run"))
    assert await tool.call({}) == "ran"
    assert canary_log.IMPORTED == [CANARY]
    await box.aclose()


async def test_module_wildcard_never_reaches_through_a_dotted_path() -> None:
    """``m:*`` allows m's own names, not ``m:os.system`` through a module m imported."""
    policy = ToolPolicy(allowed_functions=[f"{SAMPLES}:*"])
    with pytest.raises(ToolError, match="not allowed"):
        await ToolBox(policy=policy).get(ToolSpec(name="t", function=f"{SAMPLES}:asyncio.run"))
    tool = await ToolBox(policy=policy).get(ToolSpec(name="t", function=f"{SAMPLES}:add"))
    assert await tool.call({"a": 1}) == 2


async def test_allowed_tool_task_runs() -> None:
    executor = TaskExecutor(policy=ToolPolicy(allowed_functions=[f"{SAMPLES}:add"]))
    task = NodeTask(
        run_id="r1",
        workflow="default/w",
        node="n",
        type="tool",
        tool=ToolSpec(name="add", function=f"{SAMPLES}:add"),
        args={"a": 2, "b": 3},
    )
    assert (await executor.execute(task)).output == 5
    await executor.aclose()


async def test_the_environment_policy_applies_when_none_is_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFIGURABLE_AGENTS_POLICY_PRESET", "cluster")
    with pytest.raises(ToolError, match="allowedFunctions: none"):
        await ToolBox().get(ToolSpec(name="canary", function=f"{CANARY}:run"))
    monkeypatch.setenv("CONFIGURABLE_AGENTS_POLICY_ALLOWED_FUNCTIONS", f"{CANARY}:run")
    tool = await ToolBox().get(ToolSpec(name="canary", function=f"{CANARY}:run"))
    assert await tool.call({}) == "ran"


async def test_a_bad_policy_in_the_environment_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFIGURABLE_AGENTS_POLICY_ALLOWED_FUNCTIONS", "tests*")
    with pytest.raises(ToolError) as caught:
        await ToolBox().get(ToolSpec(name="canary", function=f"{CANARY}:run"))
    message = one_line(caught.value)
    assert message.startswith("platform tool policy: CONFIGURABLE_AGENTS_POLICY_ALLOWED_FUNCTIONS")
    assert "'tests*' is not a function pattern" in message
    assert_never_imported()
