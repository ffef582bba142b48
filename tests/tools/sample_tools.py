"""Functions the PythonTool tests import by path (``tests.tools.sample_tools:NAME``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated

from pydantic import BaseModel, Field

from agent_runtime.tools.base import ToolError


class Point(BaseModel):
    x: int
    y: int = 0


class Distance(BaseModel):
    manhattan: int
    origin: Point


def add(a: int, b: int = 1) -> int:
    """Add two integers.

    The second defaults to one.
    """
    return a + b


def whoami() -> str:
    """The name of the thread running the call."""
    return threading.current_thread().name


async def slow_echo(
    text: Annotated[str, Field(description="What to echo.")], delay: float = 0
) -> str:
    """Echo the text back after a delay."""
    await asyncio.sleep(delay)
    return text


def distance(point: Point, json: bool = False) -> Distance:
    """Manhattan distance of a point from the origin."""
    return Distance(manhattan=abs(point.x) + abs(point.y), origin=Point(x=0, y=0))


def explode(reason: str) -> None:
    """Always raises."""
    raise ValueError(f"exploded: {reason}")


def flaky() -> None:
    raise ToolError("try again later", retryable=True)


def positional(a: int, /, b: int) -> list[int]:
    return [a, b]


def opaque() -> object:
    return object()


NOT_CALLABLE = 42


def variadic(*items: int) -> int:
    return sum(items)
