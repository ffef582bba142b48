"""Reading the tool policy from the environment of whatever executes tools, or from a file.

The process says which preset it starts from (``default``): ``run`` on a laptop passes ``local``,
everything else keeps ``cluster``. Then, each overriding the one before:

1. ``CONFIGURABLE_AGENTS_POLICY_PRESET`` (``local`` or ``cluster``), else the file's ``preset``;
2. the file named by ``CONFIGURABLE_AGENTS_POLICY_FILE`` (YAML or JSON: ``preset``,
   ``allowedFunctions``, ``egressAllow``, ``allowLoopback``, ``allowPrivate``; its ``budgets``
   are the gateway's namespace budgets, read by ``budgets.load_budget_policy``);
3. ``CONFIGURABLE_AGENTS_POLICY_ALLOWED_FUNCTIONS`` and ``..._EGRESS_ALLOW`` (comma-separated, or
   a JSON list), ``..._ALLOW_LOOPBACK`` and ``..._ALLOW_PRIVATE`` (true or false).

A setting left out keeps the preset's value. Every mistake is a PolicyError of one line naming
the variable or the file and field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError

from agent_runtime.policy.model import SETTING_NAMES, PolicyError, Preset, ToolPolicy
from agent_runtime.spec.errors import join_path

POLICY_ENV_PREFIX = "CONFIGURABLE_AGENTS_POLICY_"
FILE_VARIABLE = f"{POLICY_ENV_PREFIX}FILE"
PRESET_VARIABLE = f"{POLICY_ENV_PREFIX}PRESET"
#: Environment variable of each policy setting (by its file key).
ENV_VARIABLES = {
    alias: f"{POLICY_ENV_PREFIX}{field.upper()}" for field, alias in SETTING_NAMES.items()
}
_LISTS = {"allowedFunctions", "egressAllow"}
#: The file's key of the namespace budgets (``policy.budgets``), read by the gateway only.
BUDGETS_KEY = "budgets"
_PRESETS: tuple[str, ...] = get_args(Preset)


def load_policy(
    environ: Mapping[str, str] | None = None, *, default: Preset = "cluster"
) -> ToolPolicy:
    """The policy the environment sets, starting from the ``default`` preset."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for alias, variable in ENV_VARIABLES.items():
        raw = env.get(variable)
        if raw is not None and raw.strip():
            values[alias] = split_setting(raw) if alias in _LISTS else raw.strip()
    preset = env.get(PRESET_VARIABLE, "").strip() or None
    if preset is not None and preset not in _PRESETS:
        raise PolicyError(f"{PRESET_VARIABLE}: expected local or cluster, got {preset!r}")
    return policy_from(
        default=default,
        preset=preset,  # type: ignore[arg-type]
        file=env.get(FILE_VARIABLE, "").strip() or None,
        values=values,
        names={alias: variable for alias, variable in ENV_VARIABLES.items()},
    )


def policy_from(
    *,
    default: Preset = "cluster",
    preset: Preset | None = None,
    file: str | Path | None = None,
    values: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> ToolPolicy:
    """The ``preset`` (else the file's, else ``default``) with the file's settings, then ``values``.

    ``values`` are keyed by the file's names (``allowedFunctions``...); ``names`` says how to call
    each in a message (a variable or a flag).
    """
    settings = read_policy_file(file) if file is not None else {}
    settings.pop(BUDGETS_KEY, None)
    from_file = settings.pop("preset", None)
    if from_file is not None and from_file not in _PRESETS:
        raise PolicyError(f"{file}: preset: expected local or cluster, got {from_file!r}")
    chosen = preset or from_file or default
    merged = ToolPolicy.preset(chosen).model_dump(by_alias=True)
    if settings:
        merged.update(settings)
        _validate(merged, lambda path: f"{file}: {path}")
    merged.update(values or {})
    where = dict(names or {})
    return _validate(merged, lambda path: _named(path, where))


def _validate(data: dict[str, Any], where: Any) -> ToolPolicy:
    try:
        return ToolPolicy.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        path = join_path(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            names = ", ".join(SETTING_NAMES.values())
            message = f"unknown setting (expected {names}, preset or {BUDGETS_KEY})"
        raise PolicyError(f"{where(path)}: {message}") from None


def _named(path: str, names: Mapping[str, str]) -> str:
    head, _, rest = path.partition("[")
    name = names.get(head, head)
    return f"{name}[{rest}" if rest else name


def read_policy_file(file: str | Path) -> dict[str, Any]:
    """The settings of a policy file (a mapping), or a PolicyError naming the file."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{file}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{file}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{file}: not YAML or JSON: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"{file}: expected a mapping of policy settings")
    return dict(data)


def split_setting(raw: str) -> list[str] | Any:
    """A list setting from one string: comma-separated, or a JSON list."""
    text = raw.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return [part.strip() for part in text.split(",") if part.strip()]
