"""The Ollama native chat API as the wire server speaks it: NDJSON streams and plain answers."""

import json
from typing import Any

from starlette.responses import Response

from tests.providers.wire_replies import Calls, Reply, prompt_tokens, reply_text, text_pieces, words


def ollama_response(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    if isinstance(reply, Calls):
        message["tool_calls"] = [
            {"function": {"index": i, "name": name, "arguments": args}}
            for i, (name, args) in enumerate(reply.calls)
        ]
    else:
        message["content"] = reply_text(reply)
    return {
        "model": body.get("model", ""),
        "created_at": "2026-01-01T00:00:00.000000Z",
        "message": message,
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "load_duration": 10,
        "prompt_eval_count": prompt_tokens("ollama", body),
        "prompt_eval_duration": 100,
        "eval_count": words(reply_text(reply)),
        "eval_duration": 800,
    }


def ollama_ndjson(answer: dict[str, Any]) -> Response:
    """The streamed form: a chunk per word, then the final chunk (no text) with the counts."""
    chunks = []
    for word in text_pieces(answer["message"]["content"]):
        chunk = {k: answer[k] for k in ("model", "created_at")}
        chunks.append({**chunk, "message": {"role": "assistant", "content": word}, "done": False})
    chunks.append({**answer, "message": {**answer["message"], "content": ""}})
    text = "".join(json.dumps(c) + "\n" for c in chunks)
    return Response(text, media_type="application/x-ndjson")
