"""Where ``canary_tool`` records that it was imported; the policy tests read it."""

from __future__ import annotations

IMPORTED: list[str] = []
