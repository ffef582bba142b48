"""What the server verbs check before anything starts: settings from flags and the environment,
Kubernetes credentials and the store, each failure one line instead of a start-up traceback."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agent_runtime.cli.errors import Failure

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

S = TypeVar("S", bound="BaseSettings")


def settings_of(kind: type[S], **values: Any) -> S:
    """Flags over ``CONFIGURABLE_AGENTS_*``; a bad value is one line naming the setting."""
    from pydantic import ValidationError

    try:
        return kind(**values)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"])  # empty for a rule over several settings
            message = e["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise click.UsageError("; ".join(problems)) from None


def agents_of(pairs: tuple[str, ...]) -> dict[str, list[str]]:
    """``--agents capability=URL[,URL]`` flags as the agents serving each capability."""
    agents: dict[str, list[str]] = {}
    for pair in pairs:
        capability, sep, urls = pair.partition("=")
        if not sep or not capability or not urls:
            raise click.BadParameter(
                f"{pair!r}: expected capability=URL[,URL...]", param_hint="--agents"
            )
        agents.setdefault(capability.strip(), []).extend(
            u.strip() for u in urls.split(",") if u.strip()
        )
    return agents


def check_kubernetes() -> None:
    """Credentials are there, before any server starts (else its start-up prints a traceback)."""
    from agent_runtime.kube import KubeConfigError, load_configuration

    try:
        load_configuration()
    except KubeConfigError as exc:
        raise Failure(str(exc)) from None


def check_store(url: str | None) -> None:
    """The store opens (and is migrated) before the gateway serves; a bad URL is one line."""
    from agent_runtime.stores import open_store

    async def check() -> None:
        async with open_store(url):
            pass

    asyncio.run(check())
