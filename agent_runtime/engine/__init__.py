"""The workflow engine: compiles Workflows to LangGraph graphs and runs them durably.

Every step is checkpointed in the run store before the next one starts, so a run survives the
death of the process executing it. Names are imported on first use, so that light users of
``engine.errors`` or ``engine.state`` (the CLI's argument checks) do not load LangGraph.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_runtime.engine.compiler import CompiledWorkflow, compile_workflow
    from agent_runtime.engine.dispatch import Dispatcher, LocalDispatcher
    from agent_runtime.engine.errors import InputError, RunError
    from agent_runtime.engine.runner import Engine

_WHERE = {
    "CompiledWorkflow": "compiler",
    "compile_workflow": "compiler",
    "Dispatcher": "dispatch",
    "LocalDispatcher": "dispatch",
    "InputError": "errors",
    "RunError": "errors",
    "Engine": "runner",
}

__all__ = [
    "CompiledWorkflow",
    "Dispatcher",
    "Engine",
    "InputError",
    "LocalDispatcher",
    "RunError",
    "compile_workflow",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
