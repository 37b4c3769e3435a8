"""The bundled and synthetic sources: digits, linear, polynomial, xor, spirals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netspec.data import load_dataset
from netspec.errors import NetspecError
from netspec.ir.train import DigitsData, LinearData, PolynomialData, SpiralsData, XorData

CE = "softmax_cross_entropy"


def test_digits_image_layout_and_normalize() -> None:
    data = load_dataset(
        DigitsData(), input_shape=(1, 8, 8), output_shape=(10,), loss_kind=CE, seed=0
    )
    assert data.train.x.shape == (1438, 1, 8, 8) and data.test.x.shape == (359, 1, 8, 8)
    assert data.train.x.max() == 1.0 and data.train.x.min() == 0.0
    # Stratified test split: each class keeps its share (the digit classes are ~180 each).
    counts = np.bincount(data.test.y, minlength=10)
    whole = counts + np.bincount(data.train.y, minlength=10)
    assert np.all(np.abs(counts - whole * 359 / 1797) <= 1)


def test_digits_flatten_validation_and_raw_values() -> None:
    data = load_dataset(
        DigitsData(flatten=True, validation=0.1, normalize=False),
        input_shape=(64,),
        output_shape=(10,),
        loss_kind=CE,
        seed=0,
    )
    assert data.train.x.shape == (1294, 64) and len(data.validation) == 144
    assert data.train.x.max() == 16.0
    assert "digits" in data.describe() and "validation" in data.describe()


def test_linear_uses_d2l_parameters_for_two_features() -> None:
    data = load_dataset(
        LinearData(noise=0.0), input_shape=(2,), output_shape=(1,), loss_kind="mse", seed=3
    )
    np.testing.assert_array_equal(data.true_params["w"], [2.0, -3.4])
    np.testing.assert_array_equal(data.true_params["b"], [4.2])
    assert data.train.x.shape == (800, 2) and data.train.y.shape == (800, 1)
    assert data.test.x.shape == (200, 2) and data.num_classes is None
    expected = data.train.x.astype(np.float64) @ [2.0, -3.4] + 4.2
    np.testing.assert_allclose(data.train.y[:, 0], expected, rtol=1e-5, atol=1e-5)


def test_linear_weight_decay_demo() -> None:
    # specs/weight_decay.net: 120 samples, test = 0.8333 -> 20 train, 100 test as in D2L.
    data = load_dataset(
        LinearData(samples=120, features=200, noise=0.0, test=0.8333),
        input_shape=(200,),
        output_shape=(1,),
        loss_kind="half_sse",
        seed=0,
        dtype="float64",
    )
    assert len(data.train) == 20 and len(data.test) == 100
    np.testing.assert_array_equal(data.true_params["w"], np.full(200, 0.01))
    np.testing.assert_allclose(data.train.y[:, 0], data.train.x.sum(axis=1) * 0.01 + 0.05)


def test_linear_noise_is_the_standard_deviation() -> None:
    data = load_dataset(
        LinearData(samples=20000, noise=0.5, test=0.0),
        input_shape=(2,),
        output_shape=(1,),
        loss_kind="mse",
        seed=0,
        dtype="float64",
    )
    residual = data.train.y[:, 0] - (data.train.x @ [2.0, -3.4] + 4.2)
    assert abs(residual.std() - 0.5) < 0.02
    assert data.test is None


def test_polynomial_is_d2l_3_6() -> None:
    data = load_dataset(
        PolynomialData(noise=0.0),
        input_shape=(20,),
        output_shape=(1,),
        loss_kind="mse",
        seed=0,
        dtype="float64",
    )
    assert len(data.train) == 100 and len(data.test) == 100
    x = data.train.x
    np.testing.assert_array_equal(x[:, 0], 1.0)  # x^0 / 0!
    scalar = x[:, 1]
    for i in range(20):
        np.testing.assert_allclose(x[:, i], scalar**i / math.factorial(i), rtol=1e-12)
    w = np.zeros(20)
    w[:4] = [5.0, 1.2, -3.4, 5.6]
    np.testing.assert_array_equal(data.true_params["w"], w)
    np.testing.assert_allclose(data.train.y[:, 0], x @ w, rtol=1e-12)


def test_polynomial_other_degrees() -> None:
    low = load_dataset(
        PolynomialData(degree=1, features=3, noise=0.0),
        input_shape=(3,),
        output_shape=(1,),
        loss_kind="mse",
        seed=0,
    )
    np.testing.assert_array_equal(low.true_params["w"], [5.0, 1.2, 0.0])
    high = load_dataset(
        PolynomialData(degree=5, features=8),
        input_shape=(8,),
        output_shape=(1,),
        loss_kind="mse",
        seed=0,
    )
    w = high.true_params["w"]
    assert w[:4].tolist() == [5.0, 1.2, -3.4, 5.6] and np.all(w[4:6] != 0) and np.all(w[6:] == 0)


def test_polynomial_needs_enough_features() -> None:
    with pytest.raises(NetspecError) as info:
        load_dataset(
            PolynomialData(degree=3, features=3),
            input_shape=(3,),
            output_shape=(1,),
            loss_kind="mse",
            seed=0,
        )
    assert "features = 3, expected at least degree + 1 = 4 columns" in str(info.value)


def test_xor() -> None:
    data = load_dataset(
        XorData(noise=0.0, test=0.0),
        input_shape=(2,),
        output_shape=(1,),
        loss_kind="binary_cross_entropy",
        seed=0,
    )
    x, y = data.train.x, data.train.y
    assert x.shape == (400, 2) and y.dtype == np.int64 and data.num_classes == 2
    np.testing.assert_array_equal(y, np.logical_xor(x[:, 0] > 0.5, x[:, 1] > 0.5))
    assert np.bincount(y).tolist() == [200, 200]


def test_spirals() -> None:
    data = load_dataset(
        SpiralsData(samples=301, classes=4),
        input_shape=(2,),
        output_shape=(4,),
        loss_kind=CE,
        seed=0,
    )
    assert len(data.train) + len(data.test) == 301 and data.num_classes == 4
    y = np.concatenate([data.train.y, data.test.y])
    assert np.bincount(y).tolist() == [76, 75, 75, 75]
    radius = np.linalg.norm(np.concatenate([data.train.x, data.test.x]), axis=1)
    assert radius.max() <= 1.0 + 1e-6


@pytest.mark.parametrize(
    ("spec", "shape"),
    [
        (LinearData(), (2,)),
        (PolynomialData(), (20,)),
        (XorData(), (2,)),
        (SpiralsData(), (2,)),
    ],
)
def test_synthetic_data_depends_only_on_the_seed(spec: object, shape: tuple[int, ...]) -> None:
    regression = isinstance(spec, LinearData | PolynomialData)
    out = (1,) if regression else (3,)
    kw = {"input_shape": shape, "output_shape": out, "loss_kind": "mse" if regression else CE}
    a = load_dataset(spec, seed=7, **kw)
    b = load_dataset(spec, seed=7, **kw)
    c = load_dataset(spec, seed=8, **kw)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.x, c.train.x)


def test_validation_does_not_change_the_test_split() -> None:
    kw = {"input_shape": (2,), "output_shape": (3,), "loss_kind": CE, "seed": 0}
    plain = load_dataset(SpiralsData(), **kw)
    held = load_dataset(SpiralsData(validation=0.25), **kw)
    np.testing.assert_array_equal(plain.test.x, held.test.x)
    assert len(held.train) + len(held.validation) == len(plain.train)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (LinearData(samples=0), "samples = 0, expected an integer >= 1"),
        (LinearData(noise=-1.0), "noise = -1.0, expected a finite number >= 0"),
        (SpiralsData(classes=1), "classes = 1, expected an integer >= 2"),
        (XorData(samples=3), "samples = 3, expected an integer >= 4"),
    ],
)
def test_bad_generator_options(spec: object, expected: str) -> None:
    with pytest.raises(NetspecError) as info:
        load_dataset(spec, input_shape=(2,), output_shape=(1,), loss_kind="mse", seed=0)
    assert expected in str(info.value)
