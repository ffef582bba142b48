"""The chat example (examples/06-chat) through the `openai` client, unchanged.

    configurable-agents serve --workflows examples/   # in another terminal
    python examples/clients/openai_chat.py

GATEWAY (default http://127.0.0.1:8000) and TOKEN (a bearer token; none on a loopback serve) say
where and as whom. The Workflow is the model `namespace/name`.
"""

from __future__ import annotations

import os
import uuid

import openai

GATEWAY = os.environ.get("GATEWAY", "http://127.0.0.1:8000")
client = openai.OpenAI(base_url=GATEWAY + "/openai/v1", api_key=os.environ.get("TOKEN", "none"))

print("models:", [m.id for m in client.models.list()])

# One turn, stateless: the request's messages are the conversation.
question = [{"role": "user", "content": "What is 6 times 7?"}]
answer = client.chat.completions.create(model="default/chat", messages=question)
print("answer:", answer.choices[0].message.content, "| tokens:", answer.usage.total_tokens)

# The same, streamed as the model writes it.
pieces = client.chat.completions.create(model="default/chat", messages=question, stream=True)
print("streamed:", "".join(c.choices[0].delta.content or "" for c in pieces if c.choices))

# A conversation kept on a thread: send the whole history, each message is added once.
thread = f"openai-example-{uuid.uuid4().hex[:8]}"
history: list[dict[str, str]] = []
for text in ("What is 6 times 7?", "And again?"):
    history.append({"role": "user", "content": text})
    reply = client.chat.completions.create(
        model="default/chat", messages=history, metadata={"thread_id": thread}
    )
    history.append({"role": "assistant", "content": reply.choices[0].message.content or ""})
print("thread", thread, "turns:", len(history) // 2)

# Errors are OpenAI's error object.
try:
    client.chat.completions.create(model="default/no-such-chat", messages=question)
except openai.NotFoundError as exc:
    print("unknown model:", exc.status_code, exc.body["code"] if isinstance(exc.body, dict) else "")
