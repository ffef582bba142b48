"""One table of codes -> HTTP statuses: every code the source names is in it, every answer that
names a status with its code agrees with it, and the CLI's exit status follows it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.cli.errors import EXIT_FAILED, EXIT_INVALID, exit_status
from agent_runtime.errors import HTTP_STATUS, AgentRuntimeError, http_status
from agent_runtime.kube import KubeConfigError, KubeError
from agent_runtime.spec.errors import SpecError
from agent_runtime.spec.expressions import ExpressionError
from agent_runtime.stores.errors import InvalidCursor
from agent_runtime.ui.client import GatewayError
from agent_runtime.ui.csrf import CsrfRejected, UiSecretError
from agent_runtime.ui.signin_settings import SignInSettingsError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "agent_runtime", ROOT / "operator" / "agents_operator"]
#: Stands for an answer that is not one of ours, with that answer's status.
PASSED_ON = "http_error"


def test_every_code_has_an_error_status() -> None:
    assert HTTP_STATUS, "the table is empty"
    for code, status in HTTP_STATUS.items():
        assert code == code.lower() and " " not in code, code
        assert 400 <= status < 600, (code, status)


def test_an_unknown_code_is_the_servers_failure() -> None:
    assert http_status("no_such_code") == 500


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _strings(node: ast.AST) -> list[str]:
    """The string constants a value can be: ``"a"``, or both of ``"a" if x else "b"``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def _named_code(node: ast.AST) -> list[str]:
    """Codes given by ``code = "x"`` (a class's, an instance's, a local's) or ``code="x"``."""
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        named = any(
            (isinstance(t, ast.Name) and t.id == "code")
            or (isinstance(t, ast.Attribute) and t.attr == "code")
            for t in targets
        )
        return _strings(node.value) if named else []
    if isinstance(node, ast.keyword) and node.arg == "code":
        return _strings(node.value)
    return []


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _codes_in_source() -> Iterator[tuple[str, str, int | None]]:
    """(where, code, status given with it or None) for every code the source names."""
    for path, module in _modules():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(module):
            for code in _named_code(node):
                yield f"{where}:{getattr(node, 'lineno', 0)}", code, None
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name, args = _callee(node), node.args
            if name in ("because", "http_status"):
                for code in _strings(args[0]):
                    yield f"{where}:{node.lineno}", code, None
            elif name in ("error", "GatewayError") and len(args) >= 2:
                first = args[0]
                status = first.value if isinstance(first, ast.Constant) else None
                status = status if isinstance(status, int) else None
                for code in _strings(args[1]):
                    yield f"{where}:{node.lineno}", code, status


def test_every_code_the_source_names_is_in_the_table() -> None:
    found = list(_codes_in_source())
    assert len({code for _, code, _ in found}) > 30, "the scan found too few codes"
    missing = [
        (where, code) for where, code, _ in found if code not in HTTP_STATUS and code != PASSED_ON
    ]
    assert missing == [], "codes missing from agent_runtime.errors.HTTP_STATUS"


def test_every_status_given_with_a_code_is_the_tables() -> None:
    given = [g for g in _codes_in_source() if g[2] is not None and g[1] != PASSED_ON]
    assert given, "no answer names its status"
    assert [g for g in given if HTTP_STATUS.get(g[1]) != g[2]] == []


def _classes(cls: type[AgentRuntimeError]) -> Iterator[type[AgentRuntimeError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _classes(sub)


def test_every_error_class_imported_has_a_code_of_the_table() -> None:
    classes = list(_classes(AgentRuntimeError))
    assert {KubeError, GatewayError, CsrfRejected, ExpressionError} <= set(classes)
    assert [c for c in classes if c.code not in HTTP_STATUS] == []


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (KubeError(409, "the object has been modified"), "kube_api_error", 502),
        (KubeConfigError("no Kubernetes credentials"), "command_failed", 500),
        (ExpressionError("CEL does not parse: x"), "invalid_spec", 422),
        (UiSecretError("too short"), "invalid_settings", 422),
        (SignInSettingsError("no issuer"), "invalid_settings", 422),
        (CsrfRejected("no token"), "csrf_rejected", 403),
        (InvalidCursor("not a cursor"), "invalid_cursor", 400),
        (GatewayError.because("workflow_not_found", "no workflow a/b"), "workflow_not_found", 404),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_the_errors_of_the_kube_spec_and_ui_layers_have_codes(
    exc: AgentRuntimeError, code: str, status: int
) -> None:
    assert isinstance(exc, AgentRuntimeError)
    assert exc.code == code and http_status(exc.code) == status


def test_what_was_caught_before_is_still_caught() -> None:
    assert issubclass(KubeError, RuntimeError) and issubclass(KubeConfigError, ValueError)
    assert issubclass(ExpressionError, ValueError) and issubclass(ExpressionError, SpecError)
    assert issubclass(UiSecretError, ValueError) and issubclass(SignInSettingsError, ValueError)
    assert str(ExpressionError("CEL does not parse: x")) == "CEL does not parse: x"


def test_a_refused_kube_request_is_retried_unless_it_is_malformed() -> None:
    assert KubeError(503, "unavailable").retryable and KubeError(409, "conflict").retryable
    assert KubeError(403, "forbidden").retryable  # permissions may be granted meanwhile
    assert not KubeError(422, "invalid").retryable and not KubeError(400, "bad").retryable
    assert KubeError(404, "gone").details == {"status": 404}


def test_the_gateways_own_answers_keep_the_status_of_their_answer() -> None:
    answered = GatewayError(418, "teapot", "short and stout")
    assert answered.status == 418 and answered.code == "teapot" and not answered.retryable
    assert GatewayError.because("gateway_unreachable", "down").retryable


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("invalid_spec", EXIT_INVALID),
        ("invalid_input", EXIT_INVALID),
        ("invalid_template", EXIT_INVALID),
        ("invalid_policy", EXIT_INVALID),
        ("invalid_request", EXIT_INVALID),
        ("invalid_cursor", EXIT_INVALID),
        ("run_not_found", EXIT_INVALID),
        ("thread_not_found", EXIT_INVALID),
        ("not_interrupted", EXIT_INVALID),
        ("interrupted", EXIT_INVALID),
        ("conflict", EXIT_INVALID),
        ("leased", EXIT_INVALID),
        ("unauthenticated", EXIT_FAILED),
        ("forbidden", EXIT_FAILED),
        ("rate_limited", EXIT_FAILED),
        ("store_unavailable", EXIT_FAILED),
        ("run_failed", EXIT_FAILED),
        ("command_failed", EXIT_FAILED),
        ("no_such_code", EXIT_FAILED),
    ],
)
def test_the_cli_exits_by_the_codes_status(code: str, status: int) -> None:
    assert exit_status(code) == status
