"""The compiled model's contract: protocol, errors, dtypes, parameters, state, specs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_numpy_support import build

import netspec
from netspec.backend import CompiledModel, get_backend
from netspec.backends.numpy import BACKEND, NumpyModel, erf
from netspec.errors import NetspecError, ShapeError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir import ops as ir
from netspec.ir.train import SoftmaxCrossEntropy

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _small_cnn() -> CheckedModel:
    return build(
        (1, 8, 8),
        ir.Conv2d(filters=3, kernel=(3, 3), padding="same"),
        ir.BatchNorm(),
        ir.Relu(),
        ir.MaxPool(kernel=(2, 2), stride=(2, 2)),
        ir.Flatten(),
        ir.Dropout(p=0.25),
        ir.Dense(units=4),
    )


def test_backend_is_found_by_name_and_compiles_to_a_compiled_model() -> None:
    backend = get_backend("numpy")
    assert backend is BACKEND and backend.name == "numpy"
    compiled = backend.compile(_small_cnn())
    assert isinstance(compiled, CompiledModel)
    assert (compiled.dtype, compiled.device) == ("float32", "cpu")


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", "gpu"])
def test_devices_other_than_cpu_are_refused(device: str) -> None:
    with pytest.raises(NetspecError, match=f"expected device 'cpu', got '{device}'"):
        BACKEND.compile(_small_cnn(), device=device)


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [
        ((4, 8, 8), np.float32, r"has shape \(4, 8, 8\), expected \(N, 1, 8, 8\)"),
        ((4, 1, 8, 9), np.float32, r"has shape \(4, 1, 8, 9\), expected \(N, 1, 8, 8\)"),
        ((0, 1, 8, 8), np.float32, r"empty \(shape \(0, 1, 8, 8\)\), expected \(N, 1, 8, 8\)"),
        (
            (4, 1, 8, 8),
            np.complex64,
            r"input 'x' has dtype complex64, expected real numbers \(cast to float32\)",
        ),
        ((4, 1, 8, 8), np.bool_, "has dtype bool"),
    ],
    ids=["missing_channel", "wrong_width", "empty_batch", "complex", "booleans"],
)
def test_bad_batches_raise_shape_errors_naming_both_shapes(
    shape: tuple[int, ...], dtype: type, message: str
) -> None:
    compiled = BACKEND.compile(_small_cnn())
    x = np.zeros(shape, dtype=dtype)
    for call in (
        lambda: compiled.forward(x),
        lambda: compiled.trace(x),
        lambda: compiled.loss_and_grads(x, np.zeros(shape[0], dtype=int), SoftmaxCrossEntropy()),
    ):
        with pytest.raises(ShapeError, match=message):
            call()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_everything_stays_in_the_model_dtype(dtype: str) -> None:
    compiled = BACKEND.compile(_small_cnn(), dtype=dtype)  # type: ignore[arg-type]
    # A float64 batch is cast to a float32 model's dtype, not the other way round.
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8))
    assert all(v.dtype == dtype for v in compiled.trace(x, train=True).values())
    _, grads = compiled.loss_and_grads(x, np.arange(5) % 4, SoftmaxCrossEntropy(), input_grad=True)
    assert all(g.dtype == dtype for g in grads.values())
    assert all(
        v.dtype == dtype for v in (*compiled.parameters().values(), *compiled.state().values())
    )


def test_initial_parameters_are_the_initializers_draws() -> None:
    model = _small_cnn()
    want = initial_params(model, seed=5)
    compiled = BACKEND.compile(model, seed=5)
    got = {**compiled.parameters(), **compiled.state()}
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_given_parameters_replace_the_drawn_ones() -> None:
    model = _small_cnn()
    full = {k: v + 1 for k, v in initial_params(model, seed=1).items()}
    compiled = BACKEND.compile(model, seed=9, params=full)
    for name, value in compiled.parameters().items():
        np.testing.assert_array_equal(value, full[name])
    partial = BACKEND.compile(model, seed=9, params={"n6.bias": np.full(4, 2.0)})
    np.testing.assert_array_equal(partial.parameters()["n6.bias"], np.full(4, 2.0))
    np.testing.assert_array_equal(
        partial.parameters()["n0.weight"], initial_params(model, seed=9)["n0.weight"]
    )


def test_set_parameters_checks_names_and_shapes_and_is_all_or_nothing() -> None:
    compiled = BACKEND.compile(_small_cnn())
    before = compiled.parameters()
    with pytest.raises(ShapeError, match=r"n6\.weight: expected shape \(4, 48\), found \(48, 4\)"):
        compiled.set_parameters({"n6.bias": np.ones(4), "n6.weight": np.ones((48, 4))})
    with pytest.raises(NetspecError, match=r"unexpected: n6\.kernel"):
        compiled.set_parameters({"n6.kernel": np.ones(4)})
    after = compiled.parameters()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
    # parameters() hands out copies: writing to them changes nothing.
    after["n6.bias"][:] = 7
    assert not (compiled.parameters()["n6.bias"] == 7).any()


def test_batchnorm_running_statistics_move_as_pytorch() -> None:
    compiled = BACKEND.compile(build((3,), ir.BatchNorm(momentum=0.1)), dtype="float64")
    x = np.random.default_rng(0).standard_normal((6, 3)) * 2 + 1
    compiled.forward(x, train=False)
    np.testing.assert_array_equal(compiled.state()["n0.running_mean"], np.zeros(3))
    compiled.forward(x, train=True)
    state = compiled.state()
    np.testing.assert_allclose(state["n0.running_mean"], 0.1 * x.mean(axis=0), rtol=1e-12)
    # The unbiased variance (ddof=1) moves the running estimate.
    np.testing.assert_allclose(
        state["n0.running_var"], 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-12
    )
    # Eval mode normalises with the running statistics.
    y = compiled.forward(x, train=False)
    want = (x - state["n0.running_mean"]) / np.sqrt(state["n0.running_var"] + 1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-12)


def test_batchnorm_training_needs_two_values_per_channel() -> None:
    compiled = BACKEND.compile(build((3,), ir.BatchNorm()))
    with pytest.raises(ShapeError, match="more than one value per feature"):
        compiled.forward(np.ones((1, 3), dtype=np.float32), train=True)
    compiled.forward(np.ones((1, 3), dtype=np.float32), train=False)  # eval is fine


def test_input_gradient_is_keyed_by_the_input_name() -> None:
    compiled = BACKEND.compile(_small_cnn())
    x = np.ones((2, 1, 8, 8), dtype=np.float32)
    _, grads = compiled.loss_and_grads(x, np.array([0, 1]), SoftmaxCrossEntropy())
    assert "x" not in grads
    _, grads = compiled.loss_and_grads(x, np.array([0, 1]), SoftmaxCrossEntropy(), input_grad=True)
    assert grads["x"].shape == x.shape


def test_erf_is_accurate_to_float64_rounding() -> None:
    xs = np.concatenate(
        [
            np.linspace(-7.0, 7.0, 20001),
            [0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-20, 27.0, -30.0],
        ]
    )
    want = np.array([math.erf(v) for v in xs])
    np.testing.assert_allclose(erf(xs), want, rtol=1e-15, atol=1e-300)
    assert np.isnan(erf(np.array([np.nan]))[0])
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf])), [1.0, -1.0])


# -- the specs in specs/ ------------------------------------------------------------------


def _load(name: str, model: str | None = None) -> NumpyModel:
    return BACKEND.compile(netspec.load(str(SPECS / name)).model(model), dtype="float64")


def test_relu_worked_example_gives_46_and_0() -> None:
    y = _load("relu_worked_example.net").forward(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(y, [[46.0, 0.0]])


def test_sigmoid_worked_example_gives_the_book_values() -> None:
    y = _load("sigmoid_worked_example.net").forward(np.array([[1.0, 0.5]]))
    np.testing.assert_allclose(y, [[0.31682708, 0.69627909]], rtol=1e-7)


@pytest.mark.parametrize(
    ("model", "table"),
    [
        ("and_gate", [0, 0, 0, 1]),
        ("nand_gate", [1, 1, 1, 0]),
        ("or_gate", [0, 1, 1, 1]),
        ("xor_gate", [0, 1, 1, 0]),
    ],
)
def test_logic_gates(model: str, table: list[int]) -> None:
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = _load("logic_gates.net", model).forward(x)
    np.testing.assert_array_equal(y[:, 0], table)


def _spec_models() -> list[tuple[str, str]]:
    found = []
    for path in sorted(SPECS.glob("*.net")):
        for model in netspec.load(str(path)).models:
            # The ImageNet-sized nets take seconds per batch in NumPy: kept out of the
            # quick suite (the ops they use are all covered on small shapes).
            if model.parameter_count < 2_000_000:
                found.append((path.name, model.name))
    return found


@pytest.mark.parametrize(("file", "model"), _spec_models())
def test_every_spec_runs_a_training_step(file: str, model: str) -> None:
    program = netspec.load(str(SPECS / file))
    checked = program.model(model)
    compiled = BACKEND.compile(checked, seed=1)
    x = np.random.default_rng(0).uniform(0, 1, (3, *checked.input.shape)).astype(np.float32)
    traced = compiled.trace(x, train=True)
    for node in checked.nodes:
        assert traced[node.name].shape == (3, *node.output.shape), node.name
    train = program.train(model)
    if train is None:
        return
    out = traced[checked.output]
    if train.loss.kind == "softmax_cross_entropy":
        y = np.arange(3) % out.shape[1]
    else:
        y = np.zeros(out.shape, dtype=np.float32)
    value, grads = compiled.loss_and_grads(x, y, train.loss)
    assert math.isfinite(value)
    assert set(grads) == {p.name for p in checked.params}
    assert all(np.isfinite(g).all() for g in grads.values())


def test_a_full_parameter_dict_of_the_wrong_shape_is_refused() -> None:
    model = _small_cnn()
    full = initial_params(model, seed=1)
    full["n6.weight"] = full["n6.weight"].T
    with pytest.raises(ShapeError, match=r"n6\.weight: expected shape \(4, 48\), found \(48, 4\)"):
        BACKEND.compile(model, params=full)
