"""The dashboard's own OpenID Connect sign-in, configured by ``CONFIGURABLE_AGENTS_UI_*``.

Set ``CONFIGURABLE_AGENTS_UI_OIDC_ISSUER_URL`` (or ``--ui-oidc-issuer-url``) and the dashboard
and chat sign users in themselves (see ``signin``); leave it unset and they pass each request's own
``Authorization`` header on to the gateway, as behind a sign-in proxy. The client secret is read
from the environment only (``CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET``, e.g. from a Secret),
never from a flag, whose value anyone on the machine can read in the process list.
"""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.policy.addresses import is_loopback

ENV_PREFIX = "CONFIGURABLE_AGENTS_UI_"
#: Asked for by default: ``offline_access`` brings a refresh token from providers that give one,
#: so a session outlives its ID token; set the scopes without it for those that refuse it.
DEFAULT_SCOPES = "openid email profile offline_access"
#: Where the provider sends the browser back, under the dashboard's path.
CALLBACK_PATH = "/signin/callback"


class SignInSettingsError(AgentRuntimeError, ValueError):
    """Sign-in is configured wrongly; one line naming the setting (raised at start)."""

    code = "invalid_settings"


def _web_url(name: str, value: str) -> str:
    """``value`` if it is https:// (or http:// on a loopback host), with no query or fragment."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        pass
    elif parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        pass
    else:
        raise SignInSettingsError(
            f"{ENV_PREFIX}{name.upper()}: {value!r} must be an https:// URL "
            "(http:// only on a loopback address)"
        )
    if parts.query or parts.fragment:
        raise SignInSettingsError(f"{ENV_PREFIX}{name.upper()}: {value!r} has a query or fragment")
    return value


class SignInSettings(BaseSettings):
    """Everything the sign-in needs; ``enabled`` is false when no issuer is set."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    #: The OpenID provider, as its ID tokens name it (``iss``); discovery is read under it.
    oidc_issuer_url: str | None = None
    #: The dashboard's client at the provider; also the audience of its ID tokens, so the
    #: gateway's ``--oidc-audience`` must name it.
    oidc_client_id: str | None = None
    #: Environment only.
    oidc_client_secret: SecretStr | None = None
    #: Space-separated scopes to ask for.
    oidc_scopes: str = DEFAULT_SCOPES
    #: CA bundle for the provider's TLS certificate (default: the system's).
    oidc_ca_file: str | None = None
    #: The address browsers reach this server at (scheme, host, port): the redirect URI is
    #: ``EXTERNAL_URL/ui/signin/callback``, registered with the provider.
    external_url: str | None = None
    #: A session nobody uses for this long ends, whatever its tokens say.
    session_max_age: int = Field(default=12 * 3600, ge=60)

    @property
    def enabled(self) -> bool:
        return bool(self.oidc_issuer_url)

    def redirect_uri(self, dashboard_path: str) -> str:
        assert self.external_url
        return f"{self.external_url}{dashboard_path}{CALLBACK_PATH}"

    def client_secret(self) -> str:
        assert self.oidc_client_secret is not None
        return self.oidc_client_secret.get_secret_value()


def load_signin_settings(flags: Mapping[str, Any] | None = None) -> SignInSettings:
    """The settings from ``flags`` (those given) over the environment, checked as a whole;
    raises SignInSettingsError."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    if "oidc_client_secret" in given:
        raise SignInSettingsError(
            f"the client secret is read only from {ENV_PREFIX}OIDC_CLIENT_SECRET, never a flag"
        )
    try:
        settings = SignInSettings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise SignInSettingsError(f"{ENV_PREFIX}{name.upper()}: {first['msg']}") from None
    return _checked(settings)


def _checked(settings: SignInSettings) -> SignInSettings:
    if not settings.enabled:
        stray = [
            name
            for name in ("oidc_client_id", "oidc_client_secret", "external_url")
            if getattr(settings, name)
        ]
        if stray:
            raise SignInSettingsError(
                f"{ENV_PREFIX}{stray[0].upper()} is set but {ENV_PREFIX}OIDC_ISSUER_URL is not: "
                "set the issuer to turn sign-in on, or unset the rest"
            )
        return settings
    missing = [
        name
        for name in ("oidc_client_id", "oidc_client_secret", "external_url")
        if not getattr(settings, name)
    ]
    if missing:
        raise SignInSettingsError(
            f"sign-in with {settings.oidc_issuer_url} needs {ENV_PREFIX}{missing[0].upper()}"
        )
    lacking = [m for m in ("authlib", "itsdangerous") if importlib.util.find_spec(m) is None]
    if lacking:
        raise SignInSettingsError(
            f"sign-in needs {' and '.join(lacking)}: pip install 'configurable-agents[server]'"
        )
    if settings.oidc_ca_file:
        _check_ca_file(settings.oidc_ca_file)
    scopes = settings.oidc_scopes.split()
    if "openid" not in scopes:
        raise SignInSettingsError(f"{ENV_PREFIX}OIDC_SCOPES: must include 'openid'")
    assert settings.oidc_issuer_url and settings.external_url
    return settings.model_copy(
        update={
            "oidc_issuer_url": _web_url("oidc_issuer_url", settings.oidc_issuer_url),
            "external_url": _web_url("external_url", settings.external_url).rstrip("/"),
            "oidc_scopes": " ".join(scopes),
        }
    )


def _check_ca_file(path: str) -> None:
    """The CA bundle loads as the provider's client will load it; else one line naming the flag."""
    where = f"--ui-oidc-ca-file ({ENV_PREFIX}OIDC_CA_FILE): {path}"
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        raise SignInSettingsError(f"{where}: not a PEM file of CA certificates") from None
    except OSError as exc:
        raise SignInSettingsError(f"{where}: cannot read it: {exc.strerror or exc}") from None
