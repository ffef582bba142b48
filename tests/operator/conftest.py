"""The operator fixture lives in tests/operator_harness.py, shared with the gateway's cluster tests."""

from tests.operator_harness import OperatorProcess, eventually

__all__ = ["OperatorProcess", "eventually"]
