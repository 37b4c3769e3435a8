"""The benchmark suite runs: each group's function on its smallest case, two repeats.

Timings here mean nothing; the test checks that every group produces finite figures
(python -m benchmarks runs the real thing, docs/benchmarks.md holds a full run).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from benchmarks import (
    frontend,
    gpu,
    gpu_precision,
    jax_devices,
    limit,
    load,
    loop,
    lsp_edit,
    onnx_export,
    process,
    recurrent,
    train_step,
)
from benchmarks.__main__ import main
from netspec.data._idx import write_idx

TINY = {"rounds": 2, "calls": 2}
FRAMEWORKS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            name != "numpy" and importlib.util.find_spec(name) is None,
            reason=f"{name} is not installed",
        ),
    )
    for name in ("numpy", "torch", "jax")
]


@pytest.fixture(autouse=True)
def _one_torch_thread():  # type: ignore[no-untyped-def]
    # As python -m benchmarks does by default: on a busy machine two OpenMP threads can
    # make a tiny step a hundred times slower, and this test only needs it to run.
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("framework", [*FRAMEWORKS, "numpy-float32"])
def test_recurrent_case_gives_finite_timings(framework: str) -> None:
    """The LSTM step against its hand-written twin: the same network (outputs agree
    before timing) and finite figures."""
    case = recurrent.run_case(framework, rounds=2, block_s=0.001, batch=4)
    assert case.max_output_diff < 1e-3
    assert all(math.isfinite(v) for v in (case.step.a.median, case.step.ratio.median))
    assert "| " in recurrent.render(recurrent.Result([case]))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_train_step_case_gives_finite_timings(framework: str) -> None:
    case = train_step.run_case(framework, "mlp", batch=8, infer_batch=16, **TINY)
    assert case.max_output_diff < 1e-3
    assert train_step.finite(train_step.GroupResult([case]))
    assert "| " in train_step.render(train_step.GroupResult([case]))


def test_the_several_steps_per_call_row_has_its_goal_and_first_call() -> None:
    pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
    case = train_step.run_case("jax", "mlp", batch=8, infer_batch=0, variant="k=4", **TINY)
    assert case.step.calls % 4 == 0 and case.compile_s is not None
    text = train_step.render(train_step.GroupResult([case]))
    assert "jax 4 step(s) per call" in text and "ratio <= 0.9" in text
    assert "first call of each variant" in text


@pytest.mark.parametrize("framework", FRAMEWORKS[1:])
def test_attention_case_runs_the_same_network_by_hand(framework: str) -> None:
    """The hand-written nn.MultiheadAttention net (or JAX's) takes netspec's weights in
    order and agrees on the outputs before timing (run_case checks it)."""
    case = train_step.run_case(framework, "attention", batch=4, infer_batch=8, **TINY)
    assert case.max_output_diff < 1e-4
    result = train_step.GroupResult([case])
    assert train_step.finite(result)
    assert "ratio <= 1.1" in train_step.render(result, title="attention")


def test_limit_gives_finite_timings() -> None:
    result = limit.run(batch=8, big_size=64, big_rounds=1, backends=("numpy",), **TINY)
    assert limit.finite(result)
    assert all(math.isfinite(s.median) for s in result.big.values())
    assert "bare-GEMM bound" in limit.render(result)


def test_frontend_gives_finite_timings() -> None:
    result = frontend.run(repeats=1, sizes=(10,), resnet=False)
    assert frontend.finite(result)
    assert "10 layers" in frontend.render(result)
    if lsp_edit.why_not() is None:
        assert result.lsp is not None and result.lsp.n == 4  # four edits, each timed
        assert "netspec lsp: an edit of specs/resnet18.net" in frontend.render(result)


def test_onnx_gives_finite_timings_or_says_why_not() -> None:
    result = onnx_export.run(nets=("mlp",), batches=(2,), export=False, rounds=2, block_s=0.001)
    if result.skipped:
        assert result.skipped == onnx_export.why_not()
        assert "skipped" in onnx_export.render(result)
        return
    assert onnx_export.finite(result)
    assert result.rows[0].max_output_diff < 1e-4
    assert "| MNIST MLP (specs/mlp.net) | 2 |" in onnx_export.render(result)


def _fake_mnist(root: Path, train: int = 400, test: int = 50) -> None:
    folder = root / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte",
            rng.integers(0, 256, (count, 28, 28)).astype(np.uint8),
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(count) % 10).astype(np.uint8))


def test_loop_gives_finite_timings(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    result = loop.run(rounds=1, limits=(300,), backends=("numpy",), data_dir=str(tmp_path))
    assert result.skipped is None
    assert loop.finite(result)
    row = result.rows[0]
    assert (row.train_samples, row.eval_samples) == (270, 30 + 50)
    assert "loop overhead" in loop.render(result)


def test_loop_pipeline_gives_finite_timings(tmp_path: Path) -> None:
    from benchmarks import loop_pipeline

    _fake_mnist(tmp_path)
    result = loop_pipeline.run(rounds=1, backends=("numpy",), data_dir=str(tmp_path), scale=0.02)
    assert loop_pipeline.finite(result)
    assert [r.case for r in result.prefetch] == ["MLP", "LeNet-5 + augment"]
    assert not any(r.auto for r in result.prefetch)  # the numpy backend: the main thread
    assert "| MLP | numpy |" in loop_pipeline.render(result)


def test_loop_without_data_says_it_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETSPEC_DATA_DIR", raising=False)
    assert "NETSPEC_DATA_DIR" in (loop.run(rounds=1).skipped or "")


def test_process_without_data_says_it_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETSPEC_DATA_DIR", raising=False)
    result = process.run(rounds=1)
    assert not result.rows and "NETSPEC_DATA_DIR" in result.skipped[0]
    assert "skipped: NETSPEC_DATA_DIR" in process.render(result)


def test_process_itemises_every_stage_of_a_traced_run(tmp_path: Path) -> None:
    # One traced process (the numpy backend: the quickest to start); the timed pairs of
    # processes are the same subprocess call without the trace.
    _fake_mnist(tmp_path)
    env = {**os.environ, "NETSPEC_DATA_DIR": str(tmp_path)}
    stages, whole = process._itemise("numpy", tmp_path, env, 1, None)
    labels = [label for label, _, _ in (*process.STAGES, process.FIRST_STEP, *process.AFTER)]
    assert list(stages) == labels
    assert all(s.n == 1 and s.finite() and s.median >= 0 for s in stages.values())
    assert whole is not None and whole.median >= stages["time to first step"].median
    row = process.ProcessRow("torch", whole, whole, process.Spread.of([1.05, 1.2]), stages, whole)
    text = process.render(process.ProcessResult(rows=[row]))
    assert "<= 1.10 (NOT met)" in text and "| time to first step |" in text


def test_jax_devices_gives_finite_timings(tmp_path: Path) -> None:
    pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
    _fake_mnist(tmp_path)
    result = jax_devices.run(rounds=1, limit=300, data_dir=str(tmp_path))
    assert result.skipped is None and jax_devices.finite(result)
    assert [(row.devices, row.train_samples) for row in result.rows] == [(1, 270), (2, 270)]
    assert result.rows[1].max_weight_diff < 1e-5  # two devices trained as one
    assert "jax-devices" in jax_devices.render(result)


def test_gpu_group_runs_or_says_why_not(capsys: pytest.CaptureFixture[str]) -> None:
    result = gpu.run(nets=("mlp",), **TINY)
    why = {"torch": gpu.torch_cuda(), "jax": gpu.jax_gpu()}
    # Each framework either ran both settings on CUDA, with finite figures, or is listed
    # as skipped with its reason; none is dropped silently.
    assert result.skipped == [f"{name}: {reason}" for name, reason in why.items() if reason]
    ran = [name for name, reason in why.items() if reason is None]
    assert [(c.framework, c.label) for c in result.steps.cases] == [
        (name, label) for name in ran for label, _ in gpu.SETTINGS
    ]
    assert gpu.finite(result)
    if importlib.util.find_spec("torch") is not None:
        import torch

        assert ("torch" in ran) == torch.cuda.is_available()
    assert main(["--only", "gpu", "--threads", "0"]) == 0
    out = capsys.readouterr().out
    assert "machine:" in out and "### goals" in out
    assert all(f"skipped {line}" in out for line in result.skipped)


@pytest.mark.parametrize("options", ["present", "as installed"])
def test_gpu_group_runs_each_row_of_each_framework_with_a_device(
    monkeypatch: pytest.MonkeyPatch, options: str
) -> None:
    # Without a CUDA device here, the group's bookkeeping is checked with the device
    # probes saying yes and a stand-in for the measured row; the mixed-precision and
    # compile rows run where netspec has those options ("present" says it has), and are
    # otherwise listed as skipped with the reason.
    monkeypatch.setattr(gpu, "torch_cuda", lambda: None)
    monkeypatch.setattr(gpu, "jax_gpu", lambda: None)
    if options == "present":
        monkeypatch.setattr(gpu_precision, "support", lambda: None)
        monkeypatch.setattr(gpu, "compile_support", lambda: None)
    missing = {"mixed precision": gpu_precision.support(), "compile": gpu.compile_support()}
    asked = []
    measured = train_step.run_case("numpy", "mlp", batch=8, infer_batch=16, **TINY)

    def fake_case(framework: str, net: str, **options: object) -> train_step.CaseResult:
        row = options.get("variant") or (options["label"], options["allow_tf32"])
        asked.append((framework, net, options["device"], row))
        return dataclasses.replace(measured, framework=framework, label=str(row))

    def fake_precision(net: str, precision: str, **options: object) -> train_step.CaseResult:
        asked.append(("torch", net, "cuda", precision))
        return dataclasses.replace(measured, framework="torch", label=precision)

    monkeypatch.setattr(train_step, "run_case", fake_case)
    monkeypatch.setattr(gpu_precision, "run_case", fake_precision)
    result = gpu.run(nets=("mlp",), **TINY)
    assert result.skipped == [f"torch {row}: {why}" for row, why in missing.items() if why]
    settings = [(label, tf32) for label, tf32 in gpu.SETTINGS]
    expected = [("torch", "mlp", "cuda", row) for row in settings]
    if missing["mixed precision"] is None:
        expected += [("torch", "mlp", "cuda", p) for p in gpu_precision.PRECISIONS]
    if missing["compile"] is None:
        expected += [("torch", "mlp", "cuda", "compile")]
    expected += [("jax", "mlp", "cuda", (label, None)) for label, _ in gpu.SETTINGS]
    assert asked == expected
    assert len(result.steps.cases) == len(expected) and gpu.finite(result)
    assert ("skipped" in gpu.render(result)) == bool(result.skipped)


def test_load_group_gives_finite_timings() -> None:
    # No competing process here (the group's own subprocesses are not what is tested):
    # every setting of a framework runs alone and "beside" nothing, with its threads.
    result = load.run(rounds=1, samples={"mlp": 16}, cases=(("numpy", "mlp"),), competitors=0)
    assert [(r.framework, r.setting) for r in result.rows] == [
        ("numpy", "library default"),
        ("numpy", "netspec default"),
    ]
    assert load.finite(result)
    assert "| numpy | MLP 784-256-10 | netspec default |" in load.render(result)


def test_two_gpu_row_runs_or_says_why_not() -> None:
    torch = pytest.importorskip("torch", reason="the distributed group needs torch")
    from benchmarks import distributed

    result = distributed.run(device="cuda", rounds=1, samples=512)
    count = torch.cuda.device_count()
    if count >= 2:
        assert [row.nproc for row in result.rows] == [1, 2] and not result.skipped
    else:
        assert result.skipped == [f"two processes on CUDA need two GPUs; torch sees {count}"]
        assert "skipped two processes on CUDA need two GPUs" in distributed.render(result)
