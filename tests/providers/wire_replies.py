"""The scripted replies the wire servers give, and the word counts they report as tokens."""

import json
from dataclasses import dataclass
from typing import Any, Literal

from starlette.responses import Response

from tests.sse import message

Protocol = Literal["anthropic", "gemini", "ollama"]
#: The thought signature the Gemini server attaches to every function call and wants back.
SIGNATURE = b"sig-\x00\xff-opaque"


@dataclass(frozen=True)
class Calls:
    """The model asks for tool calls: ``(name, args)`` pairs; the server makes up the ids."""

    calls: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Structured:
    """A structured answer, in whatever form the protocol gives one (forced tool or JSON text)."""

    value: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    """An HTTP error in the protocol's error shape.

    ``echo_key`` puts the received credential into the error text, as a careless proxy might:
    tests use it to check that adapters scrub credentials.
    """

    status: int
    message: str = "scripted failure"
    retry_after: str | None = None
    echo_key: bool = False


@dataclass(frozen=True)
class Stall:
    """Answer ``"late"`` only after this many seconds (or when the server stops)."""

    seconds: float


Reply = str | Calls | Structured | Fail | Stall


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


def prompt_texts(value: Any) -> list[str]:
    """Every string under a ``text``/``content``/``system`` key, and tool-result payloads."""
    if isinstance(value, list):
        return [t for item in value for t in prompt_texts(item)]
    if not isinstance(value, dict):
        return []
    found: list[str] = []
    for key, item in value.items():
        if key in ("text", "content", "system") and isinstance(item, str):
            found.append(item)
        elif key in ("response", "input", "args", "arguments", "properties", "parameters"):
            continue  # structured payloads are not prompt text
        else:
            found.extend(prompt_texts(item))
    return found


def words(*texts: str) -> int:
    """The servers' token count: whitespace-separated words."""
    return sum(len(t.split()) for t in texts)


def prompt_tokens(protocol: Protocol, body: dict[str, Any]) -> int:
    part = {
        "anthropic": {"system": body.get("system"), "messages": body.get("messages")},
        "gemini": {"s": body.get("systemInstruction"), "c": body.get("contents")},
        "ollama": {"messages": body.get("messages")},
    }[protocol]
    return words(*prompt_texts(part))


def reply_text(reply: Reply) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, Structured):
        return json.dumps(reply.value)
    if isinstance(reply, Calls):
        return " ".join(json.dumps(args) for _, args in reply.calls)
    return "late"


def sse_response(events: list[tuple[str | None, dict[str, Any]]]) -> Response:
    """Server-sent events: ``event:`` lines when named (Anthropic), bare ``data:`` (Gemini)."""
    text = "".join(message(data, event=name) for name, data in events)
    return Response(text, media_type="text/event-stream")


def text_pieces(text: str) -> list[str]:
    """Word-sized pieces that join back to ``text``."""
    words_ = text.split(" ")
    return [w + " " for w in words_[:-1]] + [words_[-1]]
