"""Choosing a store backend by URL."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from agent_runtime.stores.base import RunStore, StoreError

ENV_VAR = "CONFIGURABLE_AGENTS_STORE"
DEFAULT_URL = "sqlite:///.configurable-agents/runs.db"


def default_url() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_URL


def open_store(url: str | None = None) -> RunStore:
    """A store for ``url`` (not yet opened: use ``async with``)."""
    url = url or default_url()
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from agent_runtime.stores.sqlite import SqliteStore

        # sqlite:///runs.db is relative to the working directory, sqlite:////abs/runs.db absolute
        path = url.split("?", 1)[0].removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
        if not path:
            raise StoreError(f"invalid store URL {url!r}: expected sqlite:///path/to/runs.db")
        return SqliteStore(Path(path), url=url)
    if scheme in ("postgres", "postgresql"):
        try:
            from agent_runtime.stores.postgres import PostgresStore  # type: ignore[import-not-found]
        except ImportError as exc:
            raise StoreError(f"the postgres store is not available: {exc}") from None
        return PostgresStore(url)  # type: ignore[no-any-return]
    if scheme == "s3":
        try:
            from agent_runtime.stores.s3 import S3Store  # type: ignore[import-not-found]
        except ImportError as exc:
            raise StoreError(f"the s3 store is not available: {exc}") from None
        return S3Store(url)  # type: ignore[no-any-return]
    raise StoreError(
        f"unsupported store URL {url!r}: expected sqlite:///path.db, postgresql://... or s3://bucket/prefix"
    )
