"""The memory estimate against what a model really holds, and the refusal of a run the
machine cannot hold, before anything is allocated (training and netspec.compile)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec import memory
from netspec.backend import get_backend
from netspec.ir.train import Adagrad, Adam, AdamW, OptimizerSpec, Rmsprop, Sgd, SoftmaxCrossEntropy
from netspec.memory import InsufficientMemory, check_memory, estimate, optimizer_slots
from netspec.summary import summary_table
from netspec.training import fit
from netspec.weights import load_weights

SPECS = Path(__file__).resolve().parent.parent / "specs"

SMALL = """\
netspec 1

model net(x: [1, 8, 8]) {
    conv2d(4, 3, padding = 1) -> batchnorm -> relu
    flatten
    dense(16) -> relu
    dense(10)
}

train net {
    data       digits(limit = 200)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    batch_size 16
    epochs     1
}
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", ["lenet5.net", "multilayer_net_extend.net"])
def test_parameter_part_is_parameter_count_times_dtype_size(spec: str, dtype: str) -> None:
    model = netspec.load(SPECS / spec).model()
    size = np.dtype(dtype).itemsize
    result = estimate(model, dtype=dtype)
    assert result.parameters == model.parameter_count * size
    assert result.state == sum(math.prod(s.shape) for s in model.state) * size
    assert result.gradients == result.optimizer == result.activations == 0  # not training


def test_activations_follow_the_summary_shapes() -> None:
    model = netspec.load(SPECS / "lenet5.net").model()
    # Every shape the summary prints (the input's and each node's output), per sample.
    shapes = re.findall(r"\[([\d, ]+)\]", summary_table(model).split("\n\n")[0])
    per_sample = sum(math.prod(int(d) for d in shape.split(",")) for shape in shapes)
    result = estimate(model, dtype="float32", batch_size=64, optimizer=Sgd())
    assert result.activations == 64 * per_sample * 4
    assert result.gradients == result.parameters


OPTIMIZERS: list[tuple[OptimizerSpec, int]] = [
    (Sgd(), 0),
    (Sgd(momentum=0.9), 1),
    (Adagrad(), 1),
    (Rmsprop(), 1),
    (Rmsprop(centered=True, momentum=0.9), 3),
    (Adam(), 2),
    (Adam(amsgrad=True), 3),
    (AdamW(), 2),
]


@pytest.mark.parametrize(("optimizer", "slots"), OPTIMIZERS)
def test_optimizer_state_matches_the_buffers_a_step_keeps(
    optimizer: OptimizerSpec, slots: int
) -> None:
    model = netspec.load(SMALL).model()
    assert optimizer_slots(optimizer)[0] == slots
    result = estimate(model, dtype="float64", batch_size=8, optimizer=optimizer)
    compiled = get_backend("numpy").compile(model, dtype="float64", seed=0)
    step = compiled.train_step(SoftmaxCrossEntropy(), optimizer, None)
    x = np.random.default_rng(0).normal(size=(8, 1, 8, 8))
    step.step(x, np.arange(8) % 10, 0.01)
    buffers = {k: v for k, v in step.optimizer_state().items() if k != "step"}
    assert result.optimizer == sum(v.nbytes for v in buffers.values())


def test_checkpoint_part_matches_the_files_a_run_writes(tmp_path: Path) -> None:
    program = netspec.load(SMALL)
    train = program.train("net")
    assert train is not None
    result = estimate(
        program.model(), dtype="float32", batch_size=train.batch_size, optimizer=train.optimizer
    )
    fit(program, out=tmp_path / "run", progress=False)
    files = sorted((tmp_path / "run" / "checkpoints").glob("epoch-*.safetensors"))
    sizes = [sum(a.nbytes for name, a in load_weights(f).items() if name != "step") for f in files]
    assert len(sizes) == 2  # weights and optimizer state
    assert result.checkpoint == sum(sizes) + 2 * max(sizes)


def test_peak_is_the_larger_of_initialisation_and_training() -> None:
    model = netspec.load(SMALL).model()
    result = estimate(model, dtype="float32", batch_size=16, optimizer=Adam(), backend="torch")
    largest = max(math.prod(p.shape) for p in model.params)
    assert result.draw == largest * 8
    assert result.framework_copy == result.resident
    training = result.optimizer + max(result.gradients + result.activations, result.checkpoint)
    assert result.total == result.resident + max(result.initialization, training)
    built = estimate(model, dtype="float32", backend="numpy")
    assert built.checkpoint == 0 and built.total == built.resident + built.draw


def test_ema_adds_the_average_and_each_steps_copy_of_the_parameters() -> None:
    model = netspec.load(SMALL).model()
    plain = estimate(model, dtype="float64", batch_size=16, optimizer=Adam())
    averaged = estimate(model, dtype="float64", batch_size=16, optimizer=Adam(), ema=True)
    assert averaged.average == 2 * plain.parameters
    assert averaged.total == plain.total + averaged.average
    assert plain.average == 0 and not any("moving average" in line for line in plain.breakdown())
    assert any(line.startswith("moving average   ") for line in averaged.breakdown())
    # Only training keeps an average.
    assert estimate(model, dtype="float64", ema=True).average == 0


# ---------------------------------------------------------------- refusal

BIG = """\
netspec 1

model big(x: [784]) {
    dense(2500000) -> relu
    dense(1)
}

train big {
    data       linear(samples = 100, features = 784)
    loss       mse
    optimizer  adam(lr = 1e-3)
    batch_size 64
    epochs     1
}
"""

GIB = 2**30


@pytest.fixture
def little_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with 8 GiB available, where no data may be loaded nor model built."""
    monkeypatch.setattr(memory, "available_memory", lambda: (8 * GIB, "the test's figure"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("data or weights were allocated before the memory check")

    for target in (
        "netspec.training.loop.load_dataset",
        "netspec.training.loop.get_backend",
        "netspec.backend.get_backend",
        "netspec._compile._values",
        "netspec._compile._jax_functions",
    ):
        monkeypatch.setattr(target, refuse)


def _write(tmp_path: Path, text: str = BIG) -> Path:
    path = tmp_path / "big.net"
    path.write_text(text)
    return path


@pytest.mark.usefixtures("little_memory")
def test_training_is_refused_before_data_or_weights(tmp_path: Path) -> None:
    spec = _write(tmp_path)
    program = netspec.load(spec)
    out = tmp_path / "run"
    with pytest.raises(InsufficientMemory) as info:
        fit(program, out=out, progress=False, spec_path=str(spec))
    message = str(info.value)
    assert message.startswith(f"{spec}:4:5: model 'big' needs about ")
    assert "to train in float32, more than the 8.00 GiB available (the test's figure)" in message
    parts = ("parameters", "gradients", "optimizer state", "activations", "checkpoint")
    for part in (*parts, "initialisation"):
        assert f"\n  {part} " in message
    assert "2 buffers per parameter; adam" in message
    assert "dense_1 holds 1,962,500,000 of the 1,965,000,001 parameters" in message
    assert "help: make dense_1 smaller" in message
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E021" and diagnostic.span is not None
    assert (diagnostic.span.line, diagnostic.span.column) == (4, 5)
    assert not out.exists()


@pytest.mark.usefixtures("little_memory")
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_compile_is_refused_before_weights(tmp_path: Path, backend: str) -> None:
    spec = _write(tmp_path)
    with pytest.raises(InsufficientMemory) as info:
        netspec.compile(spec, backend)
    message = str(info.value)
    assert message.startswith(f"{spec}:4:5: model 'big' needs about ")
    assert "to build in float32" in message and "gradients" not in message
    # A CheckedModel carries no source map: the layer is still named.
    with pytest.raises(InsufficientMemory, match="make dense_1 smaller"):
        netspec.compile(netspec.load(spec).model(), backend)


@pytest.mark.usefixtures("little_memory")
def test_the_cli_reports_the_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netspec.cli import main

    spec = _write(tmp_path)
    code = main(["train", str(spec), "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err
    assert code != 0 and f"{spec}:4:5: model 'big' needs about" in error


def test_a_model_that_fits_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: (8 * GIB, "the test's figure"))
    model = netspec.load(SMALL).model()
    result = check_memory(model, dtype="float32", batch_size=16, optimizer=Adam())
    assert result is not None and result.total < 8 * GIB


def test_gpu_memory_is_checked_when_known(monkeypatch: pytest.MonkeyPatch) -> None:
    model = netspec.load(SMALL).model()
    need = estimate(model, dtype="float32", batch_size=16, optimizer=Adam(), backend="torch")
    monkeypatch.setattr(memory, "available_memory", lambda: (8 * GIB, "host"))
    monkeypatch.setattr(memory, "device_free_memory", lambda device: (1000, "free on cuda:0"))
    with pytest.raises(InsufficientMemory) as info:
        check_memory(model, dtype="float32", device="cuda", backend="torch", batch_size=16)
    assert "of GPU memory to train in float32, more than the 1000 B available" in str(info.value)
    # The device figure unknown (torch not imported): only the host part is checked.
    monkeypatch.setattr(memory, "device_free_memory", lambda device: None)
    checked = check_memory(
        model, dtype="float32", device="cuda", backend="torch", batch_size=16, optimizer=Adam()
    )
    assert checked == need


def test_available_memory_reads_the_machine() -> None:
    found = memory.available_memory()
    if found is None:
        pytest.skip("this platform reports no available physical memory")
    assert found[0] > 0 and found[1]


def test_summary_shows_the_training_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    from netspec.cli import main
    from netspec.summary import human

    program = netspec.load(SPECS / "lenet5.net")
    train = program.train("lenet5")
    assert train is not None
    need = estimate(program.model(), batch_size=train.batch_size, optimizer=train.optimizer)
    assert main(["summary", str(SPECS / "lenet5.net")]) == 0
    expected = f"training memory   about {human(need.total, 'B')} (float32, batch 64, adam)"
    assert expected in capsys.readouterr().out
