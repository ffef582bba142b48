"""The workflow engine: compiles Workflows to LangGraph graphs and runs them durably.

Every step is checkpointed in the run store before the next one starts, so a run survives the
death of the process executing it.
"""

from agent_runtime.engine.compiler import CompiledWorkflow, compile_workflow
from agent_runtime.engine.dispatch import Dispatcher, LocalDispatcher
from agent_runtime.engine.errors import InputError, RunError
from agent_runtime.engine.runner import Engine

__all__ = [
    "CompiledWorkflow",
    "Dispatcher",
    "Engine",
    "InputError",
    "LocalDispatcher",
    "RunError",
    "compile_workflow",
]
