"""Which Python callables the platform lets Workflows name as ``function`` tools.

A pattern is one of:

- ``*``: any function (the local preset);
- ``pkg.module:name``: exactly that attribute path (``pkg.module:Class.method`` too);
- ``pkg.module:*``: any top-level name of that module, never a dotted path, so
  ``pkg.module:os.system`` is not matched even when ``pkg.module`` imports ``os``;
- ``pkg.*``: any top-level name of any module under ``pkg`` (``pkg.a``, ``pkg.a.b``), not of
  ``pkg`` itself (``pkg:*`` says that).

Patterns are matched on the text of the import path, so a refused module is never imported.
No other wildcard is accepted: ``fnmatch``'s ``*`` would cross dots and let ``pkg*`` match
``pkg_evil``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[^\W\d]\w*"
_DOTTED = rf"{_NAME}(?:\.{_NAME})*"
_PATH = re.compile(rf"^(?P<module>{_DOTTED}):(?P<attr>{_DOTTED})$")
_PATTERN = re.compile(
    rf"^(?:(?P<any>\*)|(?P<package>{_DOTTED})\.\*|(?P<module>{_DOTTED}):(?P<attr>\*|{_DOTTED}))$"
)
PATTERN_FORMS = "pkg.module:function, pkg.module:*, pkg.* or *"


@dataclass(frozen=True)
class FunctionPattern:
    """One parsed pattern; ``matches`` decides on the text of a ``module:attr`` path."""

    text: str
    package: str | None = None
    module: str | None = None
    attr: str | None = None  # "*" for any top-level name

    @classmethod
    def parse(cls, text: str) -> FunctionPattern:
        found = _PATTERN.fullmatch(text.strip())
        if found is None:
            raise ValueError(f"{text!r} is not a function pattern (use {PATTERN_FORMS})")
        return cls(
            text=text.strip(),
            package=found["package"],
            module=found["module"],
            attr=found["attr"],
        )

    def matches(self, path: str) -> bool:
        found = _PATH.fullmatch(path)
        if found is None:
            return False
        module, attr = found["module"], found["attr"]
        if self.package is None and self.module is None:
            return True  # "*"
        if self.package is not None:
            return module.startswith(self.package + ".") and "." not in attr
        if module != self.module:
            return False
        return "." not in attr if self.attr == "*" else attr == self.attr


def well_formed(path: str) -> bool:
    """Whether ``path`` is ``module:attr`` with dotted identifiers (no empty or relative parts)."""
    return _PATH.fullmatch(path) is not None
