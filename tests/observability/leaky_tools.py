"""A careless tool for the secrets test: its error message holds an environment variable's value."""

from __future__ import annotations

import os


def leak(name: str) -> str:
    raise RuntimeError(f"cannot log in with {os.environ.get(name, '')}")
