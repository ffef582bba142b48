"""The SQLite run store: one local file for run records and LangGraph checkpoints, a durable
step one transaction (``checkpoints``); each concern of the interface in its own module."""

from agent_runtime.stores.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
