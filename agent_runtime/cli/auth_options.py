"""``serve``'s authentication flags, named after kube-apiserver's (``--oidc-issuer-url`` ...).

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
]


def auth_options(command: F) -> F:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def auth_settings(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags that were given, as GatewaySettings fields (the rest come from the env)."""
    given = {k: v for k, v in flags.items() if v not in (None, ())}
    if "auth_audiences" in given:
        given["auth_audiences"] = list(given["auth_audiences"])
    return given
