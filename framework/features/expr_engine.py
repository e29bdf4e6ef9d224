"""Evaluate named factor expressions on a Panel into a (T, N, F) float32 FeatureSet.

``compile_expressions`` parses and checks them (no data needed: a strategy's are checked before any
data loads); ``evaluate`` computes them. Each distinct subexpression is computed once however many
factors share it, and dropped as soon as no factor left needs it, so memory holds the output plus a
few (T, N) intermediates, never every factor in float64. Factors are written one by one into
``out`` (allocated here, or the caller's preallocated array, e.g. an ``np.memmap``). Without a
cross-sectional operator the panel is cut into blocks of assets, evaluated on the run's threads (the numba
kernels release the GIL; blocks are independent, so the count changes no number) with cache-friendly
intermediates.

Qlib's series of an asset begin at its first data day: rows before an asset's first finite value (any
field) and after its last are not part of its series, and are NaN in the output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..registry import did_you_mean
from .expr_ops import Context, apply
from .expr_parse import ExpressionError, Node, fields_of, parse, uses_cross_section
from .sets import FeatureSet

#: Assets per block when no operator needs the whole cross-section.
BLOCK = 64


@dataclass(frozen=True)
class Program:
    """Checked expressions: factor names, their trees, the fields they read, whether any is cross-sectional."""

    names: tuple[str, ...]
    roots: tuple[Node, ...]
    texts: tuple[str, ...]
    where: str

    @property
    def fields(self) -> set[str]:
        out: set[str] = set()
        for r in self.roots:
            out |= fields_of(r)
        return out

    @property
    def cross_sectional(self) -> bool:
        return any(uses_cross_section(r) for r in self.roots)

    def subset(self, names: list[str]) -> Program:
        """Only the named factors, in that order."""
        idx = [self.names.index(n) for n in names]
        return Program(tuple(self.names[k] for k in idx), tuple(self.roots[k] for k in idx),
                       tuple(self.texts[k] for k in idx), self.where)


def compile_expressions(expressions: Mapping[str, str], where: str = "expressions") -> Program:
    """Parse and check ``{name: expression}``; a bad one is an ExpressionError naming it and ``where``."""
    if not isinstance(expressions, Mapping):
        raise ExpressionError(f"{where} must be a dict {{name: expression}}, e.g. {{'ma5': 'Mean($close, 5)/$close'}};"
                              f" got {type(expressions).__name__}")
    names, roots, texts = [], [], []
    for name, text in expressions.items():
        if not isinstance(name, str) or not name.strip():
            raise ExpressionError(f"{where}: factor names must be non-empty strings, got {name!r}")
        names.append(name)
        roots.append(parse(text, name, where))
        texts.append(text)
    return Program(tuple(names), tuple(roots), tuple(texts), where)


def series_bounds(panel) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) per asset: the first and last row where any field is finite (start = T when none)."""
    seen = np.isfinite(panel.values).any(axis=2)
    T = seen.shape[0]
    any_seen = seen.any(axis=0)
    start = np.where(any_seen, seen.argmax(axis=0), T).astype(np.int64)
    end = np.where(any_seen, T - 1 - seen[::-1].argmax(axis=0), -1).astype(np.int64)
    return start, end


def evaluate(expressions: Mapping[str, str] | Program, panel, universe: np.ndarray | None = None,
             out: np.ndarray | None = None, *, where: str = "expressions", threads: int | None = None) -> FeatureSet:
    """The factors of ``expressions`` on ``panel`` as a FeatureSet (T, N, F) float32, NaN = missing.

    ``universe`` (T, N) bool is the point-in-time universe the cross-sectional operators rank within
    (default ``panel.eligible()``); ``out`` a preallocated (T, N, F) float32 array (or memmap) written factor
    by factor. ``threads`` (default: the run's pinned count, ``threads.pinned_threads()``, at most the CPUs)
    evaluates asset blocks in parallel: two runs side by side never use more threads than they were given.
    """
    program = expressions if isinstance(expressions, Program) else compile_expressions(expressions, where)
    missing = sorted(f for f in program.fields if not panel.has(f))
    if missing:
        name = next(n for n, r in zip(program.names, program.roots) if missing[0] in fields_of(r))
        raise ExpressionError(f"{program.where}[{name!r}]: data {panel.name!r} has no field ${missing[0]}."
                              f"{did_you_mean(missing[0], list(panel.fields))} Fields: "
                              f"{', '.join('$' + f for f in panel.fields)}")
    T, N = len(panel.dates), len(panel.assets)
    F = len(program.names)
    if out is None:
        out = np.empty((T, N, F), dtype=np.float32)
    elif out.shape != (T, N, F) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {(T, N, F)}, got {out.dtype} {out.shape}")
    start, end = series_bounds(panel)
    cs = program.cross_sectional
    if cs:
        universe = np.asarray(panel.eligible() if universe is None else universe, dtype=bool)
        if universe.shape != (T, N):
            raise ValueError(f"universe must be of shape {(T, N)}, got {universe.shape}")
    blocks = [np.arange(N)] if cs else [np.arange(k, min(k + BLOCK, N)) for k in range(0, N, BLOCK)]
    fields = {f: panel.fields.index(f) for f in program.fields}

    def run(cols: np.ndarray) -> None:
        sl = slice(int(cols[0]), int(cols[-1]) + 1)
        ctx = Context(start=start[sl], universe=universe[:, sl] if cs else None, rows=T)
        rows = np.arange(T)[:, None]
        outside = (rows < start[None, sl]) | (rows > end[None, sl])  # not part of the asset's series
        fields_block = {f: np.ascontiguousarray(panel.values[:, sl, k], dtype=np.float32) for f, k in fields.items()}
        _Evaluator(program, ctx, fields_block).run(out, sl, outside)

    from ..threads import pinned_threads

    workers = max(1, min(threads or pinned_threads(), os.cpu_count() or 1, len(blocks)))
    if workers == 1:
        for cols in blocks:
            run(cols)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, blocks))
    return FeatureSet(out, list(program.names))


class _Evaluator:
    """One pass over a program on one block: a cache of subexpressions, each dropped after its last use."""

    def __init__(self, program: Program, ctx: Context, fields: dict[str, np.ndarray]) -> None:
        self.program, self.ctx, self.fields = program, ctx, fields
        self.uses: dict[str, int] = {}  # key -> how many pending consumers (distinct parents, and factors)
        self.cache: dict[str, object] = {}
        seen: set[str] = set()
        for root in program.roots:
            self._count(root, seen)
            self.uses[root.key] = self.uses.get(root.key, 0) + 1

    def _count(self, node: Node, seen: set[str]) -> None:
        key = node.key
        if key in seen:
            return
        seen.add(key)
        for child in {c.key: c for c in node.children}.values():
            self.uses[child.key] = self.uses.get(child.key, 0) + 1
            self._count(child, seen)

    def _release(self, key: str) -> None:
        self.uses[key] -= 1
        if self.uses[key] <= 0:
            self.cache.pop(key, None)

    def value(self, node: Node):
        if node.op == "#":
            return node.args[0]
        key = node.key
        if key in self.cache:
            return self.cache[key]
        if node.op == "$":
            result = self.fields[node.args[0]]
        else:
            args = [self.value(a) if isinstance(a, Node) else a for a in node.args]
            result = apply(node.op, args, self.ctx)
            for child in {c.key for c in node.children}:
                self._release(child)
        self.cache[key] = result
        return result

    def run(self, out: np.ndarray, sl: slice, outside: np.ndarray) -> None:
        """Every factor of this block, each into one contiguous float32 plane, then transposed into
        ``out[:, sl, :]`` in cache-sized tiles (a strided write per factor would cost more than the factors)."""
        from .expr_kernels import write_block

        stacked = np.empty((len(self.program.roots), *outside.shape), dtype=np.float32)
        for k, root in enumerate(self.program.roots):
            with np.errstate(invalid="ignore", over="ignore"):
                stacked[k] = self.value(root)
            self._release(root.key)
        write_block(out, sl.start, stacked, outside)
