"""``serve``'s flags on who may call it and how much: authentication (named after
kube-apiserver's ``--oidc-*`` flags) and limits on starting runs.

Each flag also reads its ``CONFIGURABLE_AGENTS_*`` variable through the gateway's settings; a flag
that is not given leaves the variable in force.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--auth",
        "auth",
        metavar="kubernetes|oidc|kubernetes,oidc",
        default=None,
        help="How callers authenticate: TokenReview against the API server, OpenID Connect "
        "JWTs, or both. Authorization is then Kubernetes RBAC on workflows/runs.",
    ),
    click.option(
        "--auth-audience",
        "auth_audiences",
        multiple=True,
        help="With --auth kubernetes: a token must be meant for this audience (repeatable; "
        "default: the API server's own).",
    ),
    click.option("--oidc-issuer-url", default=None, help="The OpenID provider (https://)."),
    click.option("--oidc-audience", default=None, help="The client id tokens must be for."),
    click.option("--oidc-username-claim", default=None, help="Claim naming the user [sub]."),
    click.option(
        "--oidc-username-prefix",
        default=None,
        help="Prepended to usernames; '-' for none [ISSUER# unless the claim is email].",
    ),
    click.option("--oidc-groups-claim", default=None, help="Claim listing groups [groups]."),
    click.option("--oidc-groups-prefix", default=None, help="Prepended to group names."),
    click.option("--oidc-ca-file", default=None, help="CA bundle of the provider's TLS."),
    click.option(
        "--insecure-no-auth",
        is_flag=True,
        default=None,
        help="Serve with no authentication on a non-loopback address or in a cluster: anyone "
        "who reaches it may run and read every run.",
    ),
    click.option(
        "--caller-run-rate",
        type=click.FloatRange(min=0),
        default=None,
        help="Runs one caller may start per second, across replicas (burst: env "
        "CONFIGURABLE_AGENTS_CALLER_RUN_BURST) [0: no limit].",
    ),
    click.option(
        "--namespace-run-rate",
        type=click.FloatRange(min=0),
        default=None,
        help="Runs one namespace may start per second (burst: env "
        "CONFIGURABLE_AGENTS_NAMESPACE_RUN_BURST) [0: no limit].",
    ),
    click.option(
        "--namespace-max-in-flight",
        type=click.IntRange(min=0),
        default=None,
        help="Runs of one namespace executing at once; more wait queued [0: no cap].",
    ),
]


def access_options(command: F) -> F:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def access_settings(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags that were given, as GatewaySettings fields (the rest come from the env)."""
    given = {k: v for k, v in flags.items() if v not in (None, ())}
    if "auth_audiences" in given:
        given["auth_audiences"] = list(given["auth_audiences"])
    return given
