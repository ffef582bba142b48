"""The ``google`` provider: Gemini through the ``google-genai`` SDK's async client.

Gemini 3 rejects a conversation whose function calls come back without the ``thought_signature``
the model attached to them, and ``ToolCall`` has no field for provider data, so the signature
rides along inside the (opaque to the engine) tool call id. Building the request and parsing the
answer are pure functions so they can be tested without a network.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator

import httpx
from google import genai
from google.genai import errors, types

from agent_runtime.providers.base import (
    ChatModel,
    ChatRequest,
    Completion,
    Delta,
    Message,
    ProviderError,
    StreamChunk,
    ToolCall,
    Usage,
    finish_text,
    without_secrets,
)
from agent_runtime.spec.workflow import ModelSpec

#: Separates a call id from the base64url thought signature appended to it.
SIGNATURE_MARK = "~sig~"
#: Ids we made up because the API gave none; they are not sent back.
SYNTHETIC_PREFIX = "gemini-call-"
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Connection-level exceptions of whichever HTTP stack the SDK was built with, and the
    timeouts among them (aiohttp's are ``TimeoutError``)."""
    timeouts: list[type[BaseException]] = [httpx.TimeoutException, TimeoutError]
    found: list[type[BaseException]] = [httpx.TransportError, TimeoutError, ConnectionError]
    try:
        import httpx2

        found.append(httpx2.TransportError)
        timeouts.append(httpx2.TimeoutException)
    except ImportError:
        pass
    try:
        import aiohttp

        found.append(aiohttp.ClientError)
    except ImportError:
        pass
    return tuple(found), tuple(timeouts)


_TRANSPORT_ERRORS, _TIMEOUT_ERRORS = _transport_errors()
_CAUGHT: tuple[type[BaseException], ...] = (errors.APIError, *_TRANSPORT_ERRORS)


def encode_call_id(call_id: str, signature: bytes | None) -> str:
    if not signature:
        return call_id
    return call_id + SIGNATURE_MARK + base64.urlsafe_b64encode(signature).decode("ascii")


def decode_call_id(encoded: str) -> tuple[str | None, bytes | None]:
    """The API's own call id (None if we made it up) and the thought signature, if any."""
    call_id, _, signature = encoded.partition(SIGNATURE_MARK)
    raw = base64.urlsafe_b64decode(signature) if signature else None
    return (None if call_id.startswith(SYNTHETIC_PREFIX) else call_id), raw


def build_contents(messages: list[Message]) -> tuple[str, list[types.Content]]:
    """The system instruction and the user/model turns, consecutive turns of a role merged."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    contents: list[types.Content] = []
    for m in messages:
        if m.role == "system":
            continue
        parts: list[types.Part] = []
        if m.role == "tool":
            call_id, _ = decode_call_id(m.tool_call_id or "")
            name = m.name or names.get(m.tool_call_id or "")
            if not name:
                raise ProviderError("google: a tool message needs the name of the tool it answers")
            response = types.FunctionResponse(id=call_id, name=name, response={"result": m.content})
            parts.append(types.Part(function_response=response))
        else:
            if m.content:
                parts.append(types.Part(text=m.content))
            for call in m.tool_calls:
                call_id, signature = decode_call_id(call.id)
                parts.append(
                    types.Part(
                        function_call=types.FunctionCall(
                            id=call_id, name=call.name, args=call.args
                        ),
                        thought_signature=signature,
                    )
                )
        role = "model" if m.role == "assistant" else "user"
        if contents and contents[-1].role == role and contents[-1].parts is not None:
            contents[-1].parts.extend(parts)
        elif parts:
            contents.append(types.Content(role=role, parts=parts))
    return system, contents


def build_request(
    spec: ModelSpec, request: ChatRequest
) -> tuple[list[types.Content], types.GenerateContentConfig]:
    """The ``contents`` and ``config`` for ``models.generate_content``."""
    system, contents = build_contents(request.messages)
    config = types.GenerateContentConfig(
        system_instruction=system or None,
        temperature=spec.temperature,
        max_output_tokens=spec.max_tokens,
    )
    if request.tools:
        config.tools = [
            types.Tool(
                function_declarations=[
                    # Our schemas are JSON Schema, which this field takes as is.
                    types.FunctionDeclaration(
                        name=t.name, description=t.description, parameters_json_schema=t.parameters
                    )
                    for t in request.tools
                ]
            )
        ]
    if request.output_schema is not None:
        config.response_mime_type = "application/json"
        config.response_json_schema = request.output_schema
    return contents, config


def parse_response(response: types.GenerateContentResponse, *, structured: bool) -> Completion:
    """The first candidate as a Completion; thoughts are left out of the text."""
    meta = response.usage_metadata
    usage = Usage()
    if meta is not None:
        usage = Usage(
            input_tokens=(meta.prompt_token_count or 0) + (meta.tool_use_prompt_token_count or 0),
            # Thinking tokens are billed as output.
            output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
        )
    completion = Completion(usage=usage, model=response.model_version or "")
    if not response.candidates:
        reason = response.prompt_feedback.block_reason if response.prompt_feedback else None
        raise ProviderError(
            f"google: no answer (blocked: {reason})" if reason else "google: no answer"
        )
    content = response.candidates[0].content
    texts: list[str] = []
    for i, part in enumerate((content.parts if content else None) or []):
        if part.function_call is not None:
            call = part.function_call
            call_id = encode_call_id(call.id or f"{SYNTHETIC_PREFIX}{i}", part.thought_signature)
            completion.tool_calls.append(
                ToolCall(id=call_id, name=call.name or "", args=dict(call.args or {}))
            )
        elif part.text and not part.thought:
            texts.append(part.text)
    text = "".join(texts)
    return finish_text(completion, text, structured=structured, provider="google")


def joined(chunks: list[types.GenerateContentResponse]) -> types.GenerateContentResponse:
    """The streamed chunks as one response: every part of the first candidate in order, and the
    usage and model version of the last chunk that has them."""
    parts = [part for chunk in chunks for part in _parts(chunk)]
    last = chunks[-1] if chunks else types.GenerateContentResponse()
    usage = next((c.usage_metadata for c in reversed(chunks) if c.usage_metadata), None)
    if not any(c.candidates for c in chunks):
        return last  # blocked: its prompt feedback says why
    return types.GenerateContentResponse(
        candidates=[types.Candidate(content=types.Content(role="model", parts=parts))],
        usage_metadata=usage,
        model_version=next((c.model_version for c in chunks if c.model_version), None),
    )


def _parts(chunk: types.GenerateContentResponse) -> list[types.Part]:
    content = chunk.candidates[0].content if chunk.candidates else None
    return list(content.parts or []) if content else []


def map_error(exc: BaseException, *, secrets: tuple[str | None, ...] = ()) -> ProviderError:
    """An SDK or transport error as a ProviderError, from the status and the API's text only.

    ``secrets`` are scrubbed as well, in case a proxy echoes the key back in its error body.
    """
    if isinstance(exc, errors.APIError):
        status = int(exc.code or 0)
        retryable = status in _RETRYABLE_STATUS or status >= 500
        message = without_secrets(f"google: HTTP {status}: {exc.message or exc.status}", *secrets)
        return ProviderError(message, retryable=retryable)
    if isinstance(exc, _TIMEOUT_ERRORS):
        return ProviderError("google: the request timed out", retryable=True)
    if isinstance(exc, _TRANSPORT_ERRORS):
        return ProviderError(f"google: connection failed: {type(exc).__name__}", retryable=True)
    return ProviderError(f"google: {type(exc).__name__}: {exc}")


def _keys() -> tuple[str | None, ...]:
    """The keys the SDK reads, whichever it took."""
    return os.environ.get("GOOGLE_API_KEY"), os.environ.get("GEMINI_API_KEY")


def _echoed(exc: BaseException) -> bool:
    """Whether the error's text holds a key: then it is kept out of tracebacks too."""
    return any(key and key in str(exc) for key in _keys())


def _error(exc: BaseException) -> ProviderError:
    return map_error(exc, secrets=_keys())


class GoogleModel(ChatModel):
    """One configured Gemini model; the client (key: GOOGLE_API_KEY or GEMINI_API_KEY, or Vertex
    AI through the SDK's own variables) is made on first use."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self._client: genai.Client | None = None

    def _get_client(self) -> genai.Client:
        if self._client is None:
            try:
                # The engine's retry policy decides about retries: one attempt, which also stops
                # the aiohttp transport's own hidden retry (a 1-10 s sleep) on connection errors.
                options = types.HttpOptions(
                    timeout=int(self.request_timeout * 1000),  # milliseconds
                    retry_options=types.HttpRetryOptions(attempts=1),
                )
                self._client = genai.Client(http_options=options)
            except ValueError as exc:  # no credentials in the environment
                raise ProviderError(f"google: {exc}") from None
        return self._client

    async def complete(self, request: ChatRequest) -> Completion:
        client = self._get_client()
        contents, config = build_request(self.spec, request)
        try:
            response = await client.aio.models.generate_content(
                model=self.spec.model,
                contents=contents,
                config=config,
            )
        except _CAUGHT as exc:
            raise _error(exc) from (None if _echoed(exc) else exc)
        return parse_response(response, structured=request.output_schema is not None)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """``streamGenerateContent``: each chunk's text as it comes, then the joined answer."""
        client = self._get_client()
        contents, config = build_request(self.spec, request)
        text, chunks = request.output_schema is None, []
        try:
            stream = await client.aio.models.generate_content_stream(
                model=self.spec.model, contents=contents, config=config
            )
            async for chunk in stream:
                chunks.append(chunk)
                piece = "".join(p.text for p in _parts(chunk) if p.text and not p.thought)
                if piece and text:
                    yield Delta(text=piece)
        except _CAUGHT as exc:
            raise _error(exc) from (None if _echoed(exc) else exc)
        yield parse_response(joined(chunks), structured=not text)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None
