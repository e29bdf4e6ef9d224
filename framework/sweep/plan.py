"""What a sweep runs: the grid (parsed and checked before any work starts), times the seeds, as run specs."""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import did_you_mean
from ..strategy import Strategy, StrategyError


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a grid point, a seed, and the run directory's name (relative to the sweep's DIR)."""

    point: tuple[tuple[str, Any], ...]  # (key, value) of each grid key, in grid order
    seed: int  # the run's seed (the strategy's own unless --seeds gave one)
    name: str
    overrides: dict = field(default_factory=dict, hash=False, compare=False)  # point + seed + fixed --set values
    baseline: bool | None = None  # True for a --baseline run, False for a grid run of a sweep with a baseline

    @property
    def point_dict(self) -> dict[str, Any]:
        return dict(self.point)


def parse_grid(items: list[str] | None) -> dict[str, list]:
    """``["model=['lstm','gru']", "window=[20,60]"]`` -> {"model": ["lstm", "gru"], "window": [20, 60]}."""
    grid: dict[str, list] = {}
    for item in items or []:
        if "=" not in item:
            raise StrategyError(f"--grid expects KEY=LIST, got {item!r}")
        key, text = (part.strip() for part in item.split("=", 1))
        try:
            values = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise StrategyError(f"--grid {key}: {text!r} is not a Python literal list, e.g. {key}=[1, 2]") from None
        if not isinstance(values, (list, tuple)):
            raise StrategyError(f"--grid {key}: {text!r} is not a list; write {key}=[{text}] for one value")
        if key in grid:
            raise StrategyError(f"--grid {key} is given twice")
        grid[key] = list(values)
    return grid


def parse_baseline(items: list[str] | None) -> dict[str, Any]:
    """``["model=linear", "window=20"]`` -> {"model": "linear", "window": 20}: one value per key, a Python literal
    when it parses as one (``--set``'s rule), so ``model=linear`` needs no quotes and a list is one value."""
    from ..strategy import parse_value

    baseline: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise StrategyError(f"--baseline expects KEY=VALUE, got {item!r}")
        key, text = (part.strip() for part in item.split("=", 1))
        if key in baseline:
            raise StrategyError(f"--baseline {key} is given twice")
        baseline[key] = parse_value(text)
    return baseline


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` -> [0, 1, 2]; None -> None (the strategy's own seed)."""
    if text is None:
        return None
    try:
        seeds = [int(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise StrategyError(f"--seeds expects integers separated by commas, e.g. 0,1,2; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise StrategyError(f"--seeds needs distinct integers, got {text!r}")
    if min(seeds) < 0:
        raise StrategyError(f"--seeds must be integers >= 0, got {text!r}")
    return seeds


def plan_runs(strategy: type[Strategy], grid: dict[str, list], seeds: list[int] | None,
              overrides: dict | None = None) -> list[RunSpec]:
    """The Cartesian product of the grid times the seeds, each checked as a strategy before any work starts."""
    overrides = dict(overrides or {})
    names = strategy.param_names()
    for key, values in grid.items():
        if key not in names:
            raise StrategyError(f"--grid {key}: not a strategy parameter.{did_you_mean(key, names)}")
        if not values:
            raise StrategyError(f"--grid {key}: the list is empty")
        if key == "seed" and seeds is not None:
            raise StrategyError("give seeds with --seeds or --grid seed=[...], not both")
    if "seed" in overrides and seeds is not None:
        raise StrategyError("give seeds with --seeds or --set seed=..., not both")
    specs = []
    for values in itertools.product(*grid.values()) if grid else [()]:
        point = tuple(zip(grid, values))
        for seed in seeds if seeds is not None else [None]:
            params = {**overrides, **dict(point), **({} if seed is None else {"seed": seed})}
            checked = strategy(**params)  # the whole configuration is valid, or the sweep stops here
            specs.append(RunSpec(point, checked.seed, run_name(point, seed), params))
    if len({s.name for s in specs}) != len(specs):
        raise StrategyError("two runs of the grid would share a run directory (repeated grid values?)")
    return specs


def baseline_specs(strategy: type[Strategy], baseline: dict[str, Any], grid_keys: list[str], seeds: list[int] | None,
                   overrides: dict | None = None) -> list[RunSpec]:
    """The reference point's runs, on the sweep's seeds: the strategy with the fixed ``--set`` values and then the
    baseline's. A baseline that changes ``model`` starts from that model's defaults (``model_params={}``) unless it
    gives ``model_params`` too: the strategy's were written for its own model. Each spec's point holds the value
    the baseline uses for each grid key, so the results table has every column filled."""
    overrides = dict(overrides or {})
    names = strategy.param_names()
    for key in baseline:
        if key not in names:
            raise StrategyError(f"--baseline {key}: not a strategy parameter.{did_you_mean(key, names)}")
    if "seed" in baseline or "seeds" in baseline:
        raise StrategyError("--baseline runs on the sweep's seeds: give no seed or seeds in it")
    params = {**overrides, **baseline}
    if "model" in baseline and "model_params" not in baseline and baseline["model"] != strategy(**overrides).model:
        params["model_params"] = {}
    label = ",".join(f"{k}={_short(v)}" for k, v in baseline.items())
    specs = []
    for seed in seeds if seeds is not None else [None]:
        run_params = {**params, **({} if seed is None else {"seed": seed})}
        checked = strategy(**run_params)  # a baseline the strategy refuses stops the sweep before any work
        point = tuple((k, getattr(checked, k)) for k in grid_keys)
        name = run_name((("baseline", label),), seed)
        specs.append(RunSpec(point, checked.seed, name, run_params, baseline=True))
    return specs


def run_name(point: tuple[tuple[str, Any], ...], seed: int | None) -> str:
    """A folder name for a run: key-value pairs then the seed, safe on every file system."""
    parts = [f"{k}={_short(v)}" for k, v in point] + ([f"seed={seed}"] if seed is not None else [])
    name = "".join(c if c.isalnum() or c in "=,._-" else "_" for c in ",".join(parts) or "run")
    if len(name) <= 180:
        return name
    # Too long for a folder name (a grid of whole dicts): cut it, and keep it unique with a digest of the full name.
    return f"{name[:168]}-{hashlib.sha256(name.encode()).hexdigest()[:11]}"


def _short(value: Any) -> str:
    if isinstance(value, str):
        return value
    if callable(value):
        return label(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=label)


def label(value: Any) -> str:
    """A stable text for a grid value JSON cannot write (a function, a class, an object): its qualified name, with
    a digest of its code when the name alone is not unique (a lambda, a function made inside another)."""
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    module = getattr(value, "__module__", None) or type(value).__module__
    text = f"{module}.{name}" if module and module != "builtins" else name
    code = getattr(value, "__code__", None)
    if code is not None and "<" in name:
        digest = hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:8]
        text = f"{text}#{digest}"
    if not callable(value) and not isinstance(value, type):
        text = repr(value) if len(repr(value)) <= 80 and " at 0x" not in repr(value) else text
    return text


def cell(value: Any) -> Any:
    """A grid value as a results.parquet cell: itself (a number, a string, None), else its text: the Python literal
    of a list, tuple or dict, the qualified name of a function (``label``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple, dict)):
        return repr(value) if " at 0x" not in repr(value) else _short(value)
    return label(value)
