"""Run one batch through several backends and find where their numbers part ways.

The first backend listed is the reference. For every node the largest absolute and the
scale-relative difference of the activations is measured, then for every parameter (and
the input) the difference of the loss gradients, and, after a training-mode pass, of the
batchnorm running statistics. A value passes when ``max|a - b| <= atol + rtol * max|b|``.

In training mode each backend draws its own dropout masks, so every value that depends on
a mask (the nodes from a dropout on, the loss, every gradient) differs by design: such
rows are marked and do not count as failures; evaluation mode compares them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from netspec._contract import gradient_inputs, index_ranges
from netspec._validate import check_seed
from netspec.backend import get_backend
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir.graph import INDEX_DTYPES
from netspec.ir.train import LossSpec, MeanSquaredError, SoftmaxCrossEntropy

# (activations and state, gradients): float64 agrees to rounding; float32 to its epsilon
# compounded through the network.
TOLERANCES: dict[str, tuple[float, float]] = {"float64": (1e-10, 1e-9), "float32": (1e-5, 1e-4)}


@dataclass(frozen=True)
class Difference:
    kind: str  # "activation", "gradient" or "state"
    name: str
    backend: str
    shape: tuple[int, ...]
    max_abs: float
    relative: float
    tolerance: float
    # The value depends on a dropout mask, which each backend draws from its own stream.
    masked: bool = False

    @property
    def ok(self) -> bool:
        """Within tolerance."""
        return bool(np.isfinite(self.max_abs)) and self.relative <= self.tolerance

    @property
    def failed(self) -> bool:
        """Out of tolerance where the backends should agree."""
        return not self.ok and not self.masked

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "differs: dropout masks" if self.masked else "FAIL"


@dataclass
class ParityReport:
    model: str
    reference: str
    dtype: str
    train: bool
    rows: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No value out of tolerance, leaving aside those that depend on dropout masks."""
        return not any(row.failed for row in self.rows)

    @property
    def first_failure(self) -> Difference | None:
        return next((row for row in self.rows if row.failed), None)

    def render(self) -> str:
        """A fixed-width table, then a verdict naming the first value out of tolerance."""
        header = ("kind", "name", "vs", "shape", "max |diff|", "relative", "")
        lines = [header]
        for row in self.rows:
            lines.append(
                (
                    row.kind,
                    row.name,
                    row.backend,
                    str(list(row.shape)),
                    f"{row.max_abs:.3e}",
                    f"{row.relative:.3e}",
                    row.status,
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            f"parity of {self.model}: {self.dtype}, reference {self.reference}, "
            f"{'training' if self.train else 'evaluation'} mode"
        ]
        for index, line in enumerate(lines):
            text.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
            if index == 0:
                text.append("  ".join("-" * w for w in widths))
        masked = sum(row.masked for row in self.rows)
        if masked:
            text.append(
                f"note: {masked} values depend on dropout masks, which each backend draws from "
                "its own random stream in training mode; they differ by design and are not "
                "counted (--mode eval compares them)"
            )
        failure = self.first_failure
        if failure is None:
            compared = f"{len(self.rows) - masked} compared" if masked else f"all {len(self.rows)}"
            text.append(f"{compared} values agree within tolerance")
        else:
            text.append(
                f"first disagreement: {failure.kind} {failure.name} ({self.reference} vs "
                f"{failure.backend}): relative {failure.relative:.3e} > {failure.tolerance:.0e}"
            )
        return "\n".join(text)


def default_loss(model: CheckedModel) -> LossSpec:
    """Cross-entropy for a classifier-shaped output, else mean squared error."""
    shape = model.output_type.shape
    if len(shape) == 1 and shape[0] > 1:
        return SoftmaxCrossEntropy()
    return MeanSquaredError()


def random_inputs(
    model: CheckedModel, rng: np.random.Generator, batch: int, dtype: str = "float64"
) -> Any:
    """A batch for the model's one input, or a dict of one per input by name: standard
    normal values of ``dtype`` or, for an integer input, uniform indices valid for every
    embedding the input reaches."""
    inputs = {}
    for spec in model.inputs:
        shape = (batch, *spec.shape)
        if spec.dtype in INDEX_DTYPES:
            rows = min((num for _, num in index_ranges(model, spec.name)), default=1)
            inputs[spec.name] = rng.integers(0, rows, size=shape).astype(spec.dtype)
        else:
            inputs[spec.name] = rng.standard_normal(shape).astype(dtype)
    return inputs if len(inputs) > 1 else inputs[model.inputs[0].name]


def random_batch(
    model: CheckedModel, loss: LossSpec, batch: int, seed: int, dtype: str
) -> tuple[np.ndarray | dict[str, np.ndarray], np.ndarray]:
    """Standard normal inputs (an array for a model of one input, else arrays by input
    name, drawn in the model's order) and targets that fit ``loss``."""
    rng = np.random.default_rng(seed + 1)
    x = random_inputs(model, rng, batch, dtype)
    out = model.output_type.shape
    if loss.kind == "softmax_cross_entropy":
        # Classes on the last axis: one label per position of the others.
        y = rng.integers(0, out[-1], size=(batch, *out[:-1]))
    elif loss.kind == "binary_cross_entropy":
        y = rng.integers(0, 2, size=(batch, *out)).astype(dtype)
    else:
        y = rng.standard_normal((batch, *out)).astype(dtype)
    return x, y


def _compare(
    kind: str, name: str, backend: str, ref: np.ndarray, other: np.ndarray, tolerance: float
) -> Difference:
    ref64 = np.asarray(ref, dtype=np.float64)
    other64 = np.asarray(other, dtype=np.float64)
    if ref64.shape != other64.shape:
        return Difference(
            kind, name, backend, tuple(other64.shape), float("inf"), float("inf"), tolerance
        )
    both_inf = np.isinf(ref64) & np.isinf(other64) & (np.sign(ref64) == np.sign(other64))
    diff = np.where(both_inf, 0.0, np.abs(ref64 - other64))
    max_abs = float(diff.max()) if diff.size else 0.0
    finite = np.abs(np.where(np.isfinite(ref64), ref64, 0.0))
    scale = float(finite.max()) if finite.size else 0.0
    relative = max_abs / max(scale, 1.0) if np.isfinite(max_abs) else float("inf")
    return Difference(kind, name, backend, tuple(ref64.shape), max_abs, relative, tolerance)


# Recurrent layers drop values between their stacked layers in training (``dropout``).
_RECURRENT = ("rnn", "lstm", "gru")


def _draws_masks(op: Any) -> bool:
    """Whether ``op`` draws dropout masks in training: dropout with p > 0, or a recurrent
    layer with dropout between its layers."""
    if op.kind == "dropout":
        return bool(op.p > 0)
    return op.kind in _RECURRENT and op.dropout > 0


def has_dropout(model: CheckedModel) -> bool:
    return any(node.op.kind == "dropout" or _draws_masks(node.op) for node in model.nodes)


def masked_nodes(model: CheckedModel) -> set[str]:
    """The nodes whose training-mode output depends on a dropout mask (p > 0)."""
    masked: set[str] = set()
    for node in model.nodes:  # in topological order
        own = _draws_masks(node.op)
        if own or any(name in masked for name in node.inputs):
            masked.add(node.name)
    return masked


def run_parity(
    model: CheckedModel,
    backends: list[str],
    *,
    dtype: str = "float64",
    seed: int = 0,
    batch: int = 4,
    loss: LossSpec | None = None,
    train: bool | None = None,
    tolerances: tuple[float, float] | None = None,
    device: str = "cpu",
) -> ParityReport:
    """Compare ``backends[1:]`` against ``backends[0]`` on one random batch.

    ``train`` defaults to training mode unless the model has dropout (whose masks are
    each backend's own random stream), so batchnorm's batch statistics are exercised.
    Relative differences are taken against max(|reference|, 1).
    """
    if len(backends) < 2:
        raise ValueError("parity needs at least two backends")
    seed = check_seed(seed)  # the range every backend takes, before any work
    loss = loss or default_loss(model)
    train = (not has_dropout(model)) if train is None else train
    value_tol, grad_tol = tolerances or TOLERANCES[dtype]
    params = initial_params(model, seed=seed, dtype=dtype)
    x, y = random_batch(model, loss, batch, seed, dtype)
    report = ParityReport(model=model.name, reference=backends[0], dtype=dtype, train=train)
    results = {}
    for name in backends:
        compiled = get_backend(name).compile(
            model,
            dtype=dtype,
            device=device if name != "numpy" else "cpu",
            seed=seed,
            params={k: v.copy() for k, v in params.items()},
        )
        activations = compiled.trace(x, train=train)
        # A second, fresh copy for gradients: trace in training mode moved the state.
        compiled.set_parameters({k: v.copy() for k, v in params.items()})
        loss_value, grads = compiled.loss_and_grads(x, y, loss, train=train, input_grad=True)
        results[name] = (activations, float(loss_value), grads, compiled.state())
    ref_acts, ref_loss, ref_grads, ref_state = results[backends[0]]
    masked = masked_nodes(model) if train else set()
    # The loss depends on every mask, and so, through it, does every gradient.
    loss_masked = bool(masked)
    for other in backends[1:]:
        acts, other_loss, grads, state = results[other]
        rows: list[Difference] = []
        for node in [*model.input_names, *(n.name for n in model.nodes)]:
            if node in ref_acts:
                row = _compare("activation", node, other, ref_acts[node], acts[node], value_tol)
                rows.append(replace(row, masked=node in masked))
        loss_row = _compare(
            "loss", "loss", other, np.array(ref_loss), np.array(other_loss), value_tol
        )
        rows.append(replace(loss_row, masked=loss_masked))
        # Integer indices have no gradient: every floating-point input has one.
        for name in [*gradient_inputs(model), *(p.name for p in model.params)]:
            row = _compare("gradient", name, other, ref_grads[name], grads[name], grad_tol)
            rows.append(replace(row, masked=loss_masked))
        for spec in model.state:
            row = _compare(
                "state", spec.name, other, ref_state[spec.name], state[spec.name], value_tol
            )
            rows.append(replace(row, masked=spec.node in masked))
        report.rows.extend(rows)
    return report
