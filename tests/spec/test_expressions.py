"""The state fields and other names a branch condition reads, from its syntax tree."""

from __future__ import annotations

import pytest

from agent_runtime.spec.expressions import ExpressionError, referenced_fields


@pytest.mark.parametrize(
    ("source", "fields", "others"),
    [
        ("state.approved == true", {"approved"}, set()),
        ('state["needs-review"] && state.score > 0.5', {"needs-review", "score"}, set()),
        ("state['it\\x41'] == 1", {"itA"}, set()),  # escapes decoded as CEL does
        ("has(state.draft) && (state).notes != ''", {"draft", "notes"}, set()),
        ("state.report.summary.size() > 0", {"report"}, set()),
        # Text that looks like a reference is no reference.
        ('state.a == "state.b" || r"""state.c""" == state.d', {"a", "d"}, set()),
        # ``state`` as some other value's member is not the run's state.
        ("x.state.w == 1", set(), {"x"}),
        # A macro's variable is bound in its body, even when it is called state.
        ("state.items.exists(i, i.done == ok)", {"items"}, {"ok"}),
        ("state.items.all(state, state.done)", {"items"}, set()),
        ("state.items.map(x, x > 1, x * 2) == [2]", {"items"}, set()),
        ("[1, 2].exists(v, v == state.n) && v > 0", {"n"}, {"v"}),
        # An index that is not a literal names no field; its variables are others.
        ("state[key] == 1", set(), {"key"}),
        ("approved == true && size(state) > 0", set(), {"approved"}),
        (".approved == true || .state.a", set(), {".approved", ".state"}),
        ("Check{ok: state.ok}.ok", {"ok"}, set()),
    ],
)
def test_fields_and_other_names_come_from_the_syntax_tree(
    source: str, fields: set[str], others: set[str]
) -> None:
    assert referenced_fields(source) == (fields, others)


@pytest.mark.parametrize("source", ["state.approved ==", "state.x.?y", "state.a == 5."])
def test_a_condition_that_does_not_parse_says_so(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"^CEL does not parse: "):
        referenced_fields(source)
