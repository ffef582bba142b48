"""kopf's login from lightkube's configuration (agents_operator/login.py), without the
``kubernetes`` client. The cluster tests' operator logs in through an exec plugin
(tests/operator_harness.py); these cover the other kinds of kubeconfig user."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import kopf
import pytest
from agents_operator.login import connection_info, login
from lightkube.config.kubeconfig import KubeConfig

CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="


def kubeconfig(path: Path, user: dict[str, Any], **cluster: Any) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": "https://127.0.0.1:6443", **cluster}}
                ],
                "users": [{"name": "u", "user": user}],
                "contexts": [
                    {"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}
                ],
                "current-context": "x",
            }
        )
    )
    return path


def info(path: Path) -> kopf.ConnectionInfo:
    config = KubeConfig.from_file(path).get()
    assert config is not None
    return connection_info(config)


def plugin(
    script: str, api_version: str = "client.authentication.k8s.io/v1beta1"
) -> dict[str, Any]:
    return {"exec": {"apiVersion": api_version, "command": sys.executable, "args": ["-c", script]}}


def test_a_token_user(tmp_path: Path) -> None:
    found = info(kubeconfig(tmp_path / "k", {"token": "t0k"}, **{"certificate-authority-data": CA}))
    assert (found.server, found.token, found.ca_data) == ("https://127.0.0.1:6443", "t0k", CA)
    assert found.default_namespace == "ns"
    assert not found.insecure and found.expiration is None


def test_a_token_file_is_read_at_each_login_and_relative_paths_follow_the_kubeconfig(
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("first\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    path = kubeconfig(tmp_path / "k", {"tokenFile": "token"}, **{"certificate-authority": "ca.crt"})
    assert info(path).token == "first"
    assert info(path).ca_path == str(tmp_path / "ca.crt")
    (tmp_path / "token").write_text("rotated\n")
    assert info(path).token == "rotated"


def test_a_client_certificate_user(tmp_path: Path) -> None:
    user = {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}
    found = info(kubeconfig(tmp_path / "k", user, **{"insecure-skip-tls-verify": True}))
    assert (found.certificate_data, found.private_key_data, found.token) == (
        "Y2VydA==",
        "a2V5",
        None,
    )
    assert found.insecure is True


def test_an_exec_plugin_gives_its_token_and_its_expiry(tmp_path: Path) -> None:
    script = (
        "import json, os; info = json.loads(os.environ['KUBERNETES_EXEC_INFO']); "
        "print(json.dumps({'kind': 'ExecCredential', 'status': {'token': 'from-' + info['kind'] "
        "+ '-' + os.environ['EXTRA'], 'expirationTimestamp': '2030-01-02T03:04:05Z'}}))"
    )
    user = plugin(script)
    user["exec"]["env"] = [{"name": "EXTRA", "value": "env"}]
    found = info(kubeconfig(tmp_path / "k", user))
    assert found.token == "from-ExecCredential-env"
    assert found.expiration == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def test_an_exec_plugin_may_give_a_client_certificate(tmp_path: Path) -> None:
    script = (
        "import json; print(json.dumps({'status': {'clientCertificateData': '-----BEGIN C', "
        "'clientKeyData': '-----BEGIN K'}}))"
    )
    found = info(kubeconfig(tmp_path / "k", plugin(script)))
    assert (found.certificate_data, found.private_key_data) == ("-----BEGIN C", "-----BEGIN K")


def test_a_failing_exec_plugin_is_a_login_error_that_never_shows_its_output(tmp_path: Path) -> None:
    script = "import sys; print('secret-token-abc'); sys.exit('please run aws sso login')"
    with pytest.raises(kopf.LoginError) as caught:
        info(kubeconfig(tmp_path / "k", plugin(script)))
    assert "exited 1" in str(caught.value) and "aws sso login" in str(caught.value)
    assert "secret-token-abc" not in str(caught.value)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("print('not json')", "no ExecCredential status"),
        ("print('{\"status\": {}}')", "neither a token nor a certificate"),
    ],
)
def test_an_exec_plugin_answering_nonsense_is_a_login_error(
    tmp_path: Path, script: str, message: str
) -> None:
    with pytest.raises(kopf.LoginError, match=message):
        info(kubeconfig(tmp_path / "k", plugin(script)))


def test_an_unknown_exec_api_version_is_a_login_error(tmp_path: Path) -> None:
    user = plugin("print(1)", api_version="client.authentication.k8s.io/v9")
    with pytest.raises(kopf.LoginError, match="v9"):
        info(kubeconfig(tmp_path / "k", user))


def test_no_configuration_at_all_is_a_login_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(kopf.LoginError, match="no Kubernetes credentials"):
        login(settings=kopf.OperatorSettings())


def test_login_reads_kubeconfig_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "k", {"token": "env-token"})))
    settings = kopf.OperatorSettings()
    settings.networking.trust_env = True
    found = login(settings=settings)
    assert found.token == "env-token" and found.trust_env is True
