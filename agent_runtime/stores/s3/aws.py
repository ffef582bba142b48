"""boto3 clients for one store, a bounded thread pool to run them in, and one-line errors.

boto3 is synchronous: every store operation runs as one sync function on the pool, so the event
loop never blocks and an operation of several AWS calls costs one thread hop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.s3.config import S3Url

#: Threads (and pooled HTTP connections per client) of one store.
POOL_SIZE = 16

P = ParamSpec("P")
T = TypeVar("T")

#: Driver errors that mean "the service is not reachable right now".
CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class Aws:
    """The DynamoDB and S3 clients of one store URL."""

    def __init__(self, url: S3Url) -> None:
        self.url = url
        session = boto3.session.Session(region_name=url.region)
        config = botocore.config.Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=POOL_SIZE,
            s3={"addressing_style": "path"} if url.path_style else {},
        )
        try:
            self.dynamodb: Any = session.client(
                "dynamodb", endpoint_url=url.endpoint, config=config
            )
            self.s3: Any = session.client("s3", endpoint_url=url.endpoint, config=config)
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(self.explain(exc, "cannot open")) from None
        self._pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="s3-store")

    def explain(self, exc: BaseException, doing: str) -> str:
        """One line about a driver error; botocore's messages never hold the secret key."""
        where = f"the S3/DynamoDB store at {self.url.shown}"
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            detail = (
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, or run with an instance or pod role"
            )
        elif isinstance(exc, botocore.exceptions.NoRegionError):
            detail = "no AWS region: add region=... to the URL or set AWS_REGION"
        elif isinstance(exc, CONNECTION_ERRORS):
            detail = f"cannot reach the service: {exc}"
        elif isinstance(exc, botocore.exceptions.ClientError):
            err = exc.response.get("Error", {})
            detail = f"{err.get('Code', 'error')}: {err.get('Message', '')}".rstrip(": ")
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return " ".join(f"{doing} {where}: {detail}".split())

    def guard(self, fn: Callable[P, T], doing: str = "error from") -> Callable[P, T]:
        """``fn`` with driver errors turned into one-line StoreErrors."""

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise StoreError(self.explain(exc, doing)) from None

        return guarded

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a sync operation on the pool; driver errors become StoreErrors."""
        call = functools.partial(self.guard(fn), *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def run_doing(self, doing: str, fn: Callable[[], T]) -> T:
        """Like ``run``, with ``doing`` ("cannot open", ...) leading the error message."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.guard(fn, doing))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for client in (self.dynamodb, self.s3):
            client.close()
