"""The flags of ``ui`` and ``serve`` for the dashboard's own OpenID Connect sign-in.

Each flag also reads its ``CONFIGURABLE_AGENTS_UI_*`` variable (a flag that is not given leaves
the variable in force). The client secret has no flag: a flag's value shows in the process list,
so it comes only from ``CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET`` (e.g. from a Secret). The
command receives the checked settings as its ``signin`` argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--ui-oidc-issuer-url",
        "ui_oidc_issuer_url",
        default=None,
        help="Sign dashboard and chat users in with this OpenID provider (https://); without "
        "it, each request's Authorization header is passed on (a sign-in proxy's).",
    ),
    click.option(
        "--ui-oidc-client-id",
        "ui_oidc_client_id",
        default=None,
        help="The dashboard's client id at the provider (the gateway's --oidc-audience); "
        "its secret: env CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET.",
    ),
    click.option(
        "--ui-external-url",
        "ui_external_url",
        default=None,
        help="The URL browsers reach this server at; the redirect URI to register is "
        "URL/ui/signin/callback.",
    ),
    click.option(
        "--ui-oidc-scopes",
        "ui_oidc_scopes",
        default=None,
        help="Scopes to ask for [openid email profile offline_access].",
    ),
    click.option("--ui-oidc-ca-file", "ui_oidc_ca_file", default=None, help="CA of the provider."),
]
#: Flag destinations (``ui_`` keeps them apart from ``serve``'s ``--oidc-*``) -> settings fields.
_FIELDS = ("oidc_issuer_url", "oidc_client_id", "external_url", "oidc_scopes", "oidc_ca_file")
_NAMES = {f"ui_{field}": field for field in _FIELDS}


def signin_options(command: F) -> F:
    """Add the flags to ``command`` and hand it ``signin=SignInSettings`` instead of them."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent_runtime.ui.signin_settings import SignInSettingsError, load_signin_settings

        flags = {field: kwargs.pop(name) for name, field in _NAMES.items()}
        try:
            signin = load_signin_settings(flags)
        except SignInSettingsError as exc:
            raise click.UsageError(str(exc)) from None
        return command(*args, signin=signin, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]
