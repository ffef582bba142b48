"""The workflow engine: compiles Workflows to LangGraph graphs and runs them durably.

Every step is checkpointed in the run store before the next one starts, so a run survives the
death of the process executing it. Importing the engine loads LangGraph: what needs only a
Workflow's input checked (the CLI's argument checks) takes it from ``spec.run_input``.

One run, top to bottom: ``Engine.create_run`` (runner) records it queued; ``Engine.execute``
checks it may run here and hands it to an ``Execution`` (execution), which starts it, streams
the compiled graph (compiler, nodes) with a ``RunContext`` (context) writing each step, keeps
its lease (leases) and settles it in the store where the graph stops.
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
