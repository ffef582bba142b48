"""The repository layout keeps the standard library's ``operator`` module importable."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_import_operator_gives_the_standard_library_from_the_repo_root() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import operator, json; print(operator.__file__); print(operator.add(1, 2))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0].endswith("operator.py") and "/operator/" not in out[0]
    assert out[1] == "3"
    assert not (REPO / "operator" / "__init__.py").exists()


def test_the_operator_package_has_its_own_name() -> None:
    assert (REPO / "operator" / "agents_operator").is_dir()
