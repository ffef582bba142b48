"""The run store: run records, steps, events, leases and LangGraph checkpoints behind one interface.

Backends are chosen by URL (``sqlite:///path.db``, ``postgresql://...``, ``s3://bucket/prefix``).
"""

from agent_runtime.stores.base import (
    Actor,
    Amount,
    Approval,
    InvalidTransition,
    RunEvent,
    RunNotFound,
    RunPage,
    RunRecord,
    RunStatus,
    RunStore,
    Spend,
    StepRecord,
    StepStatus,
    StoreError,
)
from agent_runtime.stores.url import open_store

__all__ = [
    "Actor",
    "Amount",
    "Approval",
    "InvalidTransition",
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
