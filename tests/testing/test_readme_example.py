"""The README's "Testing your workflows" example runs as written."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO


def test_the_readme_example_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Testing your workflows", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    monkeypatch.chdir(REPO)  # the example names its Workflow relative to the repository
    names: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), names)
    tests = [f for name, f in names.items() if name.startswith("test_") and callable(f)]
    assert len(tests) == 1
    tests[0]()
