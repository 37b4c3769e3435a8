"""An op as the user would write it in a spec, for ``netspec summary``.

An op's summary rule gives the texts of its leading positional arguments and the fields
they cover; every other field whose value differs from the built-in default follows as
``name = value`` (``batchnorm(eps = 1e-6)``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from netspec.ir._base import IRModel
from netspec.ir.init import Constant, LiteralValues, Regularize

# The leading positional texts of an op, and the fields they show.
SummaryRule = Callable[[Any], tuple[list[str], frozenset[str]]]


def keywords_only(op: Any) -> tuple[list[str], frozenset[str]]:
    """Ops written with keyword arguments only (or none)."""
    return [], frozenset()


def first_number(name: str) -> SummaryRule:
    """A single leading number: ``dropout(0.3)``, ``leaky_relu(0.2)``."""

    def rule(op: Any) -> tuple[list[str], frozenset[str]]:
        return [number(getattr(op, name))], frozenset({name})

    return rule


def dense(op: Any) -> tuple[list[str], frozenset[str]]:
    return [str(op.units)], frozenset({"units"})


def conv2d(op: Any) -> tuple[list[str], frozenset[str]]:
    return [str(op.filters), pair(op.kernel)], frozenset({"filters", "kernel"})


def conv1d(op: Any) -> tuple[list[str], frozenset[str]]:
    return [str(op.filters), str(op.kernel)], frozenset({"filters", "kernel"})


def pool1d(op: Any) -> tuple[list[str], frozenset[str]]:
    """The kernel, and the stride only where it differs from the kernel (its default)."""
    texts = [str(op.kernel)]
    if op.stride != op.kernel:
        texts.append(f"stride = {op.stride}")
    return texts, frozenset({"kernel", "stride"})


def pool(op: Any) -> tuple[list[str], frozenset[str]]:
    """The kernel, and the stride only where it differs from the kernel (its default)."""
    texts = [pair(op.kernel)]
    if op.stride != op.kernel:
        texts.append(f"stride = {pair(op.stride)}")
    return texts, frozenset({"kernel", "stride"})


def reshape(op: Any) -> tuple[list[str], frozenset[str]]:
    return [", ".join(str(d) for d in op.shape)], frozenset({"shape"})


def describe(op: Any, rule: SummaryRule) -> str:
    """``op`` as written in a spec: ``rule``'s positional texts, then every other field
    whose value differs from the built-in default."""
    positional, covered = rule(op)
    shown = covered | {"kind"}
    for name, info in type(op).model_fields.items():
        if name in shown:
            continue
        value = getattr(op, name)
        if info.is_required():
            positional.append(value_text(value))
        elif value != info.default:
            positional.append(keyword(name, value))
    return f"{op.kind}({', '.join(positional)})" if positional else str(op.kind)


def keyword(name: str, value: Any) -> str:
    """``name = value`` as written in a spec; hand-set weights by their shape only."""
    if isinstance(value, LiteralValues):
        written = {"weight_init": "weight", "bias_init": "bias"}.get(name, name)
        count = math.prod(value.shape)
        dims = " x ".join(str(d) for d in value.shape)
        return f"{written} = <{dims} literal value{'s' if count != 1 else ''}>"
    written = {"weight_init": "init"}.get(name, name)
    return f"{written} = {value_text(value)}"


def value_text(value: Any) -> str:
    """A field's value as a spec writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, tuple) for v in value):
        return _pads(value)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return pair(value)
    if isinstance(value, Regularize):
        terms = [
            f"{name}({number(getattr(value, name))})"
            for name in ("l2", "l1")
            if getattr(value, name)
        ]
        if value.max_norm is not None:
            terms.append(f"max_norm({number(value.max_norm)})")
        if not terms:
            return "none"
        return terms[0] if len(terms) == 1 else f"[{', '.join(terms)}]"
    if isinstance(value, Constant):
        return number(value.value)  # a bare number means constant, as in a spec
    if isinstance(value, IRModel) and hasattr(value, "scheme"):
        # An init scheme: its name, with the arguments that differ from its defaults.
        args = [
            f"{name} = {value_text(getattr(value, name))}"
            for name, info in type(value).model_fields.items()
            if name != "scheme" and (info.is_required() or getattr(value, name) != info.default)
        ]
        return f"{value.scheme}({', '.join(args)})" if args else str(value.scheme)
    return str(value)


def number(value: float) -> str:
    """A number as a spec writes it: 0.5, 1e-6 (not 1e-06), 3."""
    text = f"{value:g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + m.group(1).replace("+", "") + m.group(2), text)


def pair(value: tuple[int, int]) -> str:
    return str(value[0]) if value[0] == value[1] else f"[{value[0]}, {value[1]}]"


def _pads(pads: object) -> str:
    (top, bottom), (left, right) = pads  # type: ignore[misc]
    if top == bottom and left == right:
        return pair((top, left))
    return f"[[{top}, {bottom}], [{left}, {right}]]"
