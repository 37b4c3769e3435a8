"""The per-model table of `netspec summary`: nodes, ops, shapes, parameters, totals."""

from __future__ import annotations

import math
from collections.abc import Sequence

from netspec.ir.graph import CheckedModel, CheckedNode, ParamSpec
from netspec.ir.space import SpaceSite
from netspec.ir.train import TrainSpec
from netspec.ops import OPS
from netspec.ops.params import as_written
from netspec.ops.text import describe


def describe_op(node: CheckedNode, params: dict[str, ParamSpec]) -> str:
    """The op as the user would write it: positional sizes, then every argument whose
    value differs from the built-in default (``batchnorm(eps = 1e-6)``), with its
    initialisation and penalties read back from its parameters."""
    facts = OPS[node.op.kind]
    op = as_written(node.op, facts.ir, [params[name] for name in node.params])
    return describe(op, facts.summary)


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
    param_specs = {p.name: p for p in model.params}
    param_sizes = {p.name: math.prod(p.shape) for p in model.params}
    rows = [("node", "op", "output", "params")]
    # An integer input (indices) says so; a floating-point one takes the run's dtype.
    rows.extend(
        (spec.name, "input" if spec.dtype.startswith("float") else f"input {spec.dtype}",
         _shape(spec.shape), "")
        for spec in model.inputs
    )  # fmt: skip
    for node in model.nodes:
        count = sum(param_sizes[name] for name in node.params)
        rows.append(
            (
                node.name,
                describe_op(node, param_specs),
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
            model,
            dtype=dtype,
            batch_size=train.batch_size,
            optimizer=train.optimizer,
            ema=train.ema is not None,
        ).total
        lines.append(
            f"  training memory   about {human(need, 'B')} ({dtype}, batch {train.batch_size}, "
            f"{train.optimizer.kind})"
        )
    return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def spaces_table(spaces: Sequence[SpaceSite]) -> str:
    """The search spaces of a spec, one per line (path, space, where), and what the
    figures of the tables that follow are computed with."""
    rows = [
        (site.path, site.text, f"{site.span.file}:{site.span.line}:{site.span.column}")
        for site in spaces
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [
        f"search spaces ({len(rows)}): the figures below are at each one's first value, the "
        "low end of a range or the first option of a choice"
    ]
    lines += [f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
