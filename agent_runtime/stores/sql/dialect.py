"""How the SQL stores' two dialects differ: placeholders, column types, JSON access."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dialect:
    """How one SQL backend spells what the checkpoint tables need."""

    #: A positional placeholder.
    mark: str
    #: Key columns (compared and ordered; Postgres compares them bytewise, as SQLite does).
    key: str
    blob: str
    json: str
    create: str

    #: The username of a run's creator, from its record.
    creator: str
    #: A run's record as JSON text.
    record: str
    #: Whether ``one_of`` takes the values as one array argument (else one placeholder each).
    arrays: bool

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition that ``column`` is one of ``values``, and its arguments."""
        if self.arrays:
            return f"{column} = ANY({self.mark})", [list(values)]
        return f"{column} IN ({self.marks(len(values))})", list(values)


SQLITE = Dialect(
    mark="?",
    key="TEXT",
    blob="BLOB",
    json="TEXT",
    create="CREATE TABLE IF NOT EXISTS",
    creator="json_extract(record, '$.created_by.username')",
    record="record",
    arrays=False,
)
POSTGRES = Dialect(
    mark="%s",
    key='TEXT COLLATE "C"',
    blob="BYTEA",
    json="JSONB",
    create="CREATE TABLE",
    creator="record->'created_by'->>'username'",
    record="record::text AS record",
    arrays=True,
)
