"""Defects found fuzzing the Runs API, each pinned by a plain request: by schemathesis
(test_api_fuzz.py: a body not UTF-8, a 405 without Allow) and by probing what it does not
generate (lone surrogates, NUL, numbers beyond the store's, "²", bodies nested too deeply)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.gateway.conftest import GatewayProcess

LINEAR = "/v1/workflows/default/linear-chain/runs"
NOT_UTF8 = b"\x0f\x0c\xff\xfeI\xc0\xc1nI"


@pytest.mark.parametrize(
    "path", ["/v1/workflows/default/linear-chain/runs", "/v1/runs/some-run/resume"]
)
def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(
    gateway: GatewayProcess, path: str
) -> None:
    with gateway.client() as client:
        answer = client.post(path, content=NOT_UTF8, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"] == [{"field": "body", "message": "not JSON (UTF-8)"}]


@pytest.mark.parametrize(
    ("headers", "params", "field"),
    [
        ({"Last-Event-ID": "\xb2"}, {}, "Last-Event-ID"),  # isdigit() says yes, int() says no
        ({"Last-Event-ID": "9" * 30}, {}, "Last-Event-ID"),  # beyond the store's integers
        ({"Last-Event-ID": "9" * 5000}, {}, "Last-Event-ID"),  # beyond int()'s digits
        ({}, {"after": "9" * 30}, "query.after"),
    ],
)
def test_an_event_number_that_is_no_number_or_too_large_is_a_422(
    gateway: GatewayProcess, headers: dict[str, str], params: dict[str, str], field: str
) -> None:
    with gateway.client() as client:
        run_id = client.post(LINEAR, json={"input": {"topic": "x"}, "wait": True}).json()["id"]
        encoded = {k: v.encode("latin-1") for k, v in headers.items()}
        answer = client.get(f"/v1/runs/{run_id}/events", headers=encoded, params=params)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["field"] == field
        ok = client.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "1"})
        assert ok.status_code == 200 and "run.finished" in ok.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (LINEAR, rb'{"input": {"topic": "\ud800"}}', "input.topic"),
        (LINEAR, rb'{"input": {"topic": "x"}, "idempotencyKey": "k\udfff"}', "idempotencyKey"),
        (LINEAR, rb'{"input": {"\udc00": "x"}}', "input.\\udc00"),
        ("/v1/runs/some-run/approve", rb'{"approved": true, "reason": "\ud800"}', "reason"),
        ("/v1/runs/some-run/resume", rb'{"input": {"a": ["\ud800"]}}', "input.a[0]"),
    ],
)
def test_a_lone_surrogate_in_a_body_is_a_422_naming_where(
    gateway: GatewayProcess, path: str, body: bytes, field: str
) -> None:
    """Valid JSON, but no text that can be stored: was a 500 from deep in the store."""
    with gateway.client() as client:
        answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"] == [
            {"field": field, "message": "not valid Unicode text"}
        ]
        # a pair of surrogates is one character (an emoji), and welcome
        emoji = rb'{"input": {"topic": "\ud83d\ude00"}}'
        paired = client.post(LINEAR, content=emoji, headers={"Content-Type": "application/json"})
        assert paired.status_code == 202, paired.text


def test_a_body_nested_too_deeply_is_a_422(gateway: GatewayProcess) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with gateway.client() as client:
        answer = client.post(LINEAR, content=deep, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"] == [{"field": "body", "message": "nested too deeply"}]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/healthz", "GET"),
        ("DELETE", "/v1/runs/some-run", "GET"),
        ("PUT", "/v1/runs/some-run/cancel", "POST"),
    ],
)
def test_a_method_not_allowed_is_a_405_with_allow(
    gateway: GatewayProcess, method: str, path: str, allowed: str
) -> None:
    with gateway.client() as client:
        answer = client.request(method, path)
    assert answer.status_code == 405, answer.text
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert allowed in [m.strip() for m in answer.headers["Allow"].split(",")]


NUL_CASES = [
    ("GET", "/v1/runs/a%00b", {}, None, "path.run_id"),
    ("POST", "/v1/runs/a%00b/cancel", {}, None, "path.run_id"),
    ("GET", "/v1/runs", {"workflow": "default/a\x00b"}, None, "query.workflow"),
    ("GET", "/v1/runs", {"createdBy": "\x00"}, None, "query.createdBy"),
    ("POST", LINEAR, {}, rb'{"input": {"topic": "a\u0000b"}}', "input.topic"),
    (
        "POST",
        LINEAR,
        {},
        rb'{"input": {"topic": "x"}, "idempotencyKey": "\u0000"}',
        "idempotencyKey",
    ),
]


def _nul_is_refused(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        for method, path, params, body, field in NUL_CASES:
            answer = client.request(
                method,
                path,
                params=params,
                content=body,
                headers={"Content-Type": "application/json"},
            )
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["error"]["details"] == [
                {"field": field, "message": "holds a NUL character (U+0000)"}
            ], answer.text


def test_a_nul_character_is_a_422_naming_where(gateway: GatewayProcess) -> None:
    """Stores differ (SQLite keeps it); the API refuses it alike on every one."""
    _nul_is_refused(gateway)


def test_a_nul_character_is_a_422_on_postgres_not_a_503(
    start_gateway: Callable[..., GatewayProcess], postgres_url: str
) -> None:
    """PostgreSQL's text and jsonb refuse NUL: its error was a 503 store_unavailable."""
    _nul_is_refused(start_gateway(postgres_url))
