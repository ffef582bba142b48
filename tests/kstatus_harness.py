"""kstatus, the health Flux and other GitOps tools compute, for the operator's status tests.

The binary is ``hack/kstatus`` built by ``hack/build-kstatus.sh`` (``make test`` builds it; a test
that needs it builds it once per session, about 1.5 minutes cold, unless
CONFIGURABLE_AGENTS_NO_BUILD is set). When it can be neither found nor built, the tests that need
it are skipped with the reason, or fail when CONFIGURABLE_AGENTS_REQUIRE_KSTATUS is set (CI sets
it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tests.built_programs import BuiltProgram

Health = Literal["InProgress", "Current", "Failed", "Terminating", "NotFound", "Unknown"]


class Verdict(BaseModel):
    """One object's line of the program's output (see hack/kstatus/main.go)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    object: str
    status: Health
    message: str
    #: kstatus' own Reconciling/Stalled conditions behind the verdict.
    conditions: list[dict[str, Any]]
    generation: int | None = None
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    #: From the same read: the object's deletionTimestamp is set, and its status.conditions.
    deleting: bool = False
    object_conditions: list[dict[str, Any]] = Field(default_factory=list, alias="objectConditions")

    def condition(self, kind: str) -> dict[str, Any] | None:
        """The object's own condition of this type, as read with the verdict."""
        return next((c for c in self.object_conditions if c.get("type") == kind), None)


_VERDICTS = TypeAdapter(list[Verdict])
KSTATUS = BuiltProgram(
    "kstatus",
    "build-kstatus.sh",
    "CONFIGURABLE_AGENTS_REQUIRE_KSTATUS",
    build_time="about 1.5 minutes",
)


def kstatus_binary(config: pytest.Config | None = None) -> Path:
    """The binary, or the test is skipped (failed with CONFIGURABLE_AGENTS_REQUIRE_KSTATUS)."""
    return KSTATUS.binary(config)


class Kstatus:
    """Runs the binary against one cluster: ``kstatus(ref, ...)`` -> one Verdict per ref."""

    def __init__(self, binary: Path, kubeconfig: Path | str) -> None:
        self.binary = binary
        self.kubeconfig = str(kubeconfig)

    def __call__(self, *refs: str) -> list[Verdict]:
        done = subprocess.run(
            [str(self.binary), "--kubeconfig", self.kubeconfig, "--timeout", "20s", *refs],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"kstatus {' '.join(refs)} failed: {done.stderr.strip()}")
        return _VERDICTS.validate_json(done.stdout)

    def one(self, ref: str) -> Verdict:
        [verdict] = self(ref)
        return verdict


@pytest.fixture(scope="session")
def kstatus(request: pytest.FixtureRequest, control_plane: Any) -> Kstatus:
    """kstatus against the session's control plane (as cluster admin)."""
    return Kstatus(kstatus_binary(request.config), control_plane.kubeconfig)
