"""The images' botocore keeps only the service models the s3 store and its credential providers
use (hack/prune-venv.sh): the store still sets itself up and runs a workflow on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import botocore

from tests.conftest import REPO
from tests.moto_harness import MotoServer


def pruned_botocore(site: Path) -> Path:
    """A copy of the installed botocore, pruned as the Dockerfiles prune it."""
    shutil.copytree(Path(botocore.__file__).parent, site / "botocore")
    subprocess.run(["sh", str(REPO / "hack" / "prune-venv.sh"), str(site)], check=True)
    return site / "botocore" / "data"


def test_the_s3_store_runs_on_the_pruned_botocore(tmp_path: Path, moto_server: MotoServer) -> None:
    data = pruned_botocore(tmp_path / "site")
    kept = sorted(path.name for path in data.iterdir() if path.is_dir())
    assert kept == ["dynamodb", "s3", "signin", "sso", "sso-oidc", "sts"]
    url = moto_server.url()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(REPO)]))
    code = f"""
import sys
import botocore
assert botocore.__file__.startswith({str(tmp_path / "site")!r}), botocore.__file__
from agent_runtime.cli.main import main
sys.argv = ["configurable-agents", *sys.argv[1:]]
main()
"""
    init = subprocess.run(
        [sys.executable, "-c", code, "store", "init", url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr[-3000:]
    assert "created DynamoDB table" in init.stdout + init.stderr
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            "examples/02-router-loop/workflow.yaml",
            "--store",
            url,
            "--input",
            "topic=pruned",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"revisions": 2' in run.stdout
