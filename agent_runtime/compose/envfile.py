"""The env file: where a compose project's secrets live, never in the compose file or an image.

The compose file names each value as ``${VARIABLE}``, which Compose fills in from the ``.env``
file beside it (or ``--env-file``); a required one left out stops ``docker compose`` with the
variable's name before anything starts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EnvVariable:
    """One variable of the env file: what it is for, and whether Compose refuses to start
    without it. ``generated`` ones are random secrets ``write_env_file`` can make."""

    name: str
    why: str
    required: bool = True
    generated: bool = False

    def reference(self) -> str:
        """How the compose file names it: ``${NAME:?...}`` when required, else ``${NAME:-}``."""
        if self.required:
            return f"${{{self.name}:?see the env file}}"
        return f"${{{self.name}:-}}"


def write_env_file(path: Path, variables: list[EnvVariable]) -> bool:
    """Write an env file with a fresh random value for each generated secret and an empty line
    to fill in for the others; False (nothing written) when the file exists already, so secrets
    are never replaced. Readable by its owner only."""
    lines = [
        "# Secrets of the compose project: keep this file out of version control and images.",
    ]
    for variable in variables:
        lines.append(f"# {variable.why}{'' if variable.required else ' (optional)'}")
        value = secrets.token_hex(24) if variable.generated else ""
        lines.append(f"{variable.name}={value}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return True
