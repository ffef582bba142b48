"""``store init`` and ``runs prune`` as a user runs them: real processes, real stores."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest

from agent_runtime.stores import RunNotFound, RunStatus, open_store
from agent_runtime.stores.records import utcnow
from tests.conftest import CLI
from tests.stores.helpers import make_run


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
async def test_runs_prune_on_every_store(store_url: str, cli_env: dict[str, str]) -> None:
    now = utcnow()
    old = make_run(
        status=RunStatus.CANCELLED,
        created_at=now - timedelta(days=45),
        finished_at=now - timedelta(days=31),
    )
    young = make_run(status=RunStatus.SUCCEEDED, finished_at=now - timedelta(days=29))
    async with open_store(store_url) as store:
        for run in (old, young):
            await store.create_run(run)
    env = {**cli_env, "CONFIGURABLE_AGENTS_STORE": store_url}
    done = cli(["runs", "prune", "--older-than", "30d"], env)
    assert done.returncode == 0, done.stderr
    assert "pruned 1 run(s)" in done.stderr
    async with open_store(store_url) as store:
        with pytest.raises(RunNotFound):
            await store.get_run(old.id)
        assert await store.get_run(young.id) == young

    bad = cli(["runs", "prune", "--older-than", "30"], env)
    assert bad.returncode == 2 and "--older-than" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_store_init_creates_the_table_and_bucket_once(
    s3_url_uninitialized: str, cli_env: dict[str, str]
) -> None:
    listed = cli(["runs", "list", "--store", s3_url_uninitialized], cli_env)
    assert listed.returncode == 1
    assert "store init" in listed.stderr and len(listed.stderr.strip().splitlines()) == 1

    first = cli(["store", "init", s3_url_uninitialized], cli_env)
    assert first.returncode == 0, first.stderr
    assert "created DynamoDB table" in first.stderr and "created S3 bucket" in first.stderr
    again = cli(["store", "init", s3_url_uninitialized], cli_env)
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stderr and "already exists" in again.stderr

    listed = cli(["runs", "list", "--store", s3_url_uninitialized], cli_env)
    assert listed.returncode == 0, listed.stderr


@pytest.mark.slow
def test_store_init_on_sqlite_applies_the_schema(cli_env: dict[str, str]) -> None:
    done = cli(["store", "init"], cli_env)  # the URL from CONFIGURABLE_AGENTS_STORE
    assert done.returncode == 0, done.stderr
    assert "store ready" in done.stderr
