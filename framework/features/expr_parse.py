"""Parse Qlib factor expressions (``"Mean($close, 5) / $close"``) into trees, with Python's ``ast``, never ``eval``.

The grammar is Qlib's: ``$field`` references, numbers, Qlib's operator calls, ``+ - * / **``, the
comparisons ``> >= < <= == !=`` and ``&``, ``|`` (Qlib's And / Or). What Qlib would fail on, or what could
read the future, is refused here with one line naming the factor and where it was written: an unknown
operator or field (with "did you mean"), a wrong argument count, a window that is not a whole number of
bars, and any negative offset or window (``Ref($close, -1)`` is tomorrow's close).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property

from ..errors import SeqalphaError
from ..registry import did_you_mean
from .expr_ops import MIN_WINDOW, SIGNATURES


class ExpressionError(SeqalphaError, ValueError):
    """A factor expression that cannot be computed, or would read the future; the message names it."""


@dataclass(frozen=True)
class Node:
    """One node of an expression tree: an operator with operands, a ``$field`` or a number.

    ``op`` is an operator name of ``expr_ops.SIGNATURES``, ``"$"`` (``args = (field,)``) or ``"#"`` (a
    number, ``args = (value,)``). ``str(node)`` is the canonical text: equal subexpressions are equal
    strings, which is how the engine computes each one once.
    """

    op: str
    args: tuple

    @cached_property
    def key(self) -> str:
        """The canonical text, computed once per node."""
        if self.op == "$":
            return f"${self.args[0]}"
        if self.op == "#":
            return repr(self.args[0])
        return f"{self.op}({','.join(str(a) for a in self.args)})"

    def __str__(self) -> str:
        return self.key

    @property
    def children(self) -> list[Node]:
        return [a for a in self.args if isinstance(a, Node) and a.op != "#"]


_FIELD = re.compile(r"\$(\$?)(\w+)")
_PREFIX = "__seqalpha_field_"
_BINOPS = {ast.Add: "Add", ast.Sub: "Sub", ast.Mult: "Mul", ast.Div: "Div", ast.Pow: "Power",
           ast.BitAnd: "And", ast.BitOr: "Or"}
_COMPARE = {ast.Gt: "Gt", ast.GtE: "Ge", ast.Lt: "Lt", ast.LtE: "Le", ast.Eq: "Eq", ast.NotEq: "Ne"}
_OPERATORS = sorted(op for op in SIGNATURES if op != "Neg")


def parse(text: str, name: str = "factor", where: str = "expressions") -> Node:
    """The tree of one expression; ``name`` and ``where`` (e.g. ``"MyStrategy.expressions"``) go into errors."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"{where}[{name!r}]: an expression must be a non-empty string, got {text!r}")
    prefix = f"{where}[{name!r}] = {text!r}"
    if "$$" in text:
        raise ExpressionError(f"{prefix}: point-in-time database fields ($$name) are not supported")
    source = _FIELD.sub(lambda m: _PREFIX + m.group(2), text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{prefix}: not a valid expression ({exc.msg} at column {exc.offset})") from None
    return _Builder(prefix).node(tree.body)


class _Builder:
    """Turns an ``ast`` expression into Nodes, checking every operator, argument and window."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def fail(self, problem: str) -> ExpressionError:
        return ExpressionError(f"{self.prefix}: {problem}")

    def node(self, e: ast.AST) -> Node:
        if isinstance(e, ast.Constant):
            if isinstance(e.value, bool) or not isinstance(e.value, (int, float)):
                raise self.fail(f"{e.value!r} is not a number; operands are $fields, numbers or operators")
            return Node("#", (e.value,))
        if isinstance(e, ast.Name):
            if e.id.startswith(_PREFIX):
                return Node("$", (e.id[len(_PREFIX):],))
            hint = f" Did you mean ${e.id}?" if e.id.islower() else did_you_mean(e.id, _OPERATORS)
            raise self.fail(f"unknown name {e.id!r} (fields are written $name, operators are called: Mean(x, 5)).{hint}")
        if isinstance(e, ast.UnaryOp):
            inner = self.node(e.operand)
            if isinstance(e.op, ast.UAdd):
                return inner
            if isinstance(e.op, ast.USub):
                return Node("#", (-inner.args[0],)) if inner.op == "#" else Node("Neg", (inner,))
            if isinstance(e.op, ast.Invert):
                return Node("Not", (inner,))
            raise self.fail("'not' is not an operator here; write Not(x)")
        if isinstance(e, ast.BinOp):
            op = _BINOPS.get(type(e.op))
            if op is None:
                raise self.fail(f"operator {type(e.op).__name__} is not supported (use + - * / ** & | and Qlib's "
                                "operators)")
            return Node(op, (self.node(e.left), self.node(e.right)))
        if isinstance(e, ast.Compare):
            if len(e.ops) != 1:
                raise self.fail("chained comparisons (a < b < c) are not supported; write (a < b) & (b < c)")
            return Node(_COMPARE[type(e.ops[0])], (self.node(e.left), self.node(e.comparators[0])))
        if isinstance(e, ast.BoolOp):
            raise self.fail("'and' / 'or' are not operators here; write (a) & (b), (a) | (b)")
        if isinstance(e, ast.Call):
            return self.call(e)
        raise self.fail(f"{_text(e)!r} is not an expression Qlib understands")

    def call(self, e: ast.Call) -> Node:
        if not isinstance(e.func, ast.Name) or e.func.id.startswith(_PREFIX):
            raise self.fail(f"{_text(e.func)!r} is not an operator")
        op = e.func.id
        if op not in SIGNATURES or op == "Neg":
            raise self.fail(f"unknown operator {op!r}.{did_you_mean(op, _OPERATORS)} Operators: "
                            f"{', '.join(_OPERATORS)}")
        if e.keywords:
            raise self.fail(f"{op}() takes positional arguments only")
        kinds = SIGNATURES[op]
        if len(e.args) != len(kinds):
            raise self.fail(f"{op} takes {len(kinds)} argument(s) ({', '.join(_KIND_NAMES[k] for k in kinds)}), "
                            f"got {len(e.args)}")
        args = []
        for kind, arg in zip(kinds, e.args):
            if kind == "x":
                args.append(self.node(arg))
            else:
                args.append(self.literal(op, kind, arg, e))
        if op in MIN_WINDOW and args[1] != 0 and args[1] < MIN_WINDOW[op]:
            raise self.fail(f"{op} needs a window of at least {MIN_WINDOW[op]} bars (or 0), got {args[1]}")
        return Node(op, tuple(args))

    def literal(self, op: str, kind: str, arg: ast.AST, call: ast.Call):
        """A window, offset, quantile or span: a number written in the expression, checked."""
        try:
            value = ast.literal_eval(arg)
        except ValueError:
            raise self.fail(f"{op}'s {_KIND_NAMES[kind]} must be a number, got {_text(arg)!r}") from None
        text = _text(call)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{op}'s {_KIND_NAMES[kind]} must be a number, got {value!r}")
        if kind == "q":
            if not 0 <= value <= 1:
                raise self.fail(f"{text}: the quantile must be in [0, 1], got {value!r}")
            return float(value)
        if value < 0:
            what = "offset" if kind == "ref" else "window"
            raise self.fail(f"{text} reads the future (a negative {what}): a factor at date t may read only "
                            "rows dated <= t")
        if kind == "span" and isinstance(value, float) and 0 < value < 1:
            return value
        if isinstance(value, float):
            if not value.is_integer():
                raise self.fail(f"{text}: the {_KIND_NAMES[kind]} must be a whole number of bars, got {value!r}")
            value = int(value)
        return value


def _text(e: ast.AST) -> str:
    """An ast node as the user wrote it ($fields restored)."""
    return ast.unparse(e).replace(_PREFIX, "$")


_KIND_NAMES = {"x": "expression", "n": "window", "ref": "offset", "q": "quantile", "span": "span"}


def fields_of(node: Node) -> set[str]:
    """Every ``$field`` the tree reads."""
    if node.op == "$":
        return {node.args[0]}
    out: set[str] = set()
    for c in node.children:
        out |= fields_of(c)
    return out


def uses_cross_section(node: Node) -> bool:
    """Whether the tree has a cross-sectional operator (CSRank, CSZScore, CSDemean)."""
    from .expr_ops import CROSS_SECTIONAL

    return node.op in CROSS_SECTIONAL or any(uses_cross_section(c) for c in node.children)
