"""Kubernetes resource quantities as Compose writes limits: ``cpus`` and ``memory``.

Kubernetes' ``500M`` is decimal and Docker's ``500M`` binary, so memory is converted through
bytes rather than by renaming suffixes.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_QUANTITY = re.compile(r"(?P<number>[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)(?P<suffix>[a-zA-Z]*)")
_FACTORS: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}
MIB = 1 << 20


def quantity(text: str | int | float) -> Decimal:
    """The value of a quantity such as ``500m``, ``2`` or ``1Gi`` (the spec checked its form)."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if not match or match["suffix"] not in _FACTORS:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return Decimal(match["number"]) * _FACTORS[match["suffix"]]


def compose_resources(resources: dict[str, Any]) -> dict[str, Any]:
    """A pod's ``requests``/``limits`` as Compose's ``deploy.resources`` (``reservations`` and
    ``limits``, cpu and memory only: Compose has no other kinds)."""
    out: dict[str, Any] = {}
    for section, target in (("limits", "limits"), ("requests", "reservations")):
        amounts = resources.get(section) or {}
        converted: dict[str, str] = {}
        if "cpu" in amounts:
            converted["cpus"] = format(quantity(amounts["cpu"]).normalize(), "f")
        if "memory" in amounts:
            size = int(quantity(amounts["memory"]).to_integral_value())
            converted["memory"] = f"{size // MIB}M" if size % MIB == 0 else f"{size}b"
        if converted:
            out[target] = converted
    return out
