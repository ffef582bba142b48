"""Function patterns: matched on the path's text, with no wildcard that crosses a dot."""

from __future__ import annotations

import pytest

from agent_runtime.policy import FunctionPattern, ToolPolicy


@pytest.mark.parametrize(
    ("pattern", "path", "allowed"),
    [
        ("*", "subprocess:getoutput", True),
        ("pkg.mod:fn", "pkg.mod:fn", True),
        ("pkg.mod:fn", "pkg.mod:other", False),
        ("pkg.mod:fn", "pkg.mod2:fn", False),
        ("pkg.mod:Cls.run", "pkg.mod:Cls.run", True),
        ("pkg.mod:*", "pkg.mod:fn", True),
        ("pkg.mod:*", "pkg.mod:os.system", False),  # never through a module it imported
        ("pkg.mod:*", "pkg.mod.sub:fn", False),
        ("pkg.*", "pkg.mod:fn", True),
        ("pkg.*", "pkg.a.b.c:fn", True),
        ("pkg.*", "pkg:fn", False),  # the package itself needs pkg:*
        ("pkg.*", "pkgevil.mod:fn", False),
        ("pkg.*", "pkg_evil.mod:fn", False),
        ("pkg.*", "pkg.mod:os.system", False),
        ("pkg:*", "pkg:fn", True),
        ("*", "..pkg:fn", False),  # not an import path at all
        ("*", ".pkg:fn", False),
        ("*", "pkg.:fn", False),
    ],
)
def test_matches(pattern: str, path: str, allowed: bool) -> None:
    policy = ToolPolicy(allowed_functions=[pattern])
    assert (policy.function_refusal(path) is None) is allowed


@pytest.mark.parametrize(
    "bad", ["pkg*", "pkg.*.mod", "*:fn", "pkg.mod:f*", "pkg.**", "", "pkg..mod:fn", "os.sys tem"]
)
def test_other_wildcards_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a function pattern"):
        FunctionPattern.parse(bad)


def test_refusal_names_the_rule_and_what_is_allowed() -> None:
    refusal = ToolPolicy(allowed_functions=["a.b:c"]).function_refusal("subprocess:getoutput")
    assert refusal == (
        "'subprocess:getoutput' is not allowed by the platform tool policy "
        "(allowedFunctions: a.b:c; patterns are pkg.module:function, pkg.module:*, pkg.* or *)"
    )
    assert "allowedFunctions: none" in str(ToolPolicy.cluster().function_refusal("a:b"))
