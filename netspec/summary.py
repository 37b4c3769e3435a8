"""The per-model table of `netspec summary`: nodes, ops, shapes, parameters, totals."""

from __future__ import annotations

import math
import re
from typing import Any

from netspec.ir._base import IRModel
from netspec.ir.graph import CheckedModel, CheckedNode
from netspec.ir.init import Constant, LiteralValues, Regularize
from netspec.ir.train import TrainSpec


def _describe_op(node: CheckedNode) -> str:
    """The op as the user would write it: positional sizes, then every argument whose
    value differs from the built-in default (``batchnorm(eps = 1e-6)``)."""
    op = node.op
    kind = op.kind
    positional: list[str] = []
    shown: set[str] = {"kind"}
    if kind == "dense":
        positional, shown = [str(op.units)], shown | {"units"}
    elif kind == "conv2d":
        positional = [str(op.filters), _pair(op.kernel)]
        shown |= {"filters", "kernel"}
    elif kind in ("maxpool", "avgpool"):
        # A pool's stride defaults to its kernel.
        positional = [_pair(op.kernel)]
        shown |= {"kernel", "stride"}
        if op.stride != op.kernel:
            positional.append(f"stride = {_pair(op.stride)}")
    elif kind == "dropout":
        positional, shown = [_number(op.p)], shown | {"p"}
    elif kind == "leaky_relu":
        positional, shown = [_number(op.negative_slope)], shown | {"negative_slope"}
    elif kind == "reshape":
        positional, shown = [", ".join(str(d) for d in op.shape)], shown | {"shape"}
    for name, info in type(op).model_fields.items():
        if name in shown:
            continue
        value = getattr(op, name)
        if info.is_required():
            positional.append(_value(value))
        elif value != info.default:
            positional.append(_keyword(name, value))
    return f"{kind}({', '.join(positional)})" if positional else kind


def _keyword(name: str, value: Any) -> str:
    """``name = value`` as written in a spec; hand-set weights by their shape only."""
    if isinstance(value, LiteralValues):
        written = {"weight_init": "weight", "bias_init": "bias"}.get(name, name)
        count = math.prod(value.shape)
        dims = " x ".join(str(d) for d in value.shape)
        return f"{written} = <{dims} literal value{'s' if count != 1 else ''}>"
    written = {"weight_init": "init"}.get(name, name)
    return f"{written} = {_value(value)}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, tuple) for v in value):
        return _pads(value)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return _pair(value)
    if isinstance(value, Regularize):
        terms = [
            f"{name}({_number(getattr(value, name))})"
            for name in ("l2", "l1")
            if getattr(value, name)
        ]
        if value.max_norm is not None:
            terms.append(f"max_norm({_number(value.max_norm)})")
        if not terms:
            return "none"
        return terms[0] if len(terms) == 1 else f"[{', '.join(terms)}]"
    if isinstance(value, Constant):
        return _number(value.value)  # a bare number means constant, as in a spec
    if isinstance(value, IRModel) and hasattr(value, "scheme"):
        # An init scheme: its name, with the arguments that differ from its defaults.
        args = [
            f"{name} = {_value(getattr(value, name))}"
            for name, info in type(value).model_fields.items()
            if name != "scheme" and (info.is_required() or getattr(value, name) != info.default)
        ]
        return f"{value.scheme}({', '.join(args)})" if args else str(value.scheme)
    return str(value)


def _number(value: float) -> str:
    """A number as a spec writes it: 0.5, 1e-6 (not 1e-06), 3."""
    text = f"{value:g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + m.group(1).replace("+", "") + m.group(2), text)


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"[{pair[0]}, {pair[1]}]"


def _pads(pads: object) -> str:
    (top, bottom), (left, right) = pads  # type: ignore[misc]
    if top == bottom and left == right:
        return _pair((top, left))
    return f"[[{top}, {bottom}], [{left}, {right}]]"


def human(count: float, unit: str = "") -> str:
    """1234567 -> '1.23 M'."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= factor:
            return f"{count / factor:.2f} {suffix}{unit}"
    return f"{count:g} {unit}".rstrip()


def summary_table(
    model: CheckedModel, *, bytes_per_value: int = 4, train: TrainSpec | None = None
) -> str:
    """A fixed-width table of the model with its totals, ready to print.

    With the model's ``train`` section, a last line gives the estimated peak memory of
    training it (:mod:`netspec.memory`, NumPy backend).
    """
    param_sizes = {p.name: math.prod(p.shape) for p in model.params}
    rows = [("node", "op", "output", "params")]
    rows.append((model.input.name, "input", _shape(model.input.shape), ""))
    for node in model.nodes:
        count = sum(param_sizes[name] for name in node.params)
        rows.append(
            (
                node.name,
                _describe_op(node),
                _shape(node.output.shape),
                f"{count:,}" if count else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"model {model.name}"]
    for index, row in enumerate(rows):
        lines.append(
            "  "
            + "  ".join(
                cell.rjust(widths[i]) if i == 3 else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ).rstrip()
        )
        if index == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    total = model.parameter_count
    running = sum(math.prod(s.shape) for s in model.state if s.attr.startswith("running_"))
    fixed = sum(math.prod(s.shape) for s in model.state if not s.attr.startswith("running_"))
    extra = [f"+{running:,} running statistics"] if running else []
    extra += [f"+{fixed:,} input statistics"] if fixed else []
    lines.append("")
    lines.append(f"  parameters        {total:,}" + (f" ({', '.join(extra)})" if extra else ""))
    lines.append(f"  FLOPs per sample  {model.flops:,} ({human(model.flops, 'FLOP')}, forward)")
    lines.append(
        f"  parameter memory  {human(total * bytes_per_value, 'B')} "
        f"({'float32' if bytes_per_value == 4 else 'float64'})"
    )
    lines.append(f"  output            {_shape(model.output_type.shape)} from {model.output}")
    if train is not None:
        from netspec.memory import estimate

        dtype = "float32" if bytes_per_value == 4 else "float64"
        need = estimate(
            model, dtype=dtype, batch_size=train.batch_size, optimizer=train.optimizer
        ).total
        lines.append(
            f"  training memory   about {human(need, 'B')} ({dtype}, batch {train.batch_size}, "
            f"{train.optimizer.kind})"
        )
    return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
