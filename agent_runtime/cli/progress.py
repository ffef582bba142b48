"""Live progress of a run on stderr: nodes as they start, retry and finish."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from agent_runtime.stores import RunEvent


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._started: dict[tuple[str, int], float] = {}

    def say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=self.stream, flush=True)

    def __call__(self, event: RunEvent) -> None:
        data = event.data
        node = data.get("node", "")
        key = (node, int(data.get("visit", 0)))
        if event.type == "node.started":
            self._started[key] = time.monotonic()
            attempt = data.get("attempt", 1)
            suffix = f" (attempt {attempt})" if attempt > 1 else ""
            if data.get("continues"):
                suffix = " (goes on)"
            self.say(f"  ▸ {node}{suffix}")
        elif event.type == "node.finished":
            began = self._started.pop(key, None)
            usage = data.get("usage") or {}
            tokens = usage.get("inputTokens", 0) + usage.get("outputTokens", 0)
            details = [f"{time.monotonic() - began:.2f}s"] if began is not None else []
            details += [f"{tokens} tokens"] if tokens else []
            self.say(f"  ✓ {node}" + (f" ({', '.join(details)})" if details else ""))
        elif event.type == "node.paused":
            self._started.pop(key, None)
            self.say(f"  ‖ {node} paused ({data.get('reason')})")
        elif event.type == "node.retrying":
            self.say(
                f"  ↻ {node} attempt {data.get('attempt')} failed: {data.get('error')}; retrying"
            )
        elif event.type == "node.failed":
            self.say(f"  ✗ {node} failed: {data.get('error')}")
