"""Group train-step: netspec's fused training step against the same network by hand.

For each framework (PyTorch, JAX, NumPy) and network (MLP 784-256-10 at batch 128,
LeNet-5 at batch 64), netspec's ``compiled.train_step(loss, Sgd(lr), None).step(x, y,
lr)`` (forward, softmax cross-entropy, backward, SGD update, on-device statistics;
drained once per block) is alternated with the hand-written step of
:mod:`benchmarks.references` started from netspec's initial weights. Both sides take
the same NumPy batch on every call. Inference throughput (batch 1024, NumPy in and out)
is compared the same way.

Before timing, the two sides' outputs on the batch are compared, so that a table never
compares two different networks.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import netspec
from benchmarks._timing import Pair, alternate, calibrate, table
from netspec.backend import get_backend
from netspec.ir.train import Sgd, SoftmaxCrossEntropy

ROOT = Path(__file__).resolve().parents[1]
SPECS = {
    "mlp": ROOT / "specs" / "mlp.net",
    "lenet5": ROOT / "specs" / "lenet5.net",
    "attention": ROOT / "benchmarks" / "attention.net",
}
BATCHES = {"mlp": 128, "lenet5": 64, "attention": 64}
TITLES = {"mlp": "MLP 784-256-10", "lenet5": "LeNet-5", "attention": "encoder layer, 28 x 64"}
FRAMEWORKS = ("torch", "jax", "numpy")
REFERENCE = {
    "torch": "torch.nn + torch.optim.SGD",
    "jax": "jax.value_and_grad + jitted SGD",
    "numpy": "textbook (float64, im2col, layer objects)",
}
LR = 1e-3
INFER_BATCH = 1024
# Goals: PyTorch / JAX step time at most 5% over hand-written (10% for the attention
# net, whose step is many small ops); NumPy at least 2x faster.
RATIO_GOAL = 1.05
RATIO_GOALS = {"attention": 1.10}
NUMPY_SPEEDUP_GOAL = 2.0


# The variants' rows: several steps per call on JAX, torch.compile on PyTorch.
VARIANTS = {"jax": "k=4", "torch": "compile"}
# The variants' goal: at most 0.9 of the hand-written step.
VARIANT_GOAL = 0.9


def variant_label(variant: str) -> str:
    """The row label of a variant ("" for the default step)."""
    if variant.startswith("k="):
        return f"{variant[2:]} step(s) per call"
    return "--compile" if variant == "compile" else ""


def ratio_goal(net: str) -> float:
    """The most netspec's step may take, as a multiple of the hand-written step's."""
    return RATIO_GOALS.get(net, RATIO_GOAL)


@dataclass
class CaseResult:
    framework: str
    net: str
    batch: int
    device: str
    label: str  # e.g. "" or "TF32 off (parity)"
    step: Pair  # a = netspec, b = reference; seconds per step
    infer: Pair | None  # a = netspec, b = reference; seconds per batch of INFER_BATCH
    infer_batch: int
    max_output_diff: float
    compile_s: float | None = None  # first call of a variant's step (compile included)

    def goal(self) -> tuple[str, bool]:
        """The goal of this row and whether it is met (by the median ratio)."""
        ratio = self.step.ratio.median
        if self.framework == "numpy":
            return f"speed-up >= {NUMPY_SPEEDUP_GOAL:g}x", 1 / ratio >= NUMPY_SPEEDUP_GOAL
        if self.compile_s is not None:  # a variant's row
            return f"ratio <= {VARIANT_GOAL}", ratio <= VARIANT_GOAL
        return f"ratio <= {ratio_goal(self.net)}", ratio <= ratio_goal(self.net)


@dataclass
class GroupResult:
    cases: list[CaseResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _data(shape: tuple[int, ...], batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (batch, *shape)).astype(np.float32)
    return x, rng.integers(0, 10, batch).astype(np.int64)


@contextlib.contextmanager
def _jax_precision(label: str) -> Iterator[None]:
    """On a GPU, "highest" keeps JAX's float32 matmuls off TF32 for parity runs."""
    if "TF32 off" in label:
        import jax

        with jax.default_matmul_precision("highest"):
            yield
    else:
        yield


@contextlib.contextmanager
def _torch_tf32(allow: bool | None) -> Iterator[None]:
    """The global TF32 flags the hand-written torch net runs under (CUDA only)."""
    if allow is None:
        yield
        return
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _netspec_side(
    framework: str, net: str, device: str, allow_tf32: bool | None, variant: str = ""
) -> tuple[Any, Any]:
    model = netspec.load(SPECS[net]).model()
    options: dict[str, Any] = {"seed": 0, "dtype": "float32", "device": device}
    if framework == "torch" and allow_tf32 is not None:
        options["allow_tf32"] = allow_tf32
    if variant == "compile":
        options["compile"] = True
    compiled = get_backend(framework).compile(model, **options)
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=LR), None)
    if variant.startswith("k="):
        step.steps_per_call(int(variant[2:]))
    return compiled, step


def _reference_side(
    framework: str, net: str, params: dict[str, np.ndarray], device: str
) -> tuple[
    Callable[[np.ndarray, np.ndarray], None],
    Callable[[], object],
    Callable[[np.ndarray], np.ndarray],
]:
    """(step(x, y), sync(), predict(x)) of the hand-written network."""
    if framework == "torch":
        import torch

        from benchmarks.references import torch_nets

        module = torch_nets.BUILDERS[net]()
        torch_nets.load_netspec_params(module, params)
        trainer = torch_nets.TrainStep(module, LR, device)
        last: list[Any] = [None]

        def step(x: np.ndarray, y: np.ndarray) -> None:
            last[0] = trainer.step(x, y)

        def sync() -> object:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return None if last[0] is None else float(last[0].detach())

        def predict(x: np.ndarray) -> np.ndarray:
            return torch_nets.predict(module, x, device)

        return step, sync, predict
    if framework == "jax":
        import jax

        from benchmarks.references import jax_nets

        jdevice = jax.devices("cpu" if device == "cpu" else "gpu")[0]
        jtrainer = jax_nets.TrainStep(net, params, jdevice)
        forward = jax_nets.make_predict(net)

        def jstep(x: np.ndarray, y: np.ndarray) -> None:
            jtrainer.step(x, y, LR)

        def jpredict(x: np.ndarray) -> np.ndarray:
            return np.asarray(forward(jtrainer.params, x))

        return jstep, jtrainer.sync, jpredict
    from benchmarks.references import numpy_textbook

    book = numpy_textbook.BUILDERS[net](params)

    def nstep(x: np.ndarray, y: np.ndarray) -> None:
        book.sgd_step(x, y, LR)

    return nstep, lambda: None, book.predict


def run_case(
    framework: str,
    net: str,
    *,
    batch: int | None = None,
    rounds: int = 31,
    block_s: float = 0.02,
    infer_batch: int = INFER_BATCH,
    device: str = "cpu",
    label: str = "",
    allow_tf32: bool | None = None,
    calls: int | None = None,
    twin: bool = True,
    variant: str = "",
) -> CaseResult:
    """One row: step and inference of ``net`` on ``framework``, netspec vs by hand.

    With ``twin`` a second copy of the hand-written step joins the rotation; its ratio
    to the first is the noise floor of the row. ``variant`` "k=K" runs K steps per
    compiled call (jax; blocks are then a multiple of K steps), "compile" compiles the
    step with torch.compile (torch; its compile time is recorded in ``compile_s``).
    """
    batch = batch or BATCHES[net]
    with _jax_precision(label), _torch_tf32(allow_tf32):
        compiled, step = _netspec_side(framework, net, device, allow_tf32, variant)
        if variant.startswith("k="):  # what the step chose (1 for convolutions on the CPU)
            variant = f"k={step.steps_per_call(int(variant[2:]))}"
        label = label or variant_label(variant)
        params = compiled.parameters()
        ref_step, ref_sync, ref_predict = _reference_side(framework, net, params, device)
        twin_step, twin_sync, _ = (
            _reference_side(framework, net, params, device) if twin else (None, None, None)
        )
        shape = tuple(compiled.ir.input.shape)
        x, y = _data(shape, batch)
        xi, _ = _data(shape, infer_batch, seed=1)
        # Same network: outputs agree before any step (float32 / float64 round-off only;
        # TF32 rounds inputs to 10 bits, so a looser bound there).
        diff = float(np.max(np.abs(compiled.forward(x) - ref_predict(x))))
        if not diff < (2e-2 if "TF32 on" in label else 1e-3):
            raise AssertionError(f"{framework} {net}: netspec and the reference differ by {diff}")

        def ours(n: int) -> None:
            for _ in range(n):
                step.step(x, y, LR)
            step.drain()

        def theirs(n: int) -> None:
            for _ in range(n):
                ref_step(x, y)
            ref_sync()

        def twins(n: int) -> None:
            assert twin_step is not None and twin_sync is not None
            for _ in range(n):
                twin_step(x, y)
            twin_sync()

        def ours_infer(n: int) -> None:
            for _ in range(n):
                compiled.forward(xi)

        def theirs_infer(n: int) -> None:
            for _ in range(n):
                ref_predict(xi)

        compile_s = None
        if variant:
            # The first call of a new path compiles (scan, torch.compile): outside timing.
            k = int(variant[2:]) if variant.startswith("k=") else 1
            begin = time.perf_counter()
            ours(k)
            compile_s = time.perf_counter() - begin
            calls = -(-(calls or calibrate(theirs, block_s)) // k) * k  # whole calls
        step_pair = alternate(
            ours,
            theirs,
            rounds=rounds,
            block_s=block_s,
            calls=calls,
            twin=twins if twin else None,
        )
        infer_pair = None
        if infer_batch:
            infer_pair = alternate(
                ours_infer,
                theirs_infer,
                rounds=max(3, rounds // 3),
                block_s=block_s,
                calls=calls,
            )
    return CaseResult(
        framework, net, batch, device, label, step_pair, infer_pair, infer_batch, diff, compile_s
    )


def run(
    *,
    rounds: int = 31,
    block_s: float = 0.02,
    nets: tuple[str, ...] = ("mlp", "lenet5"),
    frameworks: tuple[str, ...] = FRAMEWORKS,
    batches: dict[str, int] | None = None,
    infer_batch: int = INFER_BATCH,
    calls: int | None = None,
    progress: Callable[[str], None] | None = None,
    variants: bool = True,
) -> GroupResult:
    """The whole CPU group; a framework that is not installed is listed as skipped. With
    ``variants``, each network's default row is followed by its framework's variant row
    (:data:`VARIANTS`: 4 steps per call on JAX, --compile on PyTorch)."""
    result = GroupResult()
    for framework in frameworks:
        if framework != "numpy":
            try:
                __import__(framework)
            except ImportError:
                result.skipped.append(f"{framework}: not installed")
                continue
        for net in nets:
            if progress:
                progress(f"train-step: {framework} {net}")
            result.cases.append(
                run_case(
                    framework,
                    net,
                    batch=(batches or {}).get(net),
                    rounds=rounds,
                    block_s=block_s,
                    infer_batch=infer_batch,
                    calls=calls,
                )
            )
            if variants and framework in VARIANTS:
                if progress:
                    progress(f"train-step: {framework} {net} {VARIANTS[framework]}")
                result.cases.append(
                    run_case(
                        framework,
                        net,
                        batch=(batches or {}).get(net),
                        rounds=rounds,
                        block_s=block_s,
                        infer_batch=0,
                        calls=calls,
                        variant=VARIANTS[framework],
                    )
                )
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def render(result: GroupResult, title: str = "train-step") -> str:
    rows = []
    for c in result.cases:
        goal, met = c.goal()
        speedup = 1 / c.step.ratio.median
        rows.append(
            [
                f"{c.framework}{' ' + c.label if c.label else ''}",
                f"{TITLES[c.net]} (batch {c.batch})",
                REFERENCE[c.framework],
                f"{_ms(c.step.a.median)} [{_ms(c.step.a.q1)}, {_ms(c.step.a.q3)}]",
                f"{_ms(c.step.b.median)} [{_ms(c.step.b.q1)}, {_ms(c.step.b.q3)}]",
                c.step.ratio.fmt(),
                c.step.noise.fmt() if c.step.noise else "-",
                f"{speedup:.2f}x",
                f"{goal}: {'met' if met else 'NOT met'}",
            ]
        )
    out = [
        f"### {title}: training step (forward + backward + SGD update), ms per step",
        "",
        "median [interquartile range] over rotating blocks; ratio = netspec / hand-written "
        "per round (below 1: netspec faster); noise floor = a second copy of the "
        "hand-written step / the first, the ratio that noise alone gives.",
        "",
        table(
            [
                "framework",
                "network",
                "hand-written reference",
                "netspec ms",
                "reference ms",
                "ratio",
                "noise floor",
                "netspec speed-up",
                "goal",
            ],
            rows,
        ),
    ]
    rows = []
    for c in result.cases:
        if c.infer is None:
            continue
        rows.append(
            [
                c.framework + (" " + c.label if c.label else ""),
                TITLES[c.net],
                f"{c.infer_batch / c.infer.a.median:,.0f}",
                f"{c.infer_batch / c.infer.b.median:,.0f}",
                f"{1 / c.infer.ratio.median:.2f} [{1 / c.infer.ratio.q3:.2f}, "
                f"{1 / c.infer.ratio.q1:.2f}]",
            ]
        )
    if rows:
        out += [
            "",
            f"### {title}: inference throughput (batch {result.cases[0].infer_batch}, "
            "NumPy in and out), samples/s",
            "",
            table(
                ["framework", "network", "netspec", "reference", "netspec / reference throughput"],
                rows,
            ),
        ]
    blocks = sorted(
        {(c.framework, c.label, c.net, c.step.calls, c.step.rounds) for c in result.cases}
    )
    out += [
        "",
        "steps per block / rounds: "
        + "; ".join(
            f"{f}{' ' + label if label else ''} {n} {calls}/{rounds}"
            for f, label, n, calls, rounds in blocks
        ),
    ]
    firsts = [c for c in result.cases if c.compile_s is not None]
    if firsts:
        out.append(
            "first call of each variant (compiles), s: "
            + "; ".join(
                f"{c.framework} {c.label} {TITLES[c.net]} {c.compile_s:.1f}" for c in firsts
            )
        )
    for line in result.skipped:
        out.append(f"- skipped {line}")
    return "\n".join(out)


def finite(result: GroupResult) -> bool:
    return all(
        c.step.a.finite()
        and c.step.b.finite()
        and c.step.ratio.finite()
        and (c.infer is None or math.isfinite(c.infer.ratio.median))
        for c in result.cases
    )
