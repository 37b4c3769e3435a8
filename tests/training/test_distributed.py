"""Data-parallel training on PyTorch: N processes train as one does.

The launched runs start real worker processes through torch's elastic agent (gloo on
the CPU, two processes), so they are few and small: a global batch that does not divide
by two and a last batch of one sample (rank 1's share is empty), penalties, Adam,
batch norm synchronised over ranks, a rank killed mid-epoch, and resuming with another
number of processes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.cli import main
from netspec.data._arrays import ArrayData
from netspec.errors import NetspecError
from netspec.ir.train import MeanSquaredError, SoftmaxCrossEntropy
from netspec.train_stats import Stats
from netspec.training import distributed, fit
from netspec.weights import load_weights

# Its tests share an expensive fixture, built once per session: one test worker runs them
# all (`pytest -n 2 --dist loadgroup`), so that it is built once.
pytestmark = pytest.mark.xdist_group("distributed")

pytest.importorskip("torch", reason="data-parallel training needs the torch extra")

# 101 training samples in batches of 25: shares of 13 and 12, and a last batch of one
# sample, whose share on rank 1 is empty; the l2 penalty must count once.
MLP = """netspec 1
model net(x: [64]) {
    dense(32) -> relu
    dense(10)
}
train net {
    data       digits(flatten = true)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    regularize l2(0.001)
    batch_size 25
    epochs     2
    seed       3
}
"""

# LeNet-5 with batch norm after each convolution; 65 samples in batches of 16 end with a
# batch of one, so rank 1 takes part in the synchronised statistics with no samples.
LENET_BN = """netspec 1
model lenet(x: [1, 28, 28]) {
    conv2d(6, 5, padding = 2) -> batchnorm -> relu -> maxpool(2)
    conv2d(16, 5) -> batchnorm -> relu -> maxpool(2)
    flatten
    dense(120) -> relu
    dense(84) -> relu
    dense(10)
}
train lenet {
    data       mnist
    loss       softmax_cross_entropy
    optimizer  sgd(lr = 0.05, momentum = 0.9)
    batch_size 16
    epochs     1
    seed       0
}
"""


def _arrays(shape: tuple[int, ...], train: int, test: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(train + test, *shape)).astype(np.float32)
    y = rng.integers(0, 10, size=train + test)
    return {"train": (x[:train], y[:train]), "test": (x[train:], y[train:])}


MLP_DATA = _arrays((64,), 101, 37, 0)
LENET_DATA = _arrays((1, 28, 28), 65, 21, 1)


def _train(spec: str, out: Path, **options: Any) -> Any:
    options["data"] = ArrayData.parse(options.get("data", MLP_DATA))
    return fit(netspec.load(spec), backend="torch", out=out, progress=False, **options)


def _assert_close(a: Path, b: Path, tolerance: float) -> None:
    left = load_weights(a / "weights.safetensors")
    right = load_weights(b / "weights.safetensors")
    assert left.keys() == right.keys()
    for name in left:
        np.testing.assert_allclose(left[name], right[name], rtol=tolerance, atol=tolerance)


def _assert_same_metrics(a: list[dict[str, Any]], b: list[dict[str, Any]], tol: float) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            assert right[key] == pytest.approx(left[key], rel=tol, abs=tol), key


@pytest.fixture(scope="session")
def one_process_float32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs of the MLP in one process, float32: what every other run must equal."""
    out = tmp_path_factory.mktemp("reference") / "run"
    _train(MLP, out, dtype="float32")
    return out


def test_torchrun_workers_train_as_one_process_in_float64(tmp_path: Path) -> None:
    # The command a cluster runs: torchrun starts the workers, netspec joins their group.
    (x, y), (x_test, y_test) = MLP_DATA["train"], MLP_DATA["test"]
    x, x_test = x.astype(np.float64), x_test.astype(np.float64)  # as the run reads them
    np.savez(tmp_path / "data.npz", x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    spec = tmp_path / "mlp.net"
    spec.write_text(MLP.replace("digits(flatten = true)", 'npz("data.npz")'))
    options = {"backend": "torch", "dtype": "float64", "epochs": 1, "progress": False}
    one = netspec.train(str(spec), out=str(tmp_path / "one"), **options)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["-m", "netspec", "train", str(spec), "--backend", "torch", "--dtype", "float64"]
    command += ["--epochs", "1", "--out", str(tmp_path / "two"), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("run directory: ") == 1  # rank 0 alone reports
    _assert_close(tmp_path / "one", tmp_path / "two", 1e-10)
    history = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").open()]
    _assert_same_metrics(one.history, history, 1e-10)
    final = json.loads((tmp_path / "two" / "final.json").read_text())
    assert final == pytest.approx(one.final, rel=1e-10)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["nproc"] == 2


def test_resume_one_process_run_in_two(tmp_path: Path, one_process_float32: Path) -> None:
    started = _train(MLP, tmp_path / "run", dtype="float32", stop_after=1)
    assert len(started.history) == 1
    resumed = _train(MLP, tmp_path / "run", dtype="float32", resume=tmp_path / "run", nproc=2)
    _assert_close(one_process_float32, tmp_path / "run", 1e-5)
    # The model handed back holds the run's final weights.
    np.testing.assert_array_equal(
        resumed.model.parameters()["dense_1.weight"],
        load_weights(tmp_path / "run" / "weights.safetensors")["dense_1.weight"],
    )
    assert resumed.run_dir == tmp_path / "run"
    reference = json.loads((one_process_float32 / "checkpoints" / "state.json").read_text())
    _assert_same_metrics(reference["history"], resumed.history, 1e-5)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["nproc"] == 1


def test_killed_rank_stops_the_run_which_resumes_in_one_process(
    tmp_path: Path, one_process_float32: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five steps an epoch: rank 1 dies before the second step of epoch 2.
    monkeypatch.setenv("NETSPEC_TEST_KILL_RANK_AT_STEP", "1:7")
    run = tmp_path / "run"
    with pytest.raises(NetspecError) as stop:
        _train(MLP, run, dtype="float32", nproc=2)
    message = str(stop.value)
    assert message.startswith("rank 1 of 2 exited with signal SIGKILL during training; ")
    assert f"the run directory {run} holds the checkpoint of epoch 1; " in message
    assert f"resume with: netspec train SPEC --resume {run} --backend torch --nproc 2" in message
    monkeypatch.delenv("NETSPEC_TEST_KILL_RANK_AT_STEP")
    _train(MLP, run, dtype="float32", resume=run)
    _assert_close(one_process_float32, run, 1e-5)


def test_synchronised_batchnorm_trains_as_one_process(tmp_path: Path) -> None:
    one = _train(LENET_BN, tmp_path / "one", data=LENET_DATA, epochs=2)
    # Started (in one process) with sync_batchnorm, which the resumed run keeps.
    run = tmp_path / "two"
    _train(LENET_BN, run, data=LENET_DATA, epochs=2, sync_batchnorm=True, stop_after=1)
    two = _train(LENET_BN, run, data=LENET_DATA, resume=run, nproc=2)
    # Running statistics included: they are part of the weights file.
    _assert_close(tmp_path / "one", run, 1e-5)
    _assert_same_metrics(one.history, two.history, 1e-5)
    assert json.loads((run / "run.json").read_text())["sync_batchnorm"] is True


NUMPY_REFUSAL = (
    "the numpy backend trains in one process; use --backend torch for data-parallel training"
)


def test_numpy_backend_refuses_several_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NetspecError, match=NUMPY_REFUSAL):
        netspec.train(MLP, backend="numpy", nproc=2, data=MLP_DATA)
    spec = tmp_path / "mlp.net"
    spec.write_text(MLP)
    assert main(["train", str(spec), "--nproc", "2", "--out", str(tmp_path / "r")]) != 0
    assert NUMPY_REFUSAL in capsys.readouterr().err
    # A process a launcher started as one of two.
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(NetspecError, match=NUMPY_REFUSAL + r" \(found WORLD_SIZE = 2"):
        netspec.train(MLP, backend="numpy", data=MLP_DATA)
    assert not (tmp_path / "r").exists()


def test_busy_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(NetspecError, match=f"the rendezvous port {port} is in use"):
            _train(MLP, tmp_path / "run", nproc=2, master_port=port)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("count", "size"), [(25, 2), (1, 2), (0, 3), (10, 4), (7, 7)])
def test_shares_cover_a_batch_once_in_order(count: int, size: int) -> None:
    parts = [distributed.share(count, rank, size) for rank in range(size)]
    assert [i for part in parts for i in range(count)[part]] == list(range(count))
    lengths = [part.stop - part.start for part in parts]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


class _TwoRanks:
    """Rank 0 of a world whose other rank reports ``other``."""

    rank, size, local_rank, is_writer = 0, 2, 0, True

    def __init__(self, other: list[float]) -> None:
        self.other = other

    def sum(self, values: list[float]) -> list[float]:
        return [a + b for a, b in zip(values, self.other, strict=True)]


def test_statistics_add_over_ranks_and_any_rank_flags_divergence() -> None:
    mine = Stats(loss_sum=1.5, samples=20, correct=7, first_nonfinite=-1)
    # The other rank: 2.5 over 19 samples, 4 hits, a non-finite value at its step 2.
    other = _TwoRanks([2.5, 19, 4, 0.0, 0.0, 1.0, 1.0])
    total = distributed.reduce_stats(other, mine, 4)  # type: ignore[arg-type]
    assert total == Stats(loss_sum=4.0, samples=39, correct=11, first_nonfinite=2)
    assert distributed.reduce_stats(distributed.SINGLE, mine, 4) is mine


def test_jax_backend_is_pointed_to_torch_for_several_processes() -> None:
    with pytest.raises(NetspecError, match="the jax backend does not train in several"):
        netspec.train(MLP, backend="jax", nproc=2, data=MLP_DATA)


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        # Class weights: torch divides by the labels' weights, so a share counts by them.
        (SoftmaxCrossEntropy(class_weights=(1.0, 3.0)), 7 / 11),
        (SoftmaxCrossEntropy(), 3 / 5),
        (MeanSquaredError(), 3 / 5),
    ],
)
def test_a_share_weighs_its_part_of_the_loss_denominator(loss: Any, expected: float) -> None:
    from netspec.backends.torch._train import TorchTrainStep

    targets = np.array([0, 1, 1, 0, 1])
    found = TorchTrainStep._share_weight(SimpleNamespace(_loss=loss), targets, slice(0, 3))  # type: ignore[arg-type]
    assert found == pytest.approx(expected)


def test_several_processes_without_torch_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from netspec.backends.torch import _launch

    monkeypatch.setattr(_launch.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NetspecError, match=r"backend 'torch' needs torch, which is not installed"):
        _train(MLP, Path("unused"), nproc=2)
