"""Augmented runs: the loop trains on the augmented batches, the same on every backend,
and a resumed run draws the same augmentations as an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.data import augment, batches, load_dataset
from netspec.ir import Program
from netspec.training import fit
from netspec.weights import load_weights
from tests.training.conftest import assert_same_weights

AUGMENTED = """netspec 1
model net(x: [1, 8, 8]) {
    conv2d(4, 3, padding = same) -> relu
    flatten -> dense(10)
}
train net {
    data       digits(limit = 160, validation = 0.25,
                      augment = [random_crop(2), horizontal_flip, random_rotate(15)])
    loss       softmax_cross_entropy
    optimizer  momentum(lr = 0.05)
    batch_size 40
    epochs     2
    seed       3
}
"""


@pytest.fixture
def augmented() -> Program:
    return netspec.load(AUGMENTED)


def test_the_loop_trains_on_the_augmented_batches(
    augmented: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step's batch is augment(batch, seed, epoch, index) of the shuffled split."""
    from netspec.backends.numpy._train import NumpyTrainStep

    seen: list[np.ndarray] = []
    original = NumpyTrainStep.step

    def recording(self: NumpyTrainStep, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        seen.append(np.array(x))
        original(self, x, y, lr)

    monkeypatch.setattr(NumpyTrainStep, "step", recording)
    fit(augmented, out=tmp_path / "run", progress=False, epochs=1)
    spec = augmented.trains[0]
    data = load_dataset(
        spec.data, input_shape=(1, 8, 8), output_shape=(10,),
        loss_kind=spec.loss.kind, seed=spec.seed,
    )  # fmt: skip
    expected = [
        augment(x, spec.data.augment, seed=spec.seed, epoch=0, batch=index)
        for index, (x, _) in enumerate(batches(data.train, 40, shuffle=True, seed=3, epoch=0))
    ]
    assert len(seen) == len(expected) == 3
    for got, want in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(
        seen[0], next(batches(data.train, 40, shuffle=True, seed=3, epoch=0))[0]
    )


def test_two_backends_train_the_same_weights_on_augmented_batches(
    augmented: Program, tmp_path: Path
) -> None:
    pytest.importorskip("torch", reason="torch is not installed")
    runs = {
        backend: fit(
            augmented, backend=backend, dtype="float64", out=tmp_path / backend, progress=False
        )
        for backend in ("numpy", "torch")
    }
    numpy_weights = load_weights(runs["numpy"].run_dir / "weights.safetensors")
    torch_weights = load_weights(runs["torch"].run_dir / "weights.safetensors")
    for name, value in numpy_weights.items():
        np.testing.assert_allclose(torch_weights[name], value, rtol=1e-9, atol=1e-11, err_msg=name)


def test_a_resumed_augmented_run_ends_bit_identical(augmented: Program, tmp_path: Path) -> None:
    whole = fit(augmented, out=tmp_path / "whole", progress=False)
    run = tmp_path / "run"
    fit(augmented, out=run, progress=False, stop_after=1)
    resumed = fit(augmented, resume=run, progress=False)
    assert resumed.history == [
        {**row, "epoch_time": resumed.history[i]["epoch_time"],
         "samples_per_second": resumed.history[i]["samples_per_second"]}
        for i, row in enumerate(whole.history)
    ]  # fmt: skip
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")


def test_a_contradicting_data_flag_shows_the_runs_augmentation_as_written(
    augmented: Program, tmp_path: Path
) -> None:
    from netspec.errors import NetspecError

    run = tmp_path / "run"
    fit(augmented, out=run, progress=False, stop_after=1)
    with pytest.raises(NetspecError) as raised:
        fit(augmented, resume=run, progress=False, data="digits(limit = 160, validation = 0.25)")
    assert str(raised.value).startswith(
        '--data "digits(limit = 160, validation = 0.25)" contradicts the run, which was started '
        'with data "digits(validation = 0.25, limit = 160, augment = [random_crop(padding = 2), '
        'horizontal_flip, random_rotate(degrees = 15.0)])"'
    )


def test_augmenting_data_that_is_not_images_is_refused_before_training(tmp_path: Path) -> None:
    """The loop's own check, for IR that did not come through `netspec check` (which
    refuses this at the data line): a flat input cannot be augmented."""
    from netspec.errors import NetspecError
    from netspec.ir.train import HorizontalFlip
    from tests.training.conftest import TINY

    program = netspec.load(TINY)
    train = program.trains[0]
    data = train.data.model_copy(update={"augment": (HorizontalFlip(),)})
    program = program.model_copy(update={"trains": [train.model_copy(update={"data": data})]})
    with pytest.raises(NetspecError) as raised:
        fit(program, out=tmp_path / "run", progress=False)
    assert str(raised.value) == (
        "augment needs batches of images [N, C, H, W] of floats, found float32 [1, 64]: "
        "drop augment from the data source"
    )
    assert not (tmp_path / "run" / "run.json").exists()
