"""`ui` and `serve` with sign-in configured wrongly stop at start with one line naming the setting
(exit 2), before listening: no traceback, no server that would fail its first sign-in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.processes import free_port

SIGNIN = [
    "--ui-oidc-issuer-url",
    "https://login.example.com/dex",
    "--ui-oidc-client-id",
    "dashboard",
    "--ui-external-url",
    "https://agents.example.com",
]


def command(kind: str, tmp_path: Path) -> list[str]:
    port = str(free_port())
    if kind == "ui":
        return [*CLI, "ui", "--gateway", "http://127.0.0.1:9", "--port", port, "--no-chat"]
    return [*CLI, "serve", "--port", port, "--store", f"sqlite:///{tmp_path / 'runs.db'}"]


def start(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONFIGURABLE_AGENTS_UI_")}
    base["CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET"] = "dashboard-client-secret"
    return subprocess.run(
        args, env={**base, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.mark.parametrize("kind", ["ui", "serve"])
def test_sign_in_without_the_ui_secret_refuses_to_start(kind: str, tmp_path: Path) -> None:
    line = one_error_line(start([*command(kind, tmp_path), *SIGNIN]))
    assert line.startswith("Error: CONFIGURABLE_AGENTS_UI_SECRET: required with sign-in"), line


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "No such file or directory"), ("-----BEGIN nothing-----\n", "not a PEM file")],
)
def test_a_wrong_ca_file_refuses_to_start_naming_the_flag(
    tmp_path: Path, content: str | None, says: str
) -> None:
    ca = tmp_path / "provider-ca.pem"
    if content is not None:
        ca.write_text(content)
    args = [*command("ui", tmp_path), *SIGNIN, "--ui-oidc-ca-file", str(ca)]
    line = one_error_line(start(args, CONFIGURABLE_AGENTS_UI_SECRET="a-shared-secret-0123456789"))
    assert line.startswith(f"Error: --ui-oidc-ca-file (CONFIGURABLE_AGENTS_UI_OIDC_CA_FILE): {ca}")
    assert says in line, line
