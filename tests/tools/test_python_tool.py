"""PythonTool: schema from the signature, validation before the call, sync and async functions."""

from __future__ import annotations

import threading

import pytest

from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.python import PythonTool

SAMPLES = "tests.tools.sample_tools"


async def make(fn: str, **spec: object) -> PythonTool:
    tool = await PythonTool.create(ToolSpec(name="t", function=f"{SAMPLES}:{fn}", **spec))
    assert isinstance(tool, PythonTool)
    return tool


async def test_schema_and_description_from_signature_and_docstring() -> None:
    tool = await make("add")
    assert tool.description == "Add two integers."
    assert tool.parameters["type"] == "object"
    assert tool.parameters["properties"]["a"]["type"] == "integer"
    assert tool.parameters["properties"]["b"]["default"] == 1
    assert tool.parameters["required"] == ["a"]
    assert tool.parameters["additionalProperties"] is False


async def test_spec_description_wins() -> None:
    tool = await make("add", description="Sum.")
    assert tool.description == "Sum."


async def test_sync_function_runs_in_a_worker_thread() -> None:
    assert await (await make("add")).call({"a": 2, "b": 3}) == 5
    thread = await (await make("whoami")).call({})
    assert thread != threading.current_thread().name


async def test_async_function_and_annotated_description() -> None:
    tool = await make("slow_echo")
    assert tool.parameters["properties"]["text"]["description"] == "What to echo."
    assert await tool.call({"text": "hi", "delay": 0.01}) == "hi"


async def test_model_argument_and_model_result() -> None:
    tool = await make("distance")
    assert "json" in tool.parameters["properties"]  # a name BaseModel also has
    result = await tool.call({"point": {"x": 3, "y": -4}})
    assert result == {"manhattan": 7, "origin": {"x": 0, "y": 0}}


async def test_bad_arguments_are_named() -> None:
    tool = await make("add")
    with pytest.raises(ToolError) as caught:
        await tool.call({"a": "three", "c": 1})
    message = str(caught.value)
    assert "a" in message.split("bad arguments", 1)[1]
    assert "c" in message and "valid integer" in message
    assert not caught.value.retryable
    with pytest.raises(ToolError, match=r"point\.x"):
        await (await make("distance")).call({"point": {"x": "far"}})
    with pytest.raises(ToolError, match="bad arguments text"):
        await (await make("slow_echo")).call({})


async def test_positional_only_parameters() -> None:
    assert await (await make("positional")).call({"a": 1, "b": 2}) == [1, 2]


async def test_raising_function_becomes_tool_error() -> None:
    with pytest.raises(ToolError, match="raised ValueError: exploded: boom") as caught:
        await (await make("explode")).call({"reason": "boom"})
    assert caught.value.retryable  # the node retry policy decides
    with pytest.raises(ToolError, match="try again later") as caught:
        await (await make("flaky")).call({})
    assert caught.value.retryable


async def test_result_that_is_not_json() -> None:
    with pytest.raises(ToolError, match="cannot be turned into JSON"):
        await (await make("opaque")).call({})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests.tools.no_such_module:fn", "cannot import module 'tests.tools.no_such_module'"),
        (f"{SAMPLES}:missing", "has no attribute 'missing'"),
        (f"{SAMPLES}:NOT_CALLABLE", "is a int, not callable"),
        (f"{SAMPLES}:variadic", "\\*args or \\*\\*kwargs"),
    ],
)
async def test_import_problems_are_clear(path: str, expected: str) -> None:
    with pytest.raises(ToolError, match=expected) as caught:
        await ToolBox().get(ToolSpec(name="t", function=path))
    assert path.split(":")[0] in str(caught.value)


async def test_through_the_toolbox() -> None:
    box = ToolBox()
    spec = ToolSpec(name="add", function=f"{SAMPLES}:add")
    tool = await box.get(spec)
    assert tool is await box.get(spec)
    assert await tool.call({"a": 1}) == 2
    await box.aclose()
