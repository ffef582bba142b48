"""The ``s3://bucket/prefix?table=name&region=...`` store URL, taken apart and checked.

Credentials never belong in the URL: they come from the standard AWS chain (environment,
profiles, instance or pod roles). A URL carrying them is refused with a message that names the
part and never repeats it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.retention import parse_age

DEFAULT_TABLE = "configurable-agents"
#: Query parameters the URL may carry.
KNOWN = ("table", "region", "endpoint", "retention")
#: Parameter names that look like credentials: refused without echoing their values.
_SECRET_NAME = re.compile(r"(secret|password|token|credential|access.?key|key.?id)", re.I)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass(frozen=True)
class S3Url:
    bucket: str
    prefix: str
    table: str
    region: str | None
    endpoint: str | None
    retention: timedelta | None

    @property
    def shown(self) -> str:
        """The URL as messages show it (it never holds a secret: those are refused)."""
        query = [f"table={self.table}"]
        if self.region:
            query.append(f"region={self.region}")
        if self.endpoint:
            query.append(f"endpoint={self.endpoint}")
        path = f"/{self.prefix}" if self.prefix else ""
        return f"s3://{self.bucket}{path}?{'&'.join(query)}"

    def object_key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    @property
    def path_style(self) -> bool:
        """Custom endpoints (moto, MinIO, LocalStack) want path-style bucket addressing."""
        return bool(
            self.endpoint
            or os.environ.get("AWS_ENDPOINT_URL")
            or os.environ.get("AWS_ENDPOINT_URL_S3")
        )


def parse_s3_url(url: str) -> S3Url:
    """Parse and check a store URL; every problem is a StoreError naming the part."""
    scheme = url.split("://", 1)[0]

    def invalid(detail: str) -> StoreError:
        return StoreError(f"invalid store URL (s3://...): {detail}")

    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    if scheme != "s3":
        raise invalid("expected s3://bucket/prefix?table=name&region=...")
    if "@" in parts.netloc:
        raise invalid(
            "credentials do not belong in the URL (the part before '@'); "
            "give them through the AWS credential chain (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance or pod role)"
        )
    bucket = parts.netloc
    if not _BUCKET.match(bucket):
        raise invalid(
            f"bucket {bucket!r}: expected 3-63 lowercase letters, digits, dots and hyphens"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    for name, _ in query:
        if _SECRET_NAME.search(name):
            raise invalid(
                f"query parameter {name!r}: credentials do not belong in the URL; give them "
                "through the AWS credential chain (environment, profile or role)"
            )
        if name not in KNOWN:
            raise invalid(f"unknown query parameter {name!r} (known: {', '.join(KNOWN)})")
    values = dict(query)
    table = values.get("table") or DEFAULT_TABLE
    if not _TABLE.match(table):
        raise invalid(f"table {table!r}: expected 3-255 letters, digits, '_', '-' and '.'")
    endpoint = values.get("endpoint") or None
    if endpoint is not None:
        ep = urlsplit(endpoint)
        if ep.scheme not in ("http", "https") or not ep.netloc:
            raise invalid(f"endpoint {endpoint!r}: expected http(s)://host[:port]")
        if "@" in ep.netloc:
            raise invalid("endpoint: credentials do not belong in the URL")
    retention: timedelta | None = None
    if values.get("retention"):
        try:
            retention = parse_age(values["retention"])
        except ValueError as exc:
            raise invalid(f"retention: {exc}") from None
    return S3Url(
        bucket=bucket,
        prefix=parts.path.strip("/"),
        table=table,
        region=values.get("region") or None,
        endpoint=endpoint,
        retention=retention,
    )
