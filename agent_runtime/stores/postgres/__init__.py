"""The PostgreSQL run store (psycopg 3, async, one pool); each concern in its own module."""

from agent_runtime.stores.postgres.schema import MIGRATIONS
from agent_runtime.stores.postgres.store import PostgresStore

__all__ = ["MIGRATIONS", "PostgresStore"]
