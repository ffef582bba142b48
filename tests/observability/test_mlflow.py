"""MLflow as a trace backend: a tracking server receives a run's spans over OTLP, no MLflow code.

The runtime only speaks OTLP/HTTP (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` at the server's
``/v1/traces``, the experiment in the ``x-mlflow-experiment-id`` header). MLflow is heavy, so it
lives in a virtualenv of its own (``make mlflow-venv``, which ``make test`` runs); the server and
the read-back with MLflow's client run from there as subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import EXAMPLES, REPO
from tests.processes import free_port, stop, wait_healthy

pytestmark = pytest.mark.slow

CACHE = Path(
    os.environ.get("CONFIGURABLE_AGENTS_CACHE", Path.home() / ".cache/configurable-agents")
)
MLFLOW_VENV = CACHE / "mlflow-venv"

READ_BACK = """
import json, sys
from mlflow import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
traces = client.search_traces(experiment_ids=[sys.argv[2]])
print(json.dumps([
    {
        "trace_id": t.info.trace_id,
        "state": str(getattr(t.info, "state", getattr(t.info, "status", ""))),
        "spans": [
            {"name": s.name, "span_id": s.span_id, "parent_id": s.parent_id,
             "attributes": s.attributes}
            for s in t.data.spans
        ],
    }
    for t in traces
], default=str))
"""


def mlflow_python() -> Path:
    python = MLFLOW_VENV / "bin" / "python"
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        if os.environ.get("CONFIGURABLE_AGENTS_REQUIRE_MLFLOW") == "1":
            pytest.fail(f"MLflow is required: no {MLFLOW_VENV} (make mlflow-venv)")
        pytest.skip(f"no MLflow virtualenv at {MLFLOW_VENV}; `make mlflow-venv` installs it")
    return python


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = mlflow_python()
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = folder / "mlflow.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(MLFLOW_VENV / "bin" / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--default-artifact-root",
                str(folder / "artifacts"),
                "--workers",
                "1",
            ],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PATH=f"{python.parent}{os.pathsep}{os.environ['PATH']}"),
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, f"{url}/health", log, what="MLflow server", timeout=120)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        stop(proc, signal.SIGTERM)


def read_back(url: str, experiment_id: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(mlflow_python()), "-c", READ_BACK, url, experiment_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    traces: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return traces


def test_mlflow_receives_and_returns_the_traces_of_a_run(
    mlflow_server: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    created = httpx.post(
        f"{mlflow_server}/api/2.0/mlflow/experiments/create",
        json={"name": f"configurable-agents-{tmp_path.name}"},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    env = dict(
        cli_env,
        PYTHONPATH=str(REPO),
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{mlflow_server}/v1/traces",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS=f"x-mlflow-experiment-id={experiment_id}",
        OTEL_SERVICE_NAME="configurable-agents-mlflow-test",
        # MLflow's first trace ingestion can take over the exporter's default 10 s on a loaded
        # machine; then the batch was dropped and the test saw no trace.
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="60",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent_runtime",
            "run",
            str(EXAMPLES / "05-tool-agent" / "workflow.yaml"),
            "--input",
            "question=what is six times seven",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # the process flushed its spans before exiting

    traces = read_back(mlflow_server, experiment_id)
    assert len(traces) == 1, traces
    spans = traces[0]["spans"]
    names = sorted(s["name"] for s in spans)
    assert "run default/tool-agent" in names
    assert {"node solve", "node count", "execute_tool calculate"} <= set(names)
    by_id = {s["span_id"]: s for s in spans}
    root = next(s for s in spans if s["name"] == "run default/tool-agent")
    assert not root["parent_id"]
    chats = [s for s in spans if s["name"].startswith("chat ")]
    assert len(chats) == 2
    for chat in chats:
        assert chat["attributes"]["gen_ai.operation.name"] == "chat"
        assert chat["attributes"]["gen_ai.request.model"] == "scripted"
        assert int(chat["attributes"]["gen_ai.usage.input_tokens"]) > 0
        assert by_id[chat["parent_id"]]["name"] == "node solve"
