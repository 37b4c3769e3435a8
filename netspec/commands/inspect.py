"""`netspec inspect`: per-layer activation statistics and gradient norms on one batch.

Every node's output comes from the backend's ``trace`` (part of the backend contract, so
it reads the same on every backend), and every parameter's gradient from one
``loss_and_grads`` on the same batch, both in the same mode (training mode by default:
batch statistics, and dropout with the same masks in both, as the model is reseeded).

Per node, over every value of its output on the batch:

- ``mean`` and ``std`` (the population standard deviation), ``min`` and ``max``;
- ``saturated`` (sigmoid, hard_sigmoid, tanh): the fraction of values within
  ``saturation`` (0.01 by default) of the activation's bounds, 0 and 1 (tanh: -1 and 1),
  where its slope is nearly 0;
- ``dead`` (relu, relu6): the fraction of values exactly 0, and ``dead units``: the
  fraction of units, a unit being one value of a sample's output (a dense layer's
  neuron, a convolution's channel at one position), that are 0 for every sample of the
  batch, through which no gradient flows for this batch.

Per parameter: the L2 norm of the weights and of the loss gradient (penalties
included), and their ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netspec.commands._batch import Batch, add_batch_options, batch_from_args, load_params
from netspec.errors import NetspecError
from netspec.ir import CheckedModel

DEFAULT_SATURATION = 0.01
# Each bounded activation's (low, high) bounds.
BOUNDS: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
}
# Activations whose output is exactly 0 where their slope is 0.
RELUS = ("relu", "relu6")


@dataclass(frozen=True)
class NodeStats:
    """The statistics of one node's output over a batch."""

    name: str
    op: str
    shape: tuple[int, ...]
    mean: float
    std: float
    min: float
    max: float
    saturated: float | None  # bounded activations only
    dead: float | None  # relu-like only: fraction of values exactly 0
    dead_units: float | None  # relu-like only: fraction of units 0 on every sample


@dataclass(frozen=True)
class GradStats:
    """The norms of one parameter and of its gradient."""

    name: str
    shape: tuple[int, ...]
    weight_norm: float
    grad_norm: float

    @property
    def ratio(self) -> float | None:
        """|grad| / |w|, the relative size of a step; None for weights all 0."""
        return self.grad_norm / self.weight_norm if self.weight_norm else None


@dataclass
class Inspection:
    model: str
    backend: str
    batch: str
    mode: str
    loss_name: str
    loss: float
    nodes: list[NodeStats]
    grads: list[GradStats]
    values: dict[str, np.ndarray]  # every node's output, for the histograms

    def to_json(self) -> dict[str, Any]:
        """Everything but the raw values, as JSON-ready data."""
        return {
            "model": self.model,
            "backend": self.backend,
            "batch": self.batch,
            "mode": self.mode,
            "loss": {"kind": self.loss_name, "value": self.loss},
            "nodes": [asdict(node) for node in self.nodes],
            "gradients": [{**asdict(g), "ratio": g.ratio} for g in self.grads],
        }

    def render(self) -> str:
        """The activation table, then the gradient table."""
        lines = [
            f"inspect {self.model} on {self.backend}: {self.batch}, {self.mode} mode, loss "
            f"{self.loss_name} {self.loss:.6g}"
        ]
        header = (
            "node",
            "op",
            "shape",
            "mean",
            "std",
            "min",
            "max",
            "saturated",
            "dead",
            "dead units",
        )
        rows = [header]
        for n in self.nodes:
            rows.append(
                (
                    n.name,
                    n.op,
                    str(list(n.shape)),
                    f"{n.mean:.4g}",
                    f"{n.std:.4g}",
                    f"{n.min:.4g}",
                    f"{n.max:.4g}",
                    _percent(n.saturated),
                    _percent(n.dead),
                    _percent(n.dead_units),
                )
            )
        lines.extend(_table(rows))
        if self.grads:
            lines.append("")
            rows = [("parameter", "shape", "|w|", "|grad|", "|grad| / |w|")]
            for g in self.grads:
                rows.append(
                    (
                        g.name,
                        str(list(g.shape)),
                        f"{g.weight_norm:.4g}",
                        f"{g.grad_norm:.4g}",
                        "-" if g.ratio is None else f"{g.ratio:.4g}",
                    )
                )
            lines.extend(_table(rows))
        return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def node_stats(
    name: str, op: str, values: np.ndarray, saturation: float = DEFAULT_SATURATION
) -> NodeStats:
    """The statistics of a node's output ``values`` [N, ...]; see the module docstring."""
    v = np.asarray(values, dtype=np.float64)
    saturated = dead = dead_units = None
    if op in BOUNDS:
        low, high = BOUNDS[op]
        saturated = float(np.mean((v <= low + saturation) | (v >= high - saturation)))
    if op in RELUS:
        zero = v == 0
        dead = float(np.mean(zero))
        dead_units = float(np.mean(np.all(zero, axis=0)))
    return NodeStats(
        name,
        op,
        tuple(v.shape[1:]),
        float(v.mean()),
        float(v.std()),
        float(v.min()),
        float(v.max()),
        saturated,
        dead,
        dead_units,
    )


def run_inspect(
    model: CheckedModel,
    backend: str,
    batch: Batch,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    seed: int = 0,
    params: dict[str, np.ndarray] | None = None,
    train: bool = True,
    saturation: float = DEFAULT_SATURATION,
) -> Inspection:
    """Activation statistics of every node and gradient norms of every parameter of
    ``model`` on ``batch``, on ``backend``."""
    from netspec.backend import get_backend
    from netspec.commands._batch import fill_statistics

    compiled = get_backend(backend).compile(
        model, dtype=dtype, device=device, seed=seed, params=params
    )
    if params is None:
        fill_statistics(model, compiled, batch)
    state = compiled.state()
    compiled.seed(seed)
    values = compiled.trace(batch.x, train=train)
    # The same starting state and dropout masks for the gradients as for the values.
    compiled.set_parameters(state)
    compiled.seed(seed)
    loss, grads = compiled.loss_and_grads(batch.x, batch.y, batch.loss, train=train)
    weights = compiled.parameters()
    nodes = [
        node_stats(node.name, node.op.kind, values[node.name], saturation) for node in model.nodes
    ]
    norms = [
        GradStats(
            spec.name,
            tuple(spec.shape),
            float(np.linalg.norm(weights[spec.name].astype(np.float64).ravel())),
            float(np.linalg.norm(grads[spec.name].astype(np.float64).ravel())),
        )
        for spec in model.params
    ]
    return Inspection(
        model.name,
        backend,
        batch.source,
        "training" if train else "evaluation",
        batch.loss.kind,
        float(loss),
        nodes,
        norms,
        values,
    )


# -- the command --------------------------------------------------------------------------


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add `netspec inspect` to the command line."""
    from netspec._cli_parser import _backend_options, _command, _positive_float, add_set_option

    parser = _command(
        commands,
        "inspect",
        "per-layer activation statistics, gradient norms and histograms on a batch",
        "Run one batch through a model and print, for every node, the mean, standard "
        "deviation, range, the fraction of saturated values (sigmoid, hard_sigmoid, "
        "tanh: within --saturation of their bounds) and of dead values and units (relu, "
        "relu6: exactly 0; a unit is dead when it is 0 for every sample), then every "
        "parameter's weight and gradient norm from one backward pass. With -o DIR, also "
        "a PNG grid of histograms of the activations and the statistics as JSON.",
    )
    parser.add_argument("file", metavar="SPEC", help="the .net file")
    add_set_option(parser)
    _backend_options(parser)
    parser.add_argument(
        "--weights",
        metavar="FILE_OR_RUN_DIR",
        help="a .safetensors file or a run directory (default: the initial weights drawn "
        "with --seed)",
    )
    parser.add_argument(
        "--mode",
        choices=("train", "eval"),
        default="train",
        help="train: batch statistics and dropout, as a training step sees them; eval: "
        "running statistics, no dropout",
    )
    parser.add_argument(
        "--saturation",
        type=_positive_float,
        default=DEFAULT_SATURATION,
        help="a bounded activation's value this close to a bound counts as saturated",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: text; json: the statistics as one JSON object",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="write DIR/activations.png (histograms) and DIR/inspect.json (default: write "
        "no files)",
    )
    add_batch_options(parser, batch=256)


def run(args: argparse.Namespace) -> int:
    """`netspec inspect`: print the statistics (and write the files of -o)."""
    from netspec._cli_parser import EXIT_OK
    from netspec.commands._shared import choose_model, exit_code, read_program

    code, program = read_program(args.file, args.set, "inspect")
    if program is None:
        return code
    try:
        model = choose_model(program, args.model)
        batch = batch_from_args(program, model, args, args.dtype)
        inspection = run_inspect(
            model,
            args.backend,
            batch,
            dtype=args.dtype,
            device=args.device,
            seed=args.seed,
            params=load_params(model, args.weights, args.dtype),
            train=args.mode == "train",
            saturation=args.saturation,
        )
        written = _write_files(inspection, model, args.output) if args.output else []
    except NetspecError as error:
        print(f"netspec inspect: error: {error}", file=sys.stderr)
        return exit_code(error)
    if args.format == "json":
        print(json.dumps(inspection.to_json(), indent=2))
    else:
        print(inspection.render())
    for path in written:
        print(f"wrote {path}", file=sys.stderr if args.format == "json" else sys.stdout)
    return EXIT_OK


def _write_files(inspection: Inspection, model: CheckedModel, output: str) -> list[Path]:
    from netspec.commands._histograms import histogram_png
    from netspec.weights import atomic_write_bytes

    folder = Path(output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NetspecError(
            f"cannot create the output directory {output!r}: {error.strerror}"
        ) from None
    picture = folder / "activations.png"
    atomic_write_bytes(picture, histogram_png(inspection, model))
    stats = folder / "inspect.json"
    atomic_write_bytes(stats, (json.dumps(inspection.to_json(), indent=2) + "\n").encode())
    return [picture, stats]
