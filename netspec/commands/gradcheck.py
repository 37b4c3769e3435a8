"""`netspec gradcheck`: a backend's gradients against central differences, in float64.

The analytic gradients are the backend's own ``loss_and_grads`` in training mode: the
train section's loss plus the parameters' l1 / l2 penalties, which is what a training
step differentiates. Each is compared, coordinate by coordinate, with
``(L(w + h) - L(w - h)) / 2h``, where ``L`` is the loss of the same backend's
training-mode forward pass (the loss formula and penalties of docs/training.md, evaluated
in NumPy: a forward pass costs a third of a forward and backward one). Every evaluation
starts from the same weights and state and reseeds the model, so dropout draws the same
masks each time. Tensors with more than ``samples`` values are checked at ``samples``
coordinates drawn with the seed.

A coordinate out of tolerance is measured again with ``h / 10``, then ``h / 100`` (the
truncation error of a strongly curved loss falls a hundredfold each time), and the
closest difference counts.

A coordinate fails when its relative error,
``|analytic - numeric| / max(|analytic|, |numeric|, atol / rtol)``, exceeds ``rtol``:
relative to the larger value, with absolute tolerance ``atol`` for gradients smaller than
``atol / rtol``. A coordinate whose perturbation flips a piecewise decision (see
:mod:`netspec.commands._kinks`), or a weight with an l1 penalty within ``h`` of 0, is a
kink: reported, not judged.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netspec.commands._batch import Batch, add_batch_options, batch_from_args, load_params
from netspec.commands._kinks import decisions, flipped, has_decisions
from netspec.errors import NetspecError
from netspec.ir import CheckedModel

DEFAULT_H = 1e-5
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-8
DEFAULT_SAMPLES = 20
KINKS_SHOWN = 5


@dataclass(frozen=True)
class Kink:
    """A coordinate whose ±h perturbation crossed a piecewise decision."""

    tensor: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    nodes: tuple[str, ...]  # the nodes whose decisions flipped ("loss", "l1 penalty")


@dataclass
class TensorCheck:
    """The comparison of one tensor's gradient (a parameter or an input)."""

    name: str
    kind: str  # "parameter" or "input"
    shape: tuple[int, ...]
    checked: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: tuple[tuple[int, ...], float, float] | None = None  # index, analytic, numeric
    kinks: list[Kink] = field(default_factory=list)
    rtol: float = DEFAULT_RTOL

    @property
    def ok(self) -> bool:
        return self.max_rel <= self.rtol


@dataclass
class GradcheckReport:
    model: str
    backend: str
    batch: str
    loss: str
    h: float
    rtol: float
    atol: float
    tensors: list[TensorCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every checked coordinate within tolerance (kinks aside)."""
        return all(tensor.ok for tensor in self.tensors)

    def render(self) -> str:
        """A table of every tensor, the kinks found, then a verdict."""
        header = ("tensor", "shape", "checked", "kinks", "max abs err", "max rel err", "")
        rows = [header]
        for t in self.tensors:
            rows.append(
                (
                    t.name,
                    str(list(t.shape)),
                    str(t.checked),
                    str(len(t.kinks)),
                    f"{t.max_abs:.3e}",
                    f"{t.max_rel:.3e}",
                    "ok" if t.ok else "FAIL",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            f"gradcheck of {self.model} on {self.backend}: float64, {self.batch}, loss "
            f"{self.loss}, h {self.h:g}, rtol {self.rtol:g}, atol {self.atol:g}"
        ]
        for index, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        kinks = [kink for t in self.tensors for kink in t.kinks]
        if kinks:
            lines.append(
                f"{len(kinks)} coordinate{'s' if len(kinks) != 1 else ''} at a kink (a "
                "piecewise decision flips within ±h; not counted), largest gaps first:"
            )
            kinks.sort(key=lambda k: -abs(k.analytic - k.numeric))
            for kink in kinks[:KINKS_SHOWN]:
                lines.append(
                    f"  {kink.tensor}{list(kink.index)}: analytic {kink.analytic:.6e}, numeric "
                    f"{kink.numeric:.6e}; flips {', '.join(kink.nodes)}"
                )
            if len(kinks) > KINKS_SHOWN:
                lines.append(f"  ... and {len(kinks) - KINKS_SHOWN} more")
        failed = [t for t in self.tensors if not t.ok]
        if not failed:
            checked = sum(t.checked for t in self.tensors)
            lines.append(
                f"ok: {checked} coordinates of {len(self.tensors)} tensors agree within "
                f"relative error {self.rtol:g}"
            )
        for t in failed:
            assert t.worst is not None
            index, analytic, numeric = t.worst
            lines.append(
                f"FAIL: gradient of {t.name} at {list(index)}: analytic {analytic:.9e}, "
                f"numeric {numeric:.9e}, relative error {t.max_rel:.3e} > {self.rtol:g}"
            )
        return "\n".join(lines)


def _coordinates(shape: tuple[int, ...], samples: int, rng: np.random.Generator) -> np.ndarray:
    """Flat indices to check: all of a small tensor, ``samples`` drawn from a big one."""
    size = int(np.prod(shape, dtype=np.int64))
    if size <= samples:
        return np.arange(size)
    return np.sort(rng.choice(size, size=samples, replace=False))


def run_gradcheck(
    model: CheckedModel,
    backend: str,
    batch: Batch,
    *,
    h: float = DEFAULT_H,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    params: dict[str, np.ndarray] | None = None,
    device: str = "cpu",
) -> GradcheckReport:
    """Check ``backend``'s gradients of ``model`` on ``batch``; see the module docstring."""
    from netspec._contract import check_targets, gradient_inputs
    from netspec.backend import get_backend
    from netspec.backends.numpy._losses import loss_and_grad
    from netspec.commands._batch import fill_statistics

    compiled = get_backend(backend).compile(
        model, dtype="float64", device=device, seed=seed, params=params
    )
    if params is None:
        fill_statistics(model, compiled, batch)
    weights = compiled.parameters()
    state = compiled.state()
    x = {name: np.array(array) for name, array in batch.x.items()}
    loss = batch.loss
    targets = check_targets(model, batch.y, loss, len(batch.y), np.float64)
    kinked = has_decisions(model, loss)
    compiled.seed(seed)
    _, analytic = compiled.loss_and_grads(x, batch.y, loss, input_grad=True)

    def loss_at(changed: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> Any:
        """The loss with ``changed`` in place of the starting weights, from the starting
        state with the dropout stream restarted; and the piecewise decisions taken."""
        compiled.set_parameters({**changed, **state})
        compiled.seed(seed)
        if kinked:
            values = {**inputs, **compiled.trace(inputs, train=True)}
        else:
            values = {model.output: compiled.forward(inputs, train=True)}
        compiled.set_parameters({name: weights[name] for name in changed})
        value = loss_and_grad(values[model.output], targets, loss)[0]
        value += _penalty(model, {**weights, **changed})
        found = decisions(model, values, targets, loss) if kinked else {}
        return value, found

    specs = {spec.name: spec for spec in model.params}

    def difference(
        name: str, base: np.ndarray, index: tuple[int, ...], step: float
    ) -> tuple[float, list[str]]:
        """The central difference of the loss in ``base[index]`` (a parameter, or the
        input ``name``), and the decisions the two sides disagree on."""
        sides = []
        for sign in (1.0, -1.0):
            moved = base.copy()
            moved[index] += sign * step
            if name in specs:
                sides.append(loss_at({name: moved}, x))
            else:
                sides.append(loss_at({}, {**x, name: moved}))
        (up, up_found), (down, down_found) = sides
        nodes = flipped(up_found, down_found) if kinked else []
        if name in specs and specs[name].regularize.l1 and abs(float(base[index])) <= step:
            nodes.append("l1 penalty")
        return (up - down) / (2 * step), nodes

    report = GradcheckReport(model.name, backend, batch.source, loss.kind, h, rtol, atol)
    rng = np.random.default_rng(seed)
    names = [*specs, *gradient_inputs(model)]
    for name in names:
        is_input = name not in specs
        base = x[name] if is_input else weights[name]
        kind = "input" if is_input else "parameter"
        check = TensorCheck(name, kind, tuple(base.shape), rtol=rtol)
        for flat in _coordinates(base.shape, samples, rng):
            index = tuple(int(i) for i in np.unravel_index(int(flat), base.shape))
            exact = float(analytic[name][index])
            numeric, nodes = difference(name, base, index, h)
            relative = _relative(exact, numeric, rtol, atol)
            for finer in (h / 10, h / 100):
                if nodes or relative <= rtol:
                    break
                # A strongly curved loss (batchnorm over a few samples) can leave the
                # truncation error, h^2 |L'''| / 6, above tolerance: each step ten times
                # smaller cuts it a hundredfold (while rounding error grows tenfold),
                # and the closest difference counts. A wrong gradient is off at every step.
                again, nodes = difference(name, base, index, finer)
                if _relative(exact, again, rtol, atol) < relative:
                    numeric, relative = again, _relative(exact, again, rtol, atol)
            check.checked += 1
            if nodes:
                check.kinks.append(Kink(name, index, exact, numeric, tuple(nodes)))
                continue
            check.max_abs = max(check.max_abs, abs(exact - numeric))
            if relative > check.max_rel or check.worst is None:
                check.max_rel = max(check.max_rel, relative)
                check.worst = (index, exact, numeric)
        report.tensors.append(check)
    return report


def _relative(analytic: float, numeric: float, rtol: float, atol: float) -> float:
    """|analytic - numeric| / max(|analytic|, |numeric|, atol / rtol)."""
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), atol / rtol)


def _penalty(model: CheckedModel, weights: dict[str, np.ndarray]) -> float:
    """The l2 and l1 penalties of the weights (docs/training.md):
    sum of 0.5 l2 |w|^2 + l1 |w|_1 over the parameters that declare them."""
    total = 0.0
    for spec in model.params:
        w = weights[spec.name]
        if spec.regularize.l2:
            total += 0.5 * spec.regularize.l2 * float(np.sum(w * w))
        if spec.regularize.l1:
            total += spec.regularize.l1 * float(np.sum(np.abs(w)))
    return total


# -- the command --------------------------------------------------------------------------


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add `netspec gradcheck` to the command line."""
    from netspec._cli_parser import (
        _command,
        _model_option,
        _positive,
        _positive_float,
        add_set_option,
    )

    parser = _command(
        commands,
        "gradcheck",
        "check a backend's gradients against central differences in float64",
        "Compare a backend's loss gradients (the train section's loss with the penalties, "
        "in training mode, as a training step takes them) with central differences "
        "(L(w + h) - L(w - h)) / 2h in float64 (again with h / 10 and h / 100 where that "
        "is out of tolerance), for every parameter and floating-point "
        "input: at every coordinate of a small tensor and at --samples seeded coordinates "
        "of a big one. Coordinates where a ReLU-like activation, a max-pool or an l1 loss "
        "or penalty changes its piece within ±h are reported as kinks, not failures. Exit "
        "status 1 when a coordinate's relative error |analytic - numeric| / "
        "max(|analytic|, |numeric|, atol / rtol) exceeds --rtol.",
    )
    parser.add_argument("file", metavar="SPEC", help="the .net file")
    add_set_option(parser)
    parser.add_argument(
        "--backend", choices=("numpy", "torch", "jax"), default="numpy", help="the backend to check"
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda (or gpu), cuda:N or auto (a GPU when present)"
    )
    _model_option(parser, "the only one")
    parser.add_argument(
        "--weights",
        metavar="FILE_OR_RUN_DIR",
        help="weights to check at: a .safetensors file or a run directory (default: the "
        "initial weights drawn with --seed)",
    )
    parser.add_argument(
        "--h", type=_positive_float, default=DEFAULT_H, help="the step of the differences"
    )
    parser.add_argument(
        "--samples",
        type=_positive,
        default=DEFAULT_SAMPLES,
        help="coordinates checked per tensor (every one of a tensor this small or smaller)",
    )
    parser.add_argument(
        "--rtol", type=_positive_float, default=DEFAULT_RTOL, help="the relative tolerance"
    )
    parser.add_argument(
        "--atol",
        type=_positive_float,
        default=DEFAULT_ATOL,
        help="the absolute tolerance, for gradients smaller than atol / rtol",
    )
    add_batch_options(parser, batch=4)


def run(args: argparse.Namespace) -> int:
    """`netspec gradcheck`: exit 0 when every tensor agrees, 1 when one does not, 2 for
    usage errors."""
    from netspec._cli_parser import EXIT_OK, EXIT_SPEC
    from netspec.commands._shared import choose_model, exit_code, read_program

    code, program = read_program(args.file, args.set, "gradcheck")
    if program is None:
        return code
    try:
        model = choose_model(program, args.model)
        batch = batch_from_args(program, model, args, "float64")
        params = load_params(model, args.weights, "float64")
        report = run_gradcheck(
            model,
            args.backend,
            batch,
            h=args.h,
            samples=args.samples,
            seed=args.seed,
            rtol=args.rtol,
            atol=args.atol,
            params=params,
            device=args.device,
        )
    except NetspecError as error:
        print(f"netspec gradcheck: error: {error}", file=sys.stderr)
        return exit_code(error)
    print(report.render())
    return EXIT_OK if report.ok else EXIT_SPEC
