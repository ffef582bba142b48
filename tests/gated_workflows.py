"""Approval-gated Workflows shared by the CLI, API and dashboard tests of approvals."""

from __future__ import annotations

#: Two calls in one round: ``charge`` gated on the tool, ``refund`` by the node; both run
#: ``tests.counting_tools:record`` (counted per label).
PAY_TWO = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: pay}
spec:
  state: {out: {type: string}}
  output: [out]
  models:
    m:
      provider: scripted
      responses:
        - toolCalls:
            - {name: charge, args: {label: charged}}
            - {name: refund, args: {label: refunded}}
  tools:
    - {name: charge, function: "tests.counting_tools:record", requireApproval: true}
    - {name: refund, function: "tests.counting_tools:record"}
  nodes:
    - {name: pay, type: llm, model: m, prompt: go, tools: [charge, refund],
       requireApproval: [refund], output: out}
  edges: [{from: START, to: pay}, {from: pay, to: END}]
"""

#: One gated call (``charge`` with the label ``charged``), in the Workflow ``pay``.
PAY_ONE = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: pay}
spec:
  state: {out: {type: string}}
  output: [out]
  models:
    m:
      provider: scripted
      responses: [{toolCalls: [{name: charge, args: {label: charged}}]}]
  tools: [{name: charge, function: "tests.counting_tools:record", requireApproval: true}]
  nodes:
    - {name: pay, type: llm, model: m, prompt: go, tools: [charge], output: out}
  edges: [{from: START, to: pay}, {from: pay, to: END}]
"""
