"""A Postgres store URL taken apart: what libpq gets, what messages may show (never a password),
the pool's settings; and how driver errors read in one line.

``postgresql://user:password@host:5432/db?sslmode=require&pool_max=20``: query parameters
``pool_min`` (default 1), ``pool_max`` (default 10) and ``pool_timeout`` (seconds to wait for a
free connection, default 30) size the pool and are removed before connecting; every other one goes
to libpq. ``connect_timeout`` defaults to 10 seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import psycopg

from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.url import hide_password

POOL_PARAMS = ("pool_min", "pool_max", "pool_timeout")
DEFAULT_CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class PostgresUrl:
    """A store URL taken apart: what libpq gets, what messages may show, the pool settings."""

    shown: str
    conninfo: str
    secrets: tuple[str, ...]
    pool_min: int
    pool_max: int
    pool_timeout: float

    def scrub(self, text: str) -> str:
        return _scrub(text, self.secrets)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def parse_url(url: str) -> PostgresUrl:
    try:
        shown = hide_password(url)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        found = {parts.password, *(v for k, v in query if k == "password")}
    except ValueError as exc:
        shown = url.split("://", 1)[0] + "://..."
        raise StoreError(f"invalid store URL {shown!r}: {exc}") from None
    variants = {form for s in found if s for form in (s, quote(s, safe=""), unquote(s))}
    secrets = tuple(sorted(variants, key=len, reverse=True))  # longest first
    shown = _scrub(re.sub(r"([?&]password=)[^&#]*", r"\1***", shown), secrets)

    def invalid(detail: str) -> NoReturn:
        raise StoreError(_scrub(f"invalid store URL {shown!r}: {detail}", secrets))

    settings = {k: v for k, v in query if k in POOL_PARAMS}
    rest = [(k, v) for k, v in query if k not in POOL_PARAMS]
    if not any(k == "connect_timeout" for k, _ in rest):
        rest.append(("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT)))
    try:
        pool_min = int(settings.get("pool_min", 1))
        pool_max = int(settings.get("pool_max", max(10, pool_min)))
        pool_timeout = float(settings.get("pool_timeout", 30))
    except ValueError:
        invalid("pool_min and pool_max must be whole numbers, pool_timeout a number of seconds")
    if not 0 <= pool_min <= pool_max or pool_max < 1 or not pool_timeout > 0:
        invalid("expected 0 <= pool_min <= pool_max, pool_max >= 1 and pool_timeout > 0")
    conninfo = parts._replace(query=urlencode(rest)).geturl()
    try:
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        invalid(one_line(exc))
    return PostgresUrl(shown, conninfo, secrets, pool_min, pool_max, pool_timeout)


def one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:2]) or type(exc).__name__


def connection_lost(exc: BaseException) -> bool:
    """A broken connection (no SQLSTATE: client side) or the server going away (08, 57P)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate or ""
    return not state or state.startswith(("08", "57P"))
