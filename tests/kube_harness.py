"""pytest plugin: a real Kubernetes control plane for the tests marked ``cluster``.

Register it in tests/conftest.py with ``pytest_plugins = ["tests.kube_harness"]``. Fixtures:

- ``control_plane`` (session): a ``hack/controlplane.py`` ``ControlPlane`` — etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler and kwok with one fake Node, on loopback — started once,
  with every YAML under ``crds/`` applied, and stopped at the end of the session.
- ``kubeconfig``: path of its admin kubeconfig.
- ``namespace``: a fresh namespace for one test, deleted afterwards; ``restricted``: the same,
  enforcing Pod Security's restricted profile.
- ``kubectl``: a function running kubectl against it (``kubectl("get", "pods", "-o", "json")``).

After every test, the logs of the operator and gateways the cluster tests started
(``tests.processes.SERVER_LOGS``) must hold no error line the test did not declare with
``@pytest.mark.expected_errors(r"regex", ...)`` (searched in the line's logger and message).

Binaries: ``KUBEBUILDER_ASSETS`` when it holds them all, else the pinned build of
``hack/build-control-plane.sh`` (built here when missing, unless CONFIGURABLE_AGENTS_NO_BUILD=1).
When they can be neither found nor built, the tests are skipped with the reason, or fail when
CONFIGURABLE_AGENTS_REQUIRE_CLUSTER is set (CI sets it). A control plane that is found but does not
start always fails. With CONFIGURABLE_AGENTS_KUBECONFIG set, the tests use that running cluster
(e.g. one from ``python3 hack/controlplane.py up``) instead of starting one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import SERVER_LOGS

REPO_ROOT = Path(__file__).resolve().parent.parent
CRDS_DIR = REPO_ROOT / "crds"


def _load_controlplane():
    name = "configurable_agents_hack_controlplane"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "hack" / "controlplane.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


controlplane = _load_controlplane()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs the real Kubernetes control plane (tests/kube_harness.py)"
    )
    config.addinivalue_line(
        "markers",
        "expected_errors(*patterns): error lines of the operator or a gateway this test provokes",
    )


#: Error lines every test may see: when the operator is stopped (SIGTERM: tests restart it with
#: other settings), asyncio reports kopf's cancelled watch generator at error level.
EXPECTED_EVERYWHERE = (
    r"^\[asyncio\] an error occurred during closing of asynchronous generator "
    r"<async_generator object infinite_watch",
)


@pytest.fixture(autouse=True)
def no_unexpected_error_lines(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if a server it used logged an error it did not declare (Strimzi's rule)."""
    yield
    declared = [p for marker in request.node.iter_markers("expected_errors") for p in marker.args]
    expected = [re.compile(pattern) for pattern in (*declared, *EXPECTED_EVERYWHERE)]
    if found := SERVER_LOGS.unexpected(expected):
        pytest.fail(
            "unexpected error lines in the servers' logs (declare expected ones with "
            "@pytest.mark.expected_errors):\n" + "\n".join(found[:20]),
            pytrace=False,
        )


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class ExternalCluster:
    """A cluster someone else runs (CONFIGURABLE_AGENTS_KUBECONFIG): same surface as ControlPlane."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.bin_dir = controlplane.find_binaries()
        self.workdir = None
        self.version = None
        self.node_name = controlplane.NODE_NAME

    @property
    def kubectl(self) -> str:
        own = self.bin_dir / "kubectl" if self.bin_dir else None
        return (
            str(own) if own and os.access(own, os.X_OK) else (shutil.which("kubectl") or "kubectl")
        )

    def stop(self) -> None:
        pass


def _unavailable(reason: str) -> None:
    if _truthy("CONFIGURABLE_AGENTS_REQUIRE_CLUSTER"):
        pytest.fail(
            f"Kubernetes control plane required (CONFIGURABLE_AGENTS_REQUIRE_CLUSTER) but {reason}",
            pytrace=False,
        )
    pytest.skip(f"no Kubernetes control plane: {reason}")


_prepared: dict[str, Path | str] = {}


def _prepare_binaries(config: pytest.Config | None = None) -> Path | str:
    """The folder of control-plane binaries, built when missing; or why there is none.

    Run once per process, from ``pytest_collection_finish`` when a collected test needs the
    control plane, so a cold build (minutes) is not counted in any test's timeout.
    """
    if "result" in _prepared:
        return _prepared["result"]
    found = controlplane.find_binaries()
    result: Path | str
    if found:
        result = found
    elif _truthy("CONFIGURABLE_AGENTS_NO_BUILD"):
        result = (
            "its binaries are not built and CONFIGURABLE_AGENTS_NO_BUILD is set "
            "(build them with `python3 hack/controlplane.py build`)"
        )
    else:
        log = Path(tempfile.mkdtemp(prefix="ca-control-plane-build-")) / "build.log"
        reporter = config.pluginmanager.get_plugin("terminalreporter") if config else None
        message = (
            "kube_harness: building the Kubernetes control plane from pinned Go modules "
            f"(about 10 minutes the first time; log: {log})"
        )
        if reporter is not None:
            reporter.write_line(message)
        else:
            sys.stderr.write(message + "\n")
        try:
            result = controlplane.build_binaries(log_file=log, with_helm=False)
        except controlplane.ControlPlaneError as e:
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            result = f"its binaries could not be built ({e}):\n" + "\n".join(tail)
    _prepared["result"] = result
    return result


def pytest_collection_finish(session: pytest.Session) -> None:
    if os.environ.get("CONFIGURABLE_AGENTS_KUBECONFIG"):
        return
    if any("control_plane" in getattr(item, "fixturenames", ()) for item in session.items):
        _prepare_binaries(session.config)


def run_kubectl(
    cp, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run kubectl against ``cp`` and return the completed process (text mode)."""
    env = dict(os.environ, KUBECONFIG=str(cp.kubeconfig))
    proc = subprocess.run(
        [cp.kubectl, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
        )
    return proc


def _apply_crds(cp) -> None:
    if not CRDS_DIR.is_dir():
        return
    files = sorted(p for p in CRDS_DIR.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        return
    args = ["apply", "--server-side", "--force-conflicts"]
    for f in files:
        args += ["-f", str(f)]
    run_kubectl(cp, *args)
    run_kubectl(cp, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest):
    """The session's Kubernetes control plane (see the module docstring)."""
    external = os.environ.get("CONFIGURABLE_AGENTS_KUBECONFIG")
    if external:
        cp = ExternalCluster(external)
        _apply_crds(cp)
        yield cp
        return
    bin_dir = _prepare_binaries(request.config)
    if isinstance(bin_dir, str):
        _unavailable(bin_dir)
    cp = controlplane.ControlPlane(bin_dir=bin_dir)
    try:
        cp.start()
    except controlplane.ControlPlaneError as e:
        pytest.fail(
            f"the Kubernetes control plane did not start: {e}\n(working folder kept: {cp.workdir})",
            pytrace=False,
        )
    try:
        _apply_crds(cp)
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane) -> str:
    """Path of an admin (system:masters) kubeconfig for the control plane."""
    return str(control_plane.kubeconfig)


@pytest.fixture
def kubectl(control_plane) -> Callable[..., subprocess.CompletedProcess]:
    """``kubectl(*args, stdin=None, check=True)`` against the control plane."""

    def _run(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 120):
        return run_kubectl(control_plane, *args, stdin=stdin, check=check, timeout=timeout)

    return _run


def _namespace_name(nodeid: str) -> str:
    test = nodeid.rsplit("::", 1)[-1]
    slug = re.sub(r"[^a-z0-9-]+", "-", test.lower()).strip("-")[:40].strip("-") or "test"
    return f"t-{slug}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(control_plane, request: pytest.FixtureRequest) -> str:
    """A fresh namespace for this test (with its default ServiceAccount), deleted afterwards."""
    name = _namespace_name(request.node.nodeid)
    run_kubectl(control_plane, "create", "namespace", name)
    # Pods are refused until the namespace's default ServiceAccount exists: wait for it.
    deadline = time.monotonic() + 30
    while (
        run_kubectl(
            control_plane, "get", "serviceaccount", "default", "-n", name, "-o", "name", check=False
        ).returncode
        != 0
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"namespace {name}: no default ServiceAccount after 30s")
        time.sleep(0.1)
    yield name
    run_kubectl(
        control_plane,
        "delete",
        "namespace",
        name,
        "--wait=false",
        "--ignore-not-found",
        check=False,
    )


@pytest.fixture
def restricted(kubectl: Callable[..., subprocess.CompletedProcess], namespace: str) -> str:
    """The test's namespace, enforcing Pod Security's restricted profile at its latest version."""
    kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    return namespace


def kube_json(cp, *args: str) -> dict:
    """``kubectl ... -o json`` decoded."""
    return json.loads(run_kubectl(cp, *args, "-o", "json").stdout)


def token_kubeconfig(cp, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates only as a ServiceAccount (a fresh token), to test RBAC."""
    token = run_kubectl(
        cp, "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    cluster = json.loads(Path(cp.kubeconfig).read_text())["clusters"][0]["cluster"]
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": cluster}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "test", "user": account}}],
                "current-context": "c",
            }
        )
    )
    return path
