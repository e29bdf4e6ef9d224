"""The search space: ``--space "K=DIST"`` items parsed into distributions, checked before any run starts.

``lr=loguniform(1e-4,1e-2)``, ``dropout=uniform(0,0.5)``, ``hidden_size=int(16,128,log)``, ``window=int(5,40)``,
``model=choice('lstm','gru')``. A key is a strategy parameter (``window``, ``model``) or an entry of a dict
parameter (``model_params.lr``, ``portfolio_params.k``), merged into the strategy's dict as a sweep's
``--set model_params={...}`` would be. Values are Python literals, parsed as ``--grid`` and ``--set`` parse them.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..registry import did_you_mean
from ..strategy import Strategy, StrategyError

KINDS = ("uniform", "loguniform", "int", "choice")
#: Parameters tune sets itself (the selection span, the seeds, the data): not searchable.
RESERVED = {"test_start": "the selection span is --select START..END", "test_end": "the selection span is --select",
            "seed": "the seeds are --seeds", "seeds": "the seeds are --seeds",
            "data": "the data is --data or the strategy's own"}
DICT_PARAMS = ("model_params", "portfolio_params")


@dataclass(frozen=True)
class Dist:
    """One searched parameter: its key, kind, bounds (uniform, loguniform, int) or choices, and the text given."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple = ()
    text: str = ""

    def optuna(self) -> Any:
        """The optuna distribution (a choice of values optuna cannot store is stored as the values' literals)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        if self.kind == "choice":
            return CategoricalDistribution([_storable(c) for c in self.choices])
        return FloatDistribution(float(self.low), float(self.high), log=self.kind == "loguniform")

    def value(self, stored: Any) -> Any:
        """A sampled value as the strategy takes it (the literal of a stored choice read back)."""
        if self.kind == "choice":
            for c in self.choices:
                if _storable(c) == stored:
                    return c
        if self.kind == "int":
            return int(stored)
        if self.kind in ("uniform", "loguniform"):
            return float(stored)
        return stored

    def extremes(self) -> list:
        """The values each checked before any run: both bounds, or every choice."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


def _storable(value: Any) -> Any:
    """optuna stores None, bool, int, float and str choices; anything else as its Python literal."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)


def parse_space(items: list[str] | None, strategy: type[Strategy], model_keys: Mapping[str, list[str]] | None = None,
                ) -> dict[str, Dist]:
    """``["lr=loguniform(1e-4,1e-2)", ...]`` -> {key: Dist}; a bad item is one StrategyError line.

    ``model_keys``: for a ``model_params.X`` key, the parameters of each model the search may use (checked here,
    with "did you mean"); None skips that check."""
    if not items:
        raise StrategyError('tune needs at least one --space "KEY=DIST", e.g. --space "window=int(5,40)"')
    space: dict[str, Dist] = {}
    for item in items:
        if "=" not in item:
            raise StrategyError(f"--space expects KEY=DIST, e.g. \"lr=loguniform(1e-4,1e-2)\"; got {item!r}")
        key, text = (part.strip() for part in item.split("=", 1))
        check_key(key, strategy, model_keys)
        if key in space:
            raise StrategyError(f"--space {key} is given twice")
        space[key] = parse_dist(key, text)
    dicts = {k.split(".", 1)[0] for k in space if "." in k}
    both = dicts & set(space)
    if both:
        name = sorted(both)[0]
        raise StrategyError(f"--space searches {name} and {name}.KEY together: search the entries, or the whole dict")
    return space


def check_key(key: str, strategy: type[Strategy], model_keys: Mapping[str, list[str]] | None) -> None:
    """A searchable key: a strategy parameter, or ``model_params.X`` / ``portfolio_params.X``."""
    names = strategy.param_names()
    head, dot, entry = key.partition(".")
    if key in RESERVED or head in RESERVED:
        raise StrategyError(f"--space {key}: not searchable here ({RESERVED[head]})")
    if dot:
        if head not in DICT_PARAMS:
            raise StrategyError(f"--space {key}: only model_params.KEY and portfolio_params.KEY take an entry."
                                f"{did_you_mean(head, DICT_PARAMS)}")
        if not entry:
            raise StrategyError(f"--space {key}: name the entry, e.g. {head}.lr")
        if head == "model_params" and model_keys is not None:
            for model, keys in model_keys.items():
                if entry in keys:
                    continue
                raise StrategyError(f"--space {key}: {entry!r} is not a parameter of model {model!r}."
                                    f"{did_you_mean(entry, keys)} Its parameters: {', '.join(sorted(keys))}")
        return
    if key not in names:
        entries = sorted({k for keys in (model_keys or {}).values() for k in keys})
        if key in entries:
            raise StrategyError(f"--space {key}: not a strategy parameter; the model's is written "
                                f"model_params.{key}")
        raise StrategyError(f"--space {key}: not a strategy parameter.{did_you_mean(key, names)}")


def parse_dist(key: str, text: str) -> Dist:
    """``loguniform(1e-4,1e-2)`` and the like as a Dist; a bad distribution names the forms it can take."""
    forms = "uniform(a,b), loguniform(a,b), int(a,b), int(a,b,log) or choice(x,y,...)"
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise StrategyError(f"--space {key}: {text!r} is not a distribution; write {forms}") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise StrategyError(f"--space {key}: {text!r} is not a distribution; write {forms}")
    kind = node.func.id
    if kind not in KINDS:
        raise StrategyError(f"--space {key}: unknown distribution {kind!r}.{did_you_mean(kind, KINDS)} "
                            f"Write {forms}")
    if node.keywords:
        raise StrategyError(f"--space {key}: {kind}() takes positional values only, e.g. {_example(kind)}")
    args = list(node.args)
    log = False
    if kind == "int" and args and isinstance(args[-1], ast.Name):
        if args[-1].id != "log":
            raise StrategyError(f"--space {key}: int(a,b,{args[-1].id}): the third value can only be log "
                                f"(e.g. {_example('int')}).{did_you_mean(args[-1].id, ['log'])}")
        log, args = True, args[:-1]
    try:
        values = [ast.literal_eval(a) for a in args]
    except ValueError:
        raise StrategyError(f"--space {key}: the values of {text!r} must be Python literals, e.g. "
                            f"{_example(kind)}") from None
    if kind == "choice":
        if not values:
            raise StrategyError(f"--space {key}: choice() needs at least one value, e.g. {_example(kind)}")
        if len({repr(v) for v in values}) != len(values):
            raise StrategyError(f"--space {key}: choice{tuple(values)!r} repeats a value")
        return Dist(key, kind, choices=tuple(values), text=text)
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise StrategyError(f"--space {key}: {kind}() takes two numbers, low and high, e.g. {_example(kind)}; "
                            f"got {text!r}")
    low, high = values
    if kind == "int" and not all(isinstance(v, int) for v in values):
        raise StrategyError(f"--space {key}: int() bounds must be integers, e.g. {_example(kind)}; got {text!r}")
    if not low < high:
        raise StrategyError(f"--space {key}: {text!r}: the low bound must be below the high one")
    if (kind == "loguniform" or log) and low <= 0:
        raise StrategyError(f"--space {key}: {text!r}: a log scale needs a low bound above 0")
    return Dist(key, kind, low, high, log=log or kind == "loguniform", text=text)


def _example(kind: str) -> str:
    return {"uniform": "uniform(0,0.5)", "loguniform": "loguniform(1e-4,1e-2)", "int": "int(16,128,log)",
            "choice": "choice('lstm','gru')"}[kind]


def overrides_for(values: Mapping[str, Any], base: Mapping[str, Any], strategy: type[Strategy]) -> dict[str, Any]:
    """The run's overrides: ``base`` (the --set values) with the trial's ``values``; ``model_params.lr`` is merged
    into the strategy's model_params (as --set gives it, else the class's)."""
    out = dict(base)
    for key, value in values.items():
        head, dot, entry = key.partition(".")
        if not dot:
            out[key] = value
            continue
        merged = dict(out.get(head, getattr(strategy, head)) or {})
        merged[entry] = value
        out[head] = merged
    return out


def describe(space: Mapping[str, Dist]) -> list[str]:
    """The space as the user wrote it: one ``KEY=DIST`` per searched parameter."""
    return [f"{d.key}={d.text}" for d in space.values()]
