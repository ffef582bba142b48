"""The SQLite store: each concern of the interface from its module, on one connection."""

from __future__ import annotations

from agent_runtime.stores.sqlite.checkpoints import SqliteCheckpoints
from agent_runtime.stores.sqlite.events import SqliteEvents
from agent_runtime.stores.sqlite.leases import SqliteLeases
from agent_runtime.stores.sqlite.records import SqliteRuns
from agent_runtime.stores.sqlite.retention import SqliteRetention
from agent_runtime.stores.sqlite.threads import SqliteThreads


class SqliteStore(
    SqliteRuns, SqliteEvents, SqliteLeases, SqliteCheckpoints, SqliteRetention, SqliteThreads
):
    """Run records, steps, events, leases, checkpoints and threads in one local file (WAL)."""
