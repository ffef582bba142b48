"""Validation problems that name the field they are about."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent_runtime.errors import AgentRuntimeError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, at a dotted field path such as ``spec.edges[3].to``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def under(self, prefix: str) -> Problem:
        if not prefix:
            return self
        if not self.path:
            return Problem(prefix, self.message)
        joiner = "" if self.path.startswith("[") else "."
        return Problem(f"{prefix}{joiner}{self.path}", self.message)


class SpecError(AgentRuntimeError, ValueError):
    """A document failed validation; ``problems`` lists every reason, each with its field path."""

    code = "invalid_spec"

    def __init__(self, problems: Sequence[Problem], *, source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        self.details = [{"field": p.path, "message": p.message} for p in self.problems]
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        prefix = f"{self.source}: " if self.source else ""
        return [f"{prefix}{p}" for p in self.problems]


def join_path(parts: Iterable[str | int]) -> str:
    """Render a location tuple as ``a.b[3].c``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
