"""Everything a run store holds, as text, read past the store's own code.

The secrets test searches this for canaries, so it must not go through the store's readers
(which could hide what they do not decode): SQLite's files byte by byte (WAL included), every
row of every Postgres table, every DynamoDB item and S3 object of an ``s3://`` store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import psycopg
from psycopg import sql


def _text(value: Any) -> str:
    """A value as text, binary decoded byte for byte (a canary in a blob still reads as itself)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | set):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def sqlite_dump(url: str) -> str:
    path = Path(urlsplit(url).path)
    files = sorted(path.parent.glob(f"{path.name}*"))
    assert files, f"no SQLite files at {path}"
    return "\n".join(f.read_bytes().decode("latin-1") for f in files)


def postgres_dump(url: str) -> str:
    out: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_type = 'BASE TABLE'"
        ).fetchall()
        assert tables, "the Postgres store has no tables"
        for schema, table in tables:
            rows = conn.execute(
                sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
            ).fetchall()
            out.append(f"== {schema}.{table}: {len(rows)} rows")
            out.extend(_text(list(row)) for row in rows)
    return "\n".join(out)


def s3_dump(url: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    options = {"region_name": query.get("region"), "endpoint_url": query.get("endpoint")}
    out: list[str] = []
    dynamodb = boto3.client("dynamodb", **options)
    for page in dynamodb.get_paginator("scan").paginate(TableName=query["table"]):
        out.extend(_text(item) for item in page["Items"])
    s3 = boto3.client("s3", **options)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=parts.netloc):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=parts.netloc, Key=entry["Key"])["Body"].read()
            out.append(f"== s3://{parts.netloc}/{entry['Key']}\n{_text(body)}")
    return "\n".join(out)


def dump(url: str) -> str:
    """All of the store at ``url`` as one text."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return sqlite_dump(url)
    if scheme.startswith("postgres"):
        return postgres_dump(url)
    if scheme == "s3":
        return s3_dump(url)
    raise ValueError(f"no dump for store {url!r}")


__all__ = ["dump"]
