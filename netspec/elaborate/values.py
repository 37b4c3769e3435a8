"""Values of the spec language and the evaluation of constant expressions.

Expressions are evaluated eagerly while the tree is walked. A name that is not a bound
constant evaluates to a :class:`Symbol`; whoever consumes the value decides whether the
symbol is an enum word (``same``, ``he_normal``), a tensor or a mistake.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

from lark import Token, Tree

from netspec.diagnostics import Diagnostics, did_you_mean
from netspec.ir.graph import Span
from netspec.syntax.parser import span_of

# Integers beyond this are surely a mistake, and bounding them keeps `10 ** 10 ** 10`
# from eating the machine.
MAX_MAGNITUDE = 2**62


@dataclass(frozen=True)
class Symbol:
    name: str


@dataclass(frozen=True)
class CallValue:
    """``name(args, key = value)`` used as a value: an init scheme, a penalty, a source."""

    name: str
    args: tuple[Value, ...]
    kwargs: tuple[tuple[str, Value, Span], ...]


@dataclass(frozen=True)
class Space:
    """A search space written as a value: ``uniform(a, b)``, ``log_uniform(a, b)``,
    ``int_uniform(a, b)`` (``options`` are the two bounds) or ``choice(...)`` (its
    options). See :mod:`netspec.elaborate.spaces`."""

    kind: str
    options: tuple[Value, ...]
    span: Span


# The calls that write a search space where a value stands.
SPACE_KINDS = ("uniform", "log_uniform", "int_uniform", "choice")
# The arguments that take an init scheme, where ``uniform(low, high)`` is the scheme
# (weights drawn from U[low, high)), not a search space; a choice of schemes is one.
INIT_KEYS = frozenset({"init", "bias_init"})

Data = Union[int, float, str, Symbol, CallValue, Space, tuple["Value", ...]]  # noqa: UP007


@dataclass(frozen=True)
class Value:
    data: Data
    span: Span

    def describe(self) -> str:
        """How the value reads in an error message."""
        return describe(self.data)


def describe(data: Data) -> str:
    if isinstance(data, Symbol):
        return f"the name '{data.name}'"
    if isinstance(data, CallValue):
        return f"'{data.name}(...)'"
    if isinstance(data, Space):
        return f"the search space '{data.kind}(...)'"
    if isinstance(data, tuple):
        return "a list"
    if isinstance(data, str):
        return f'the string "{data}"'
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int):
        return f"the integer {data}"
    return f"the number {data!r}"


class EvalError(Exception):
    """Raised inside evaluation; reported once by the caller, then evaluation stops."""

    def __init__(
        self, message: str, span: Span, help: tuple[str, ...] = (), code: str = "E007"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.help = help
        self.code = code


class Evaluator:
    """Evaluates expression trees of one file against an environment of constants."""

    def __init__(self, file: str, diagnostics: Diagnostics) -> None:
        self.file = file
        self.diagnostics = diagnostics

    def span(self, node: Tree | Token) -> Span:
        return span_of(node, self.file)

    def evaluate(
        self, tree: Tree | Token, env: Mapping[str, Value], *, scheme: bool = False
    ) -> Value | None:
        """The value of ``tree``, or None after reporting why it has none; ``scheme``: it
        stands for an init scheme (see :data:`INIT_KEYS`)."""
        try:
            return self._eval(tree, env, scheme)
        except EvalError as error:
            self.diagnostics.error(error.code, error.message, error.span, help=error.help)
            return None

    def _eval(self, tree: Tree | Token, env: Mapping[str, Value], scheme: bool = False) -> Value:
        span = self.span(tree)
        if isinstance(tree, Token):
            # Only bare NAME tokens reach here (kwarg keys are handled by the caller).
            return self._name(str(tree), span, env)
        rule = tree.data
        if rule == "number":
            text = str(tree.children[0])
            if any(c in text for c in ".eE"):
                number = float(text)
                if not math.isfinite(number):
                    raise EvalError(f"the number {text} is too large", span)
                return Value(number, span)
            return Value(self._bounded(int(text), span), span)
        if rule == "string":
            raw = str(tree.children[0])[1:-1]
            return Value(raw.replace('\\"', '"').replace("\\\\", "\\"), span)
        if rule == "name":
            return self._name(str(tree.children[0]), span, env)
        if rule == "list":
            items = tuple(self._eval(child, env) for child in tree.children if child is not None)
            return Value(items, span)
        if rule == "call":
            return self._call(tree, env, scheme=scheme)
        if rule in ("neg", "pos"):
            operand = self._number(self._eval(tree.children[0], env), env)
            return Value(-operand if rule == "neg" else operand, span)
        if rule in _BINARY:
            left = self._number(self._eval(tree.children[0], env), env)
            right = self._number(self._eval(tree.children[1], env), env)
            return Value(self._binary(rule, left, right, span), span)
        raise EvalError(f"this is not a value (found {rule})", span)

    def _name(self, name: str, span: Span, env: Mapping[str, Value]) -> Value:
        if name in env:
            return Value(env[name].data, span)
        if name == "true":
            return Value(True, span)
        if name == "false":
            return Value(False, span)
        return Value(Symbol(name), span)

    def evaluate_stage(self, tree: Tree, env: Mapping[str, Value]) -> Value | None:
        """A chain's stage ``name(args)``: a call even when ``name`` is a space's kind (a
        block may be called ``choice``); its arguments are values as usual."""
        try:
            return self._call(tree, env, space=False)
        except EvalError as error:
            self.diagnostics.error(error.code, error.message, error.span, help=error.help)
            return None

    def _call(
        self, tree: Tree, env: Mapping[str, Value], *, space: bool = True, scheme: bool = False
    ) -> Value:
        name_token, *arg_trees = tree.children
        name = str(name_token)
        # A choice's options stand where the choice stands.
        inner = scheme and name == "choice"
        args: list[Value] = []
        kwargs: list[tuple[str, Value, Span]] = []
        for arg in arg_trees:
            if arg is None:
                continue
            if isinstance(arg, Tree) and arg.data == "kwarg":
                key, expr = arg.children
                value = self._eval(expr, env, str(key) in INIT_KEYS)
                kwargs.append((str(key), value, self.span(key)))
            else:
                args.append(self._eval(arg, env, inner))
        if space and name in SPACE_KINDS and not (scheme and name == "uniform"):
            from netspec.elaborate.spaces import make_space  # it builds on these values

            span = self.span(tree)
            return Value(make_space(name, args, kwargs, span), span)
        return Value(CallValue(str(name_token), tuple(args), tuple(kwargs)), self.span(tree))

    def _number(self, value: Value, env: Mapping[str, Value]) -> int | float:
        data = value.data
        if isinstance(data, Space):
            raise EvalError(
                "a search space cannot take part in arithmetic",
                value.span,
                (
                    "write the space where the value is used, e.g. dense(int_uniform(32, 256)), "
                    "or search the value the arithmetic starts from",
                ),
                code="E025",
            )
        if isinstance(data, bool) or not isinstance(data, int | float):
            help: tuple[str, ...] = ()
            if isinstance(data, Symbol):
                # The constants in scope here: the file's, and a block's parameters.
                consts = [k for k in env if not k.startswith("_")]
                help = tuple(did_you_mean(data.name, consts))
                raise EvalError(
                    f"unknown constant '{data.name}' in arithmetic",
                    value.span,
                    help or ("define it first: let " + data.name + " = ...",),
                )
            raise EvalError(f"arithmetic needs numbers, found {value.describe()}", value.span, help)
        return data

    def _bounded(self, number: int, span: Span) -> int:
        if abs(number) > MAX_MAGNITUDE:
            raise EvalError(f"the integer {number} is too large (limit 2**62)", span)
        return number

    def _binary(self, rule: str, a: int | float, b: int | float, span: Span) -> int | float:
        try:
            if rule == "add":
                result = a + b
            elif rule == "sub":
                result = a - b
            elif rule == "mul":
                result = a * b
            elif rule == "div":
                result = a / b
            elif rule == "floordiv":
                result = a // b
            elif rule == "mod":
                result = a % b
            else:  # pow
                if (
                    isinstance(a, int)
                    and isinstance(b, int)
                    and b >= 0
                    and a not in (-1, 0, 1)
                    and b * math.log2(abs(a)) > 62
                ):
                    raise EvalError(f"{a} ** {b} is too large (limit 2**62)", span)
                result = a**b
                if isinstance(result, complex):
                    raise EvalError(f"{a} ** {b} is not a real number", span)
        except ZeroDivisionError:
            raise EvalError("division by zero", span) from None
        except OverflowError:
            raise EvalError("the result is too large", span) from None
        if isinstance(result, float) and not math.isfinite(result):
            raise EvalError("the result is too large", span)
        if isinstance(result, int):
            return self._bounded(result, span)
        return result


_BINARY = frozenset({"add", "sub", "mul", "div", "floordiv", "mod", "pow"})
