"""The Gemini API as the wire server speaks it: thought signatures, SSE chunks and errors."""

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.providers.wire_replies import (
    SIGNATURE,
    Calls,
    Reply,
    prompt_tokens,
    reply_text,
    sse_response,
    text_pieces,
    words,
)

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error(status: int, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def gemini_auth(request: Request, api_key: str | None) -> Response | None:
    given = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if api_key is not None and given != api_key:
        # What the real API answers to a wrong key: 400, reason API_KEY_INVALID.
        detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        body = gemini_error(400, "API key not valid. Please pass a valid API key.", [detail])
        return JSONResponse(body, status_code=400)
    return None


def proto_field(message: dict[str, Any], name: str) -> Any:
    """A field of a Gemini request under its JSON name or its proto name, both of which the API's
    proto JSON accepts (SDK 3 sends ``parameters_json_schema`` in snake case)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return message[name] if name in message else message[snake]


def gemini_unsigned_call(body: dict[str, Any]) -> bool:
    """Gemini 3 rejects history whose function calls lost their thought signature."""
    for content in body.get("contents", []):
        if content.get("role") != "model":
            continue
        for part in content.get("parts", []):
            if "functionCall" in part and signature_of(part) != SIGNATURE:
                return True
    return False


def signature_of(part: dict[str, Any]) -> bytes | None:
    """A part's thought signature: proto JSON bytes, standard or URL-safe base64."""
    text = part.get("thoughtSignature", part.get("thought_signature"))
    if not isinstance(text, str):
        return None
    return base64.b64decode(text.replace("-", "+").replace("_", "/"))


def gemini_response(model: str, body: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if isinstance(reply, Calls):
        signature = base64.b64encode(SIGNATURE).decode()
        for name, args in reply.calls:
            parts.append(
                {"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}
            )
    else:
        parts.append({"text": reply_text(reply)})
    prompt, output = prompt_tokens("gemini", body), words(reply_text(reply))
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": f"{model}-001",
        "responseId": f"resp-{number}",
    }


def gemini_stream(response: dict[str, Any]) -> Response:
    """``streamGenerateContent?alt=sse``: one response chunk per text piece (function calls come
    whole), each a full GenerateContentResponse; the usage counts ride on the last."""
    candidate = response["candidates"][0]
    chunks: list[dict[str, Any]] = []
    for part in candidate["content"]["parts"]:
        pieces = [{"text": t} for t in text_pieces(part["text"])] if "text" in part else [part]
        for piece in pieces:
            content = {"role": "model", "parts": [piece]}
            chunks.append(
                {
                    "candidates": [{"content": content, "index": 0}],
                    "modelVersion": response["modelVersion"],
                }
            )
    chunks[-1]["candidates"][0]["finishReason"] = candidate["finishReason"]
    chunks[-1]["usageMetadata"] = response["usageMetadata"]
    return sse_response([(None, chunk) for chunk in chunks])
