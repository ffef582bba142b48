"""The engine's side of a task answered as it is written (``agent.streaming`` on the agent).

An agent that streams answers 200 with NDJSON lines: pieces of the model's text, then the
result or the task's error. A stream that breaks or ends without either is an agent gone
mid-task (``AgentLost``), as a JSON answer that never came is today.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import ValidationError

from agent_runtime.executors import (
    TASK_STREAM_MEDIA_TYPE,
    AgentLost,
    OnDelta,
    PermanentTaskError,
    TaskDelta,
    TaskError,
    TaskNotStarted,
    TaskResult,
)


def is_stream(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith(TASK_STREAM_MEDIA_TYPE)


def refusal(url: str, status: int, code: str, message: str, retryable: str | None) -> TaskError:
    """The error an agent's non-200 answer (or a streamed error) stands for."""
    if code == "task_permanent":
        return PermanentTaskError(message)
    if code == "task_failed":
        return TaskError(message)
    if code == "task_not_started":
        return TaskNotStarted(message)
    what = f"{status} {code}" if code else str(status)
    if 400 <= status < 500 or retryable == "false":
        return PermanentTaskError(f"agent {url} refused the task ({what}): {message}")
    return TaskError(f"agent {url} answered {what}: {message}")


def _parsed(url: str, raw: str) -> dict[str, Any]:
    try:
        item = json.loads(raw)
    except ValueError:
        raise TaskError(f"agent {url} streamed a line that is not JSON: {raw[:100]!r}") from None
    if not isinstance(item, dict):
        raise TaskError(f"agent {url} streamed a line that is not an object: {raw[:100]!r}")
    return item


async def relay(url: str, response: httpx.Response, on_delta: OnDelta | None) -> TaskResult:
    """Tell ``on_delta`` each piece of the stream; the result at its end, or its error."""
    try:
        async for raw in response.aiter_lines():
            if not raw.strip():
                continue
            item = _parsed(url, raw)
            try:
                if "delta" in item:
                    delta = TaskDelta.model_validate(item["delta"])
                elif "result" in item:
                    return TaskResult.model_validate(item["result"])
                else:
                    error = item.get("error") or {}
                    code, message = str(error.get("code", "")), str(error.get("message", ""))
                    raise refusal(url, 503, code, message, None)
            except (ValidationError, AttributeError):
                raise TaskError(f"agent {url} streamed a malformed line: {raw[:100]!r}") from None
            if on_delta is not None:
                await on_delta(delta)
    except httpx.HTTPError as exc:
        raise AgentLost(
            f"agent {url} went away during the task: {type(exc).__name__}: {exc}"
        ) from exc
    raise AgentLost(f"agent {url} ended the task's stream without its result")
