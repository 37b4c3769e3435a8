"""`target input`: each sample, as the model takes it, is its own target."""

from __future__ import annotations

import numpy as np
import pytest

from netspec.data import load_dataset
from netspec.errors import NetspecError
from netspec.ir.train import DigitsData


@pytest.mark.parametrize(
    ("spec", "input_shape", "output_shape"),
    [
        (DigitsData(validation=0.1), (1, 8, 8), (1, 8, 8)),
        (DigitsData(), (1, 8, 8), (64,)),  # a vector output of as many values
        (DigitsData(flatten=True), (64,), (64,)),
    ],
)
def test_every_split_targets_its_inputs(
    spec: DigitsData, input_shape: tuple[int, ...], output_shape: tuple[int, ...]
) -> None:
    data = load_dataset(
        spec,
        input_shape=input_shape,
        output_shape=output_shape,
        loss_kind="mse",
        seed=0,
        target="input",
    )
    splits = [data.train, data.validation, data.test]
    for split in (s for s in splits if s is not None):
        assert split.x.shape[1:] == input_shape and split.y.shape[1:] == output_shape
        np.testing.assert_array_equal(split.y.reshape(split.x.shape), split.x)
        assert split.y.dtype == split.x.dtype
    assert data.num_classes is None


def test_the_output_must_have_the_inputs_shape_or_size() -> None:
    with pytest.raises(NetspecError) as caught:
        load_dataset(
            DigitsData(), input_shape=(1, 8, 8), output_shape=(10,), loss_kind="mse", seed=0,
            target="input",
        )  # fmt: skip
    assert str(caught.value) == (
        "data digits: target input makes each sample its own target, (1, 8, 8) (64 values), "
        "but the model's output is (10,)\n"
        "  help: end the model with an output of the input's shape, e.g. dense(64) -> "
        "reshape([1, 8, 8])"
    )


@pytest.mark.parametrize(
    ("spec", "loss", "message"),
    [
        (DigitsData(), "softmax_cross_entropy", "needs a regression loss, but the loss is"),
        (DigitsData(one_hot=True), "mse", "one_hot = true needs class labels"),
    ],
)
def test_classification_settings_are_refused(spec: DigitsData, loss: str, message: str) -> None:
    with pytest.raises(NetspecError, match=message):
        load_dataset(
            spec, input_shape=(1, 8, 8), output_shape=(1, 8, 8), loss_kind=loss, seed=0,
            target="input",
        )  # fmt: skip
