"""kopf's login, from the same configuration the operator's lightkube client reads.

kopf logs in through the ``kubernetes`` client when that is installed, and that client is half of
the operator image (123 MB of generated models for one job: reading a kubeconfig). lightkube,
which makes the operator's writes, already reads kubeconfigs and in-cluster accounts; this handler
turns its configuration into kopf's ``ConnectionInfo``, running exec credential plugins (EKS, GKE,
AKS, OIDC login helpers) itself, and gives kopf the expiry of their credentials so that kopf logs
in again before they lapse (and on a 401 in any case).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from typing import Any

import kopf
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.core.exceptions import ConfigError

#: The ExecCredential versions kubectl speaks (v1alpha1 is gone from kubectl, not from plugins).
EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
    "client.authentication.k8s.io/v1alpha1",
)


@kopf.on.login()
def login(*, settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """The in-cluster account, else ``$KUBECONFIG`` or ``~/.kube/config`` (its current context)."""
    try:
        config = KubeConfig.from_env().get()
    except (ConfigError, OSError) as exc:
        raise kopf.LoginError(f"no Kubernetes credentials: {exc}") from exc
    if config is None:
        raise kopf.LoginError("no Kubernetes credentials: the kubeconfig has no current context")
    return connection_info(config, trust_env=settings.networking.trust_env)


def connection_info(config: SingleConfig, *, trust_env: bool = False) -> kopf.ConnectionInfo:
    """kopf's view of one lightkube context: server, CA, and the user's credentials."""
    cluster, user = config.cluster, config.user
    fields: dict[str, Any] = {}
    if cluster.certificate_auth:
        fields["ca_path"] = str(config.abs_file(cluster.certificate_auth))
    elif cluster.certificate_auth_data:
        fields["ca_data"] = cluster.certificate_auth_data
    if user is not None:
        if user.client_cert:
            fields["certificate_path"] = str(config.abs_file(user.client_cert))
        elif user.client_cert_data:
            fields["certificate_data"] = user.client_cert_data
        if user.client_key:
            fields["private_key_path"] = str(config.abs_file(user.client_key))
        elif user.client_key_data:
            fields["private_key_data"] = user.client_key_data
        fields["username"], fields["password"] = user.username, user.password
        if user.token_file:  # in-cluster tokens rotate: read the file at each login
            with open(config.abs_file(user.token_file), encoding="utf-8") as file:
                fields["token"] = file.read().strip()
        elif user.token:
            fields["token"] = user.token
        elif user.auth_provider:  # the retired auth-provider plugins: their cached token only
            provider = user.auth_provider.get("config") or {}
            fields["token"] = provider.get("id-token") or provider.get("access-token")
        if user.exec is not None:
            fields.update(exec_credential(user.exec))
    return kopf.ConnectionInfo(
        server=cluster.server,
        insecure=cluster.insecure or None,
        default_namespace=config.context.namespace,
        trust_env=trust_env,
        **fields,
    )


def exec_credential(plugin: Any) -> dict[str, Any]:
    """Run an exec credential plugin as kubectl does; its token or client certificate, and expiry.

    ``plugin`` is lightkube's ``UserExec`` (command, args, env, apiVersion).
    """
    if plugin.apiVersion not in EXEC_API_VERSIONS:
        raise kopf.LoginError(f"exec plugin: apiVersion {plugin.apiVersion!r} is not supported")
    env = dict(os.environ)
    env.update((item.name, item.value) for item in plugin.env or ())
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": plugin.apiVersion, "kind": "ExecCredential", "spec": {"interactive": False}}
    )
    try:
        done = subprocess.run(
            [plugin.command, *(plugin.args or [])],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise kopf.LoginError(f"exec plugin {plugin.command!r}: {exc}") from exc
    if done.returncode != 0:
        # Its stderr may be user-facing help; never its stdout, which would hold the credential.
        raise kopf.LoginError(
            f"exec plugin {plugin.command!r} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()[-500:]}"
        )
    try:
        status = json.loads(done.stdout)["status"]
    except (ValueError, KeyError, TypeError) as exc:
        raise kopf.LoginError(f"exec plugin {plugin.command!r}: no ExecCredential status") from exc
    found: dict[str, Any] = {}
    if status.get("token"):
        found["token"] = status["token"]
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        found["certificate_data"] = status["clientCertificateData"]
        found["private_key_data"] = status["clientKeyData"]
    if not found:
        raise kopf.LoginError(f"exec plugin {plugin.command!r}: neither a token nor a certificate")
    if expiry := status.get("expirationTimestamp"):
        found["expiration"] = datetime.datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    return found
