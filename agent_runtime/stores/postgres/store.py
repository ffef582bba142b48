"""The PostgreSQL store: each concern of the interface from its module, on one connection pool.

A durable step is one pipelined transaction: the store's own LangGraph saver (``checkpoints``)
writes the checkpoint with the step records and events the engine deferred to it.
"""

from __future__ import annotations

from agent_runtime.stores.postgres.checkpoints import PostgresCheckpoints
from agent_runtime.stores.postgres.events import PostgresEvents
from agent_runtime.stores.postgres.leases import PostgresLeases
from agent_runtime.stores.postgres.records import PostgresRuns
from agent_runtime.stores.postgres.retention import PostgresRetention
from agent_runtime.stores.postgres.threads import PostgresThreads


class PostgresStore(
    PostgresRuns,
    PostgresEvents,
    PostgresLeases,
    PostgresCheckpoints,
    PostgresRetention,
    PostgresThreads,
):
    """Run records, steps, events, leases, checkpoints and threads in ``ca_*`` tables."""
