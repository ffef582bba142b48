"""The Anthropic Messages API as the wire server speaks it: replies, SSE streams and errors."""

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.providers.wire_replies import (
    Calls,
    Reply,
    Structured,
    prompt_tokens,
    reply_text,
    sse_response,
    text_pieces,
    words,
)

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    kind = _ANTHROPIC_ERRORS.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_auth(request: Request, api_key: str | None) -> Response | None:
    if not request.headers.get("anthropic-version"):
        body = anthropic_error(400, "anthropic-version: header is required")
        return JSONResponse(body, status_code=400)
    given = {request.headers.get("x-api-key"), request.headers.get("authorization")}
    if api_key is not None and not given & {api_key, f"Bearer {api_key}"}:
        return JSONResponse(anthropic_error(401, "invalid x-api-key"), status_code=401)
    return None


def anthropic_message(body: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    stop = "end_turn"
    if isinstance(reply, Calls):
        for i, (name, args) in enumerate(reply.calls):
            content.append(
                {"type": "tool_use", "id": f"toolu_{number}_{i}", "name": name, "input": args}
            )
        stop = "tool_use"
    elif isinstance(reply, Structured) and body.get("tool_choice", {}).get("type") == "tool":
        # The adapter forces a tool whose input schema is the output schema.
        name = body["tool_choice"]["name"]
        content.append(
            {"type": "tool_use", "id": f"toolu_{number}", "name": name, "input": reply.value}
        )
        stop = "tool_use"
    else:
        content.append({"type": "text", "text": reply_text(reply)})
    return {
        "id": f"msg_{number:04d}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt_tokens("anthropic", body),
            "output_tokens": words(reply_text(reply)),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def anthropic_stream(message: dict[str, Any]) -> Response:
    """The Messages streaming events for a whole message: each block opened, sent in pieces
    (text word by word, tool input as partial JSON), closed; then the stop reason and usage."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events: list[tuple[str | None, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        opened: dict[str, Any]
        if block["type"] == "text":
            opened = {"type": "text", "text": ""}
            pieces = [{"type": "text_delta", "text": w} for w in text_pieces(block["text"])]
        else:
            opened = {**block, "input": {}}
            pieces = [{"type": "input_json_delta", "partial_json": w} for w in _halves(block)]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            )
        )
        for delta in pieces:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": stop,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return sse_response(events)


def _halves(block: dict[str, Any]) -> list[str]:
    encoded = json.dumps(block["input"])
    return [encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]]
