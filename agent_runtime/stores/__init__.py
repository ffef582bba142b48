"""The run store: run records, steps, events, leases and LangGraph checkpoints behind one interface.

Backends are chosen by URL (``sqlite:///path.db``, ``postgresql://...``, ``s3://bucket/prefix``).
"""

from agent_runtime.stores.backends import open_store
from agent_runtime.stores.base import RunStore
from agent_runtime.stores.errors import InvalidTransition, LeaseLost, RunNotFound, StoreError
from agent_runtime.stores.records import (
    Actor,
    Amount,
    Approval,
    RunEvent,
    RunPage,
    RunRecord,
    RunStatus,
    Spend,
    StepRecord,
    StepStatus,
)

__all__ = [
    "Actor",
    "Amount",
    "Approval",
    "InvalidTransition",
    "LeaseLost",
    "RunEvent",
    "RunNotFound",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "Spend",
    "StepRecord",
    "StepStatus",
    "StoreError",
    "open_store",
]
