"""Choosing a store backend by URL (the backends are imported only when chosen)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from agent_runtime.stores.base import RunStore
from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.retries import Faults, with_retries
from agent_runtime.stores.url import hide_password

ENV_VAR = "CONFIGURABLE_AGENTS_STORE"
DEFAULT_URL = "sqlite:///.configurable-agents/runs.db"


def default_url() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_URL


def open_store(url: str | None = None) -> RunStore:
    """A store for ``url`` (not yet opened: use ``async with``), its calls tried again where
    that is safe (``retries``)."""
    return with_retries(_backend(url or default_url()), Faults.from_env())


def _backend(url: str) -> RunStore:
    try:
        scheme = urlsplit(url).scheme
    except ValueError as exc:
        raise StoreError(f"invalid store URL: {exc}") from None
    if scheme == "sqlite":
        from agent_runtime.stores.sqlite import SqliteStore

        # sqlite:///runs.db is relative to the working directory, sqlite:////abs/runs.db absolute
        path = (
            url.split("?", 1)[0].removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
        )
        if not path:
            raise StoreError(
                f"invalid store URL {hide_password(url)!r}: expected sqlite:///path/to/runs.db"
            )
        return SqliteStore(Path(path), url=url)
    if scheme in ("postgres", "postgresql"):
        try:
            from agent_runtime.stores.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(f"the postgres store is not available: {exc}") from None
        store: RunStore = PostgresStore(url)
        return store
    if scheme == "s3":
        try:
            from agent_runtime.stores.s3 import S3Store
        except ImportError as exc:
            raise StoreError(f"the s3 store is not available: {exc}") from None
        store = S3Store(url)
        return store
    raise StoreError(
        f"unsupported store URL {hide_password(url)!r}: "
        "expected sqlite:///path.db, postgresql://... or s3://bucket/prefix"
    )
