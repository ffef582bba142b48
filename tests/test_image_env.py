"""The agent/gateway image's environment as its build stage leaves it: the agent lock's packages,
pruned by ``hack/prune-venv.sh --sourceless`` (third-party code as bytecode only, pip and the
unused botocore models gone). Each test runs our code with that environment's python, so a
pruned-away module or a source file that something reads at run time fails here.

The environment is made from this one's installed packages (the lock's names, whatever versions
are installed here) and cached under ``~/.cache/configurable-agents/image-env`` by the script,
the versions and the Python, so after the first run (a minute) a session only uses it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES, REPO
from tests.processes import free_port, stop, wait_healthy

CACHE = (
    Path(os.environ.get("CONFIGURABLE_AGENTS_CACHE", Path.home() / ".cache/configurable-agents"))
    / "image-env"
)
PRUNE = REPO / "hack" / "prune-venv.sh"
#: Our own distribution: its metadata (entry points, version) is copied, its code comes from REPO.
OURS = "configurable-agents"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_distributions() -> list[metadata.Distribution]:
    """This environment's installation of each package of requirements/agent.lock."""
    lock = (REPO / "requirements" / "agent.lock").read_text()
    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock, flags=re.MULTILINE)
    installed: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():  # the first on sys.path is the one imported
        installed.setdefault(canonical(dist.metadata["Name"]), dist)
    missing = sorted({canonical(n) for n in names} - set(installed))
    assert not missing, f"not installed here, so not in the image environment either: {missing}"
    return [installed[canonical(name)] for name in names] + [installed[OURS]]


def copy_distribution(dist: metadata.Distribution, site: Path) -> None:
    """The files its RECORD lists under site-packages (for ours, only its .dist-info)."""
    ours = canonical(dist.metadata["Name"]) == OURS
    for file in dist.files or ():
        if file.parts[0] == ".." or (ours and not file.parts[0].endswith(".dist-info")):
            continue
        source = Path(str(dist.locate_file(file)))
        if source.is_file():
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def build(root: Path, dists: list[metadata.Distribution]) -> None:
    shutil.rmtree(root, ignore_errors=True)
    venv.create(root, symlinks=True, with_pip=False)
    [site] = root.glob("lib/python3*/site-packages")
    for dist in dists:
        copy_distribution(dist, site)
    subprocess.run(["sh", str(PRUNE), "--sourceless", str(root)], check=True)
    (root / ".built").touch()


@pytest.fixture(scope="module")
def image_python() -> Path:
    """The python of the pruned environment, built once per script, versions and Python."""
    dists = locked_distributions()
    pins = sorted(f"{d.metadata['Name']}=={d.version}" for d in dists)
    key = hashlib.sha256("\0".join([PRUNE.read_text(), sys.version, *pins]).encode())
    root = CACHE / f"agent-{key.hexdigest()[:12]}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".built").exists():
            build(root, dists)
        (root / ".built").touch()
        for other in CACHE.glob("agent-*"):  # of earlier scripts or versions, unused for a day
            built = other / ".built"
            used = built.stat().st_mtime if built.exists() else other.stat().st_mtime
            if other != root and used < time.time() - 86400:
                shutil.rmtree(other, ignore_errors=True)
    return root / "bin" / "python"


def image_env(**extra: str) -> dict[str, str]:
    """Our code from the work tree (the pruned environment has our metadata, not our code)."""
    return dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'operator'}", **extra)


def image_run(image_python: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` on the pruned environment, from the checkout; it must succeed."""
    done = subprocess.run(
        [str(image_python), *args],
        cwd=REPO,
        env=image_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_our_modules_import_and_each_providers_sdk_answers(image_python: Path) -> None:
    done = image_run(image_python, "-m", "tests.image_env_scenario", timeout=180)
    assert done.stdout.strip() == "ok", done.stdout


def test_the_cli_runs_a_workflow_with_cel_branches_on_the_s3_store(
    image_python: Path, s3_url: str
) -> None:
    workflow = EXAMPLES / "02-router-loop" / "workflow.yaml"
    run = image_run(
        image_python,
        "-m",
        "agent_runtime",
        "run",
        str(workflow),
        "--store",
        s3_url,
        "--input",
        "topic=bytecode",
        timeout=120,
    )
    assert '"revisions": 2' in run.stdout


@contextmanager
def running(image_python: Path, tmp_path: Path, what: str, *args: str) -> Iterator[str]:
    """``configurable-agents ARGS --port P`` on the pruned environment, ready: its URL. Its log
    must hold no traceback when it stops."""
    port, log = free_port(), tmp_path / f"{what}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(image_python), "-m", "agent_runtime", *args, "--port", str(port)],
            cwd=tmp_path,
            env=image_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, f"{url}/readyz", log, what=what)
        yield url
    finally:
        stop(proc, signal.SIGTERM)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture
def agent_url(image_python: Path, tmp_path: Path) -> Iterator[str]:
    """An agent (``configurable-agents agent``) serving the capabilities of the linear chain."""
    capabilities = ("--capability", "llm", "--capability", "web-research")
    with running(
        image_python, tmp_path, "agent", "agent", "--host", "127.0.0.1", *capabilities
    ) as url:
        yield url


def test_a_gateway_on_postgres_runs_a_workflow_through_an_agent_and_serves_its_dashboard(
    image_python: Path, agent_url: str, postgres_url: str, tmp_path: Path
) -> None:
    served = (
        *("serve", "--store", postgres_url, "--workflows", str(EXAMPLES / "01-linear-chain")),
        *("--agents", f"llm={agent_url}", "--agents", f"web-research={agent_url}"),
    )
    with running(image_python, tmp_path, "gateway", *served) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            run = client.post(
                "/v1/workflows/default/linear-chain/runs",
                json={"input": {"topic": "images"}, "wait": True},
            )
            assert run.status_code == 200, run.text
            assert run.json()["status"] == "succeeded", run.text
            assert (
                "/v1/workflows/{namespace}/{name}/runs"
                in client.get("/openapi.json").json()["paths"]
            )
            page = client.get("/ui/", follow_redirects=True)
            assert page.status_code == 200 and "linear-chain" in page.text, page.text[:500]
