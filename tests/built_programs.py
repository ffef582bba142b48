"""Test programs built from pinned Go modules by a hack/ script (Dex, kstatus, Toxiproxy).

``make test`` builds them; a test session that needs one and finds it missing builds it once
(unless CONFIGURABLE_AGENTS_NO_BUILD is set). When it can be neither found nor built, the tests
that need it are skipped with the reason, or fail when the program's REQUIRE variable is set (CI
sets them all).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class BuiltProgram:
    """One program: ``hack/<script> --check`` prints its path when built; the script builds it
    and prints the path."""

    def __init__(self, name: str, script: str, require: str, *, build_time: str) -> None:
        self.name = name
        self.script = REPO / "hack" / script
        self.require = require
        self.build_time = build_time
        self._found: Path | str | None = None

    def prepare(self, config: pytest.Config | None = None) -> Path | str:
        """The binary, built when missing; or why there is none (once per process)."""
        if self._found is None:
            self._found = self._find(config)
        return self._found

    def _find(self, config: pytest.Config | None) -> Path | str:
        found = subprocess.run(
            ["bash", str(self.script), "--check"], capture_output=True, text=True, check=False
        )
        if found.returncode == 0:
            return Path(found.stdout.strip())
        if truthy("CONFIGURABLE_AGENTS_NO_BUILD"):
            return (
                "it is not built and CONFIGURABLE_AGENTS_NO_BUILD is set "
                f"(bash hack/{self.script.name})"
            )
        log = Path(tempfile.mkdtemp(prefix=f"ca-{self.name.lower()}-build-")) / "build.log"
        reporter = config.pluginmanager.get_plugin("terminalreporter") if config else None
        if reporter is not None:
            reporter.write_line(f"building {self.name} ({self.build_time} once; log: {log})")
        with log.open("w") as out:
            built = subprocess.run(
                ["bash", str(self.script)], stdout=subprocess.PIPE, stderr=out, text=True
            )
        if built.returncode == 0:
            return Path(built.stdout.strip())
        tail = log.read_text(errors="replace").splitlines()[-15:]
        return "it could not be built:\n" + "\n".join(tail)

    def binary(self, config: pytest.Config | None = None) -> Path:
        """The binary, or the test is skipped (failed with the REQUIRE variable set)."""
        found = self.prepare(config)
        if isinstance(found, Path):
            return found
        if truthy(self.require):
            pytest.fail(f"{self.name} required ({self.require}) but {found}", pytrace=False)
        pytest.skip(f"no {self.name}: {found}")
