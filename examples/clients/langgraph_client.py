"""The chat example (examples/06-chat) through `langgraph_sdk`, as against a LangGraph server.

    configurable-agents serve --workflows examples/   # in another terminal
    python examples/clients/langgraph_client.py

GATEWAY (default http://127.0.0.1:8000) and TOKEN (a bearer token; none on a loopback serve) say
where and as whom. Each Workflow is an assistant whose `graph_id` is `namespace/name`.
"""

from __future__ import annotations

import asyncio
import os

from langgraph_sdk import get_client

GATEWAY = os.environ.get("GATEWAY", "http://127.0.0.1:8000")
TOKEN = os.environ.get("TOKEN")


async def main() -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else None
    client = get_client(url=GATEWAY + "/langgraph", headers=headers)
    assistants = await client.assistants.search(graph_id="default/chat")
    print("assistant:", assistants[0]["graph_id"])
    thread = await client.threads.create()
    for text in ("What is 6 times 7?", "And again?"):
        ask = {"messages": [{"role": "user", "content": text}]}
        async for part in client.runs.stream(
            thread["thread_id"], "default/chat", input=ask, stream_mode="messages-tuple"
        ):
            if part.event == "messages":
                chunk, _ = part.data
                print(chunk.get("content", ""), end="", flush=True)
        print()
    state = await client.threads.get_state(thread["thread_id"])
    print("messages on the thread:", len(state["values"]["messages"]))


asyncio.run(main())
