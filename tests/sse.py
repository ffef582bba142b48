"""Reading (and writing) Server-Sent Events in tests, comments included (httpx-sse drops them,
and keep-alives are comments).

Each message is a block ended by a blank line; each line of it ``field: value`` (one space after
the colon is dropped); a comment line (``: text``) is the field ``""``; ``data`` lines join with
newlines, as the HTML standard reads them.
"""

from __future__ import annotations

import json
from typing import Any


def messages(body: str) -> list[dict[str, str]]:
    """Each message's fields, in the order sent; an unfinished last block is left out."""
    out: list[dict[str, str]] = []
    *blocks, _unfinished = body.replace("\r\n", "\n").replace("\r", "\n").split("\n\n")
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = (
                f"{fields[name]}\n{value}" if name == "data" and name in fields else value
            )
        out.append(fields)
    return out


def numbered(body: str) -> list[tuple[int, str]]:
    """(id, event) of each message that has an id: what a client can rejoin after."""
    return [(int(m["id"]), m.get("event", "message")) for m in messages(body) if "id" in m]


def message(data: Any, *, event: str | None = None, number: int | None = None) -> str:
    """One message as a server sends it: its id (``number``) and ``event`` when given, ``data``
    as JSON."""
    head = f"id: {number}\n" if number is not None else ""
    head += f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"
