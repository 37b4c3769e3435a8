"""Group onnx: ONNX export time, and onnxruntime's inference against the torch backend's.

Run alone: python -m benchmarks.onnx_export [--quick]

- Export: ``netspec.export.onnx.export_onnx`` of specs/resnet18.net (11.7M parameters,
  initial weights) to a temporary file, in process after one warm-up export: building
  the graph from the checked IR, ``onnx.checker`` (full check), serialising and the
  atomic write. The spec is loaded once, outside the timing.
- Inference: the exported model (float32, dynamic batch) in an onnxruntime CPU session
  against the torch backend's module (``netspec.compile(spec, "torch")``, eval mode,
  ``torch.inference_mode``), same weights, on the MNIST MLP (specs/mlp.net) and LeNet-5
  (specs/lenet5.net) at batch 1 and 256, alternated in blocks (benchmarks/_timing.py).
  Both use as many threads as PyTorch is given (``--threads``, 1 by default). The two
  outputs are compared before timing.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks._timing import Pair, Spread, alternate, table

ROOT = Path(__file__).resolve().parents[1]
NETS = {"mlp": "MNIST MLP (specs/mlp.net)", "lenet5": "LeNet-5 (specs/lenet5.net)"}


@dataclass
class InferRow:
    net: str
    batch: int
    pair: Pair  # a = onnxruntime, b = torch backend; seconds per batch
    max_output_diff: float


@dataclass
class OnnxResult:
    export: Spread | None = None
    export_mb: float = 0.0
    rows: list[InferRow] = field(default_factory=list)
    skipped: str | None = None


def why_not() -> str | None:
    """Why the group cannot run here, or None."""
    for module, extra in (("onnx", "onnx"), ("onnxruntime", "onnx"), ("torch", "torch")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install netspec[{extra}])"
    return None


def time_export(repeats: int) -> tuple[Spread, float]:
    """Seconds per ResNet-18 export and the file's size in MB."""
    import netspec
    from netspec.export.onnx import export_onnx

    program = netspec.load(ROOT / "specs" / "resnet18.net")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "resnet18.onnx"
        export_onnx(program, target)  # warm-up: imports, first allocation
        for _ in range(repeats):
            start = time.perf_counter()
            export_onnx(program, target)
            times.append(time.perf_counter() - start)
        size = target.stat().st_size / 1e6
    return Spread.of(times), size


def infer_row(net: str, batch: int, *, rounds: int, block_s: float) -> InferRow:
    import onnxruntime as ort
    import torch

    import netspec
    from netspec.export.onnx import to_onnx
    from netspec.initializers import initial_params

    program = netspec.load(ROOT / "specs" / f"{net}.net")
    model = program.model()
    weights = initial_params(model, 0, "float32")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    proto = to_onnx(program, weights=weights, dynamic_batch=True)
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    module = netspec.compile(program, "torch", params=weights).eval()
    (given,) = model.inputs  # the MLP and LeNet-5 take one input
    x = np.random.default_rng(0).normal(size=(batch, *given.shape)).astype(np.float32)
    xt = torch.from_numpy(x)
    feed = {given.name: x}
    with torch.inference_mode():
        diff = float(np.abs(session.run(None, feed)[0] - module(xt).numpy()).max())

    def ours(n: int) -> None:
        for _ in range(n):
            session.run(None, feed)

    def theirs(n: int) -> None:
        with torch.inference_mode():
            for _ in range(n):
                module(xt)

    pair = alternate(ours, theirs, rounds=rounds, block_s=block_s)
    return InferRow(net, batch, pair, diff)


def run(
    *,
    rounds: int = 21,
    block_s: float = 0.02,
    repeats: int = 5,
    nets: tuple[str, ...] = ("mlp", "lenet5"),
    batches: tuple[int, ...] = (1, 256),
    export: bool = True,
    progress: Callable[[str], None] | None = None,
) -> OnnxResult:
    result = OnnxResult(skipped=why_not())
    if result.skipped:
        return result
    if export:
        if progress:
            progress("onnx: exporting resnet18")
        result.export, result.export_mb = time_export(repeats)
    for net in nets:
        for batch in batches:
            if progress:
                progress(f"onnx: {net} batch {batch}")
            result.rows.append(infer_row(net, batch, rounds=rounds, block_s=block_s))
    return result


def render(result: OnnxResult) -> str:
    if result.skipped:
        return f"### onnx\n\nskipped: {result.skipped}"
    out = []
    if result.export is not None:
        out += [
            "### onnx: export of specs/resnet18.net (11.7M parameters), seconds (median [IQR])",
            "",
            f"{result.export.fmt(digits=2)} s per export, a {result.export_mb:.1f} MB file "
            "(graph from the IR, full onnx.checker, serialising, atomic write)",
            "",
        ]
    rows = []
    for row in result.rows:
        pair = row.pair
        rows.append(
            [
                NETS.get(row.net, row.net),
                str(row.batch),
                f"{row.batch / pair.a.median:,.0f}",
                f"{row.batch / pair.b.median:,.0f}",
                f"{1 / pair.ratio.median:.2f} [{1 / pair.ratio.q3:.2f}, {1 / pair.ratio.q1:.2f}]",
                f"{row.max_output_diff:.1e}",
            ]
        )
    if rows:
        out += [
            "### onnx: inference throughput, samples/s: onnxruntime against the torch backend",
            "",
            table(
                [
                    "net",
                    "batch",
                    "onnxruntime",
                    "torch backend",
                    "onnxruntime / torch (median [IQR])",
                    "max |diff|",
                ],
                rows,
            ),
        ]
    return "\n".join(out)


def finite(result: OnnxResult) -> bool:
    spreads = [result.export] if result.export else []
    spreads += [s for row in result.rows for s in (row.pair.a, row.pair.b, row.pair.ratio)]
    return bool(spreads) and all(s.finite() for s in spreads)


def main(argv: list[str] | None = None) -> OnnxResult:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, not for quoting")
    args = parser.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    result = run(rounds=5, repeats=2) if args.quick else run()
    print(render(result))
    return result


if __name__ == "__main__":
    main()
