"""Defects the API fuzz test (test_api_fuzz.py) found, each pinned by a plain request."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import GatewayProcess

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
