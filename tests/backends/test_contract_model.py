"""The compiled model's contract, written once and run on every backend: compiling,
dtypes, initial and given parameters, set_parameters, trace, batchnorm state and dropout.

The losses, the train step and bad inputs are in test_contract.py and
test_contract_training.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import Backend, CompiledModel, get_backend
from netspec.errors import NetspecError, ShapeError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir.train import MeanSquaredError, SoftmaxCrossEntropy
from netspec.parity import random_inputs
from tests.backends.conftest import backend_params
from tests.conftest import SPECS


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)


def _model(shape: tuple[int, ...], body: str) -> CheckedModel:
    return netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{\n{body}\n}}\n").model("m")


# Parameters (with and without bias), batchnorm state, pooling and dropout.
SMALL_CNN = _model(
    (1, 8, 8),
    "conv2d(3, 3, padding = same) -> batchnorm -> relu -> maxpool(2) -> flatten\n"
    "dropout(0.25) -> dense(4)",
)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 8, 8))


# -- compiling ---------------------------------------------------------------------------


def test_the_backend_is_found_by_name_and_compiles_to_a_compiled_model(backend: Backend) -> None:
    assert get_backend(backend.name) is backend
    compiled = backend.compile(SMALL_CNN)
    assert isinstance(compiled, CompiledModel)
    assert (compiled.dtype, compiled.device, compiled.ir) == ("float32", "cpu", SMALL_CNN)


def test_an_unknown_dtype_or_a_program_is_refused_alike(backend: Backend) -> None:
    with pytest.raises(NetspecError) as info:
        backend.compile(SMALL_CNN, dtype="float16")  # type: ignore[arg-type]
    assert info.value.message == "unknown dtype 'float16': expected 'float32' or 'float64'"
    assert info.value.help == (
        "pass dtype='float32' (the default) or dtype='float64' for exact comparisons",
    )
    with pytest.raises(NetspecError) as info:
        backend.compile(netspec.load("netspec 1\nmodel m(x: [2]) { relu }"))  # type: ignore[arg-type]
    assert info.value.message == "a backend compiles a CheckedModel, got Program"


UNKNOWN_DEVICE = (
    "unknown device {}: expected 'cpu', 'cuda' (or 'gpu'), 'cuda:N' (N a device index) or 'auto'"
)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "auto:0", "", "mps", 3])
def test_an_unknown_device_is_refused_alike(backend: Backend, device: Any) -> None:
    with pytest.raises(NetspecError) as info:
        backend.compile(SMALL_CNN, device=device)
    shown = repr(device) if isinstance(device, str) else "3 (int)"
    assert info.value.message == UNKNOWN_DEVICE.format(shown)
    assert info.value.help == ("use device='cpu' to run on the processor",)


@pytest.mark.parametrize("device", ["cpu", "CPU", " cpu:0 "])
def test_every_backend_reads_the_cpu_alike(backend: Backend, device: str) -> None:
    assert backend.compile(SMALL_CNN, device=device).device == "cpu"
    with pytest.raises(NetspecError, match=r"names CPU device 99, but the \w+ backend sees \d"):
        backend.compile(SMALL_CNN, device="cpu:99")


@pytest.mark.parametrize("device", ["cuda", "gpu", "cuda:0", "GPU:1"])
def test_a_gpu_request_without_a_gpu_is_refused_alike(backend: Backend, device: str) -> None:
    if backend.compile(SMALL_CNN, device="auto").device != "cpu":
        pytest.skip(f"the {backend.name} backend sees a GPU")
    with pytest.raises(NetspecError) as info:
        backend.compile(SMALL_CNN, device=device)
    assert info.value.message == (
        f"device {device!r} asks for a GPU, but the {backend.name} backend sees none"
    )
    assert info.value.help[0].startswith(
        "use device='cpu', or device='auto' to take a GPU only when one is present ("
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_everything_stays_in_the_model_dtype(backend: Backend, dtype: Any) -> None:
    compiled = backend.compile(SMALL_CNN, dtype=dtype)
    # A float64 batch is cast to a float32 model's dtype, not the other way round.
    x = _images(5)
    assert compiled.forward(x).dtype == dtype
    assert all(v.dtype == dtype for v in compiled.trace(x, train=True).values())
    loss, grads = compiled.loss_and_grads(
        x, np.arange(5) % 4, SoftmaxCrossEntropy(), input_grad=True
    )
    assert isinstance(loss, float)
    assert all(g.dtype == dtype for g in grads.values())
    assert all(
        v.dtype == dtype for v in (*compiled.parameters().values(), *compiled.state().values())
    )


def test_float64_computes_in_float64(backend: Backend) -> None:
    # 1 + 1e-12 is 1 in float32: only a true float64 computation keeps the difference.
    model = _model((1,), "dense(1, weight = [[1]], bias = [1e-12])")
    x = np.ones((1, 1))
    assert backend.compile(model, dtype="float64").forward(x)[0, 0] - 1 > 0
    assert backend.compile(model, dtype="float32").forward(x)[0, 0] == 1


# -- parameters and state ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_initial_parameters_are_the_initializers_draws(backend: Backend, dtype: Any) -> None:
    want = initial_params(SMALL_CNN, seed=5, dtype=dtype)
    compiled = backend.compile(SMALL_CNN, seed=5, dtype=dtype)
    assert list(compiled.parameters()) == [spec.name for spec in SMALL_CNN.params]
    got = {**compiled.parameters(), **compiled.state()}
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_given_parameters_replace_the_drawn_ones_and_are_checked(backend: Backend) -> None:
    full = {k: v + 1 for k, v in initial_params(SMALL_CNN, seed=1).items()}
    compiled = backend.compile(SMALL_CNN, seed=9, params=full)
    for name, value in {**compiled.parameters(), **compiled.state()}.items():
        np.testing.assert_array_equal(value, full[name], err_msg=name)
    with pytest.raises(ShapeError) as info:
        backend.compile(SMALL_CNN, params={**full, "dense_1.weight": full["dense_1.weight"].T})
    assert str(info.value) == (
        "weights do not fit model 'm':\n  dense_1.weight: expected shape (4, 48), found (48, 4)"
    )
    with pytest.raises(NetspecError) as info:
        backend.compile(SMALL_CNN, params={**full, "dense_1.weigh": full["dense_1.weight"]})
    assert str(info.value) == (
        "weights do not fit model 'm':\n  unexpected: dense_1.weigh (did you mean dense_1.weight?)"
    )


def test_partial_parameters_keep_the_seeded_rest(backend: Backend) -> None:
    fixed = np.full(4, 2.0)
    compiled = backend.compile(SMALL_CNN, seed=9, params={"dense_1.bias": fixed})
    np.testing.assert_array_equal(compiled.parameters()["dense_1.bias"], fixed)
    np.testing.assert_array_equal(
        compiled.parameters()["conv2d_1.weight"],
        initial_params(SMALL_CNN, seed=9)["conv2d_1.weight"],
    )


def test_set_parameters_checks_names_and_shapes_and_is_all_or_nothing(backend: Backend) -> None:
    compiled = backend.compile(SMALL_CNN)
    before = compiled.parameters()
    with pytest.raises(ShapeError) as info:
        compiled.set_parameters({"dense_1.bias": np.ones(4), "dense_1.weight": np.ones((48, 4))})
    assert str(info.value).endswith("dense_1.weight: expected shape (4, 48), found (48, 4)")
    with pytest.raises(NetspecError, match=r"unexpected: dense_1\.weights \(did you mean"):
        compiled.set_parameters({"dense_1.weights": np.ones((4, 48))})
    # Nothing was applied: a rejected call leaves every value as it was.
    after = compiled.parameters()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    # parameters() hands out copies: writing to them changes nothing.
    after["dense_1.bias"][:] = 7
    assert not (compiled.parameters()["dense_1.bias"] == 7).any()


def test_set_parameters_takes_parameters_and_state_in_the_model_dtype(backend: Backend) -> None:
    compiled = backend.compile(SMALL_CNN)
    params = compiled.parameters()
    params["conv2d_1.weight"] += 1.0
    compiled.set_parameters({**params, "batchnorm_1.running_var": np.full(3, 4.0)})
    got = compiled.parameters()["conv2d_1.weight"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, params["conv2d_1.weight"])
    np.testing.assert_array_equal(compiled.state()["batchnorm_1.running_var"], np.full(3, 4.0))


def test_trace_holds_every_node_and_ends_in_the_output(backend: Backend) -> None:
    compiled = backend.compile(SMALL_CNN, dtype="float64")
    x = _images(3)
    trace = compiled.trace(x)
    assert list(trace) == [node.name for node in SMALL_CNN.nodes]
    for node in SMALL_CNN.nodes:
        assert trace[node.name].shape == (3, *node.output.shape), node.name
    np.testing.assert_array_equal(trace[SMALL_CNN.output], compiled.forward(x))


def test_the_input_gradient_is_given_only_when_asked_for(backend: Backend) -> None:
    compiled = backend.compile(SMALL_CNN)
    x, y = _images(2), np.array([0, 1])
    _, grads = compiled.loss_and_grads(x, y, SoftmaxCrossEntropy())
    assert list(grads) == [spec.name for spec in SMALL_CNN.params]
    _, grads = compiled.loss_and_grads(x, y, SoftmaxCrossEntropy(), input_grad=True)
    assert grads["x"].shape == x.shape


@pytest.mark.parametrize("shape", [(3,), (3, 4, 4)], ids=["features", "channels"])
def test_batchnorm_normalises_and_moves_its_running_statistics_as_pytorch(
    backend: Backend, shape: tuple[int, ...]
) -> None:
    model = _model(shape, "batchnorm(momentum = 0.2, eps = 1e-3)")
    compiled = backend.compile(model, dtype="float64")
    rng = np.random.default_rng(0)
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    compiled.set_parameters({"batchnorm_1.weight": gamma, "batchnorm_1.bias": beta})
    axes = (0, *range(2, len(shape) + 1))  # every axis but the channel's
    channel = (slice(None), *([None] * (len(shape) - 1)))

    def normalised(x: np.ndarray, mu: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
        z = (x - mu[channel]) / np.sqrt(sigma2[channel] + 1e-3)
        return z * gamma[channel] + beta[channel]

    mean, var = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.normal(2.0, 3.0, size=(5, *shape))
        compiled.forward(x, train=False)  # evaluation moves nothing
        # Training normalises with the batch's own (biased) statistics ...
        got = compiled.forward(x, train=True)
        want = normalised(x, x.mean(axis=axes), x.var(axis=axes))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        # ... and moves the running ones towards the batch's, with the unbiased variance.
        mean = 0.8 * mean + 0.2 * x.mean(axis=axes)
        var = 0.8 * var + 0.2 * x.var(axis=axes, ddof=1)
    state = compiled.state()
    np.testing.assert_allclose(state["batchnorm_1.running_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(state["batchnorm_1.running_var"], var, rtol=1e-12)
    # Evaluation mode normalises with the running statistics.
    x = rng.normal(size=(2, *shape))
    want = normalised(x, mean, var)
    np.testing.assert_allclose(compiled.forward(x), want, rtol=1e-10, atol=1e-12)


def test_loss_and_grads_moves_the_state_only_in_training(backend: Backend) -> None:
    compiled = backend.compile(_model((3,), "batchnorm"), dtype="float64")
    x, y = np.random.default_rng(0).normal(5.0, 1.0, size=(8, 3)), np.zeros((8, 3))
    compiled.loss_and_grads(x, y, MeanSquaredError(), train=False)
    np.testing.assert_array_equal(compiled.state()["batchnorm_1.running_mean"], np.zeros(3))
    compiled.loss_and_grads(x, y, MeanSquaredError())
    np.testing.assert_allclose(
        compiled.state()["batchnorm_1.running_mean"], 0.1 * x.mean(0), rtol=1e-12
    )


# -- dropout -----------------------------------------------------------------------------

UNITS = 200_000


def _dropout(backend: Backend, p: float, seed: int = 0, dtype: Any = "float32") -> CompiledModel:
    return backend.compile(_model((UNITS,), f"dropout({p})"), seed=seed, dtype=dtype)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_dropout_keeps_one_minus_p_scaled_by_its_inverse(backend: Backend, p: float) -> None:
    y = _dropout(backend, p).forward(np.ones((1, UNITS), dtype=np.float32), train=True)
    kept = float(np.mean(y != 0))
    # The kept count is Binomial(200000, 1 - p): its standard deviation is at most
    # 0.0012 of the units, so 0.006 is five standard deviations.
    assert abs(kept - (1 - p)) < 0.006, kept
    # Kept units are scaled by exactly 1 / (1 - p), so the mean is preserved.
    np.testing.assert_allclose(y[y != 0], np.float32(1 / (1 - p)), rtol=1e-6)
    assert abs(float(y.mean()) - 1.0) < 0.006 / (1 - p)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_dropout_is_the_identity_in_eval_mode_and_exact_at_the_edges(
    backend: Backend, p: float
) -> None:
    x = np.random.default_rng(0).standard_normal((2, UNITS)).astype(np.float32)
    compiled = _dropout(backend, p)
    np.testing.assert_array_equal(compiled.forward(x, train=False), x)
    if p != 0.5:
        np.testing.assert_array_equal(compiled.forward(x, train=True), x * (1 - p))


def test_the_seed_fixes_the_masks_and_each_call_draws_new_ones(backend: Backend) -> None:
    x = np.ones((2, UNITS), dtype=np.float32)
    a, b = _dropout(backend, 0.5, seed=7), _dropout(backend, 0.5, seed=7)
    first = a.forward(x, train=True)
    np.testing.assert_array_equal(first, b.forward(x, train=True))
    assert not np.array_equal(first, a.forward(x, train=True)), "each call draws a fresh mask"
    a.seed(7)
    np.testing.assert_array_equal(a.forward(x, train=True), first)
    assert not np.array_equal(first, _dropout(backend, 0.5, seed=8).forward(x, train=True))


def test_masks_depend_neither_on_the_dtype_nor_on_eval_calls(backend: Backend) -> None:
    x = np.ones((1, UNITS), dtype=np.float32)
    single = _dropout(backend, 0.4, seed=3)
    double = _dropout(backend, 0.4, seed=3, dtype="float64")
    double.forward(x)  # eval calls draw nothing and do not advance the stream
    np.testing.assert_array_equal(
        single.forward(x, train=True) != 0, double.forward(x, train=True) != 0
    )


def test_each_dropout_layer_draws_its_own_mask(backend: Backend) -> None:
    compiled = backend.compile(_model((UNITS,), "dropout(0.5) -> dropout(0.5)"), seed=1)
    trace = compiled.trace(np.ones((1, UNITS)), train=True)
    first, second = trace["dropout_1"] != 0, trace["dropout_2"] != 0
    # Independent masks: the second drops about half of what the first kept.
    assert 0.48 < (first & ~second).sum() / first.sum() < 0.52


def test_dropout_changes_the_loss_in_training_only(backend: Backend) -> None:
    compiled = backend.compile(_model((20,), "dense(30) -> dropout(0.5) -> dense(3)"), seed=2)
    x, y = np.random.default_rng(0).normal(size=(8, 20)), np.arange(8) % 3
    loss = SoftmaxCrossEntropy()
    eval_a = compiled.loss_and_grads(x, y, loss, train=False)[0]
    eval_b = compiled.loss_and_grads(x, y, loss, train=False)[0]
    train_a = compiled.loss_and_grads(x, y, loss)[0]
    train_b = compiled.loss_and_grads(x, y, loss)[0]
    assert eval_a == eval_b
    assert train_a != train_b and train_a != eval_a


# -- every spec in specs/ ----------------------------------------------------------------


# ImageNet size: resnet18 is traced, in the slow tests; vgg11's 133M parameters need
# gigabytes, and its parity is checked with pytest -m heavy (test_parity.py).
LARGE = 2_000_000


def _spec_models() -> list[Any]:
    cases = []
    for path in SPECS:
        for model in netspec.load(path).models:
            if model.name != "vgg11":
                marks = [pytest.mark.slow] if model.parameter_count >= LARGE else []
                cases.append(
                    pytest.param(path, model.name, id=f"{path.stem}:{model.name}", marks=marks)
                )
    return cases


# Beside the specs: asymmetric padding and stride, and branches joined by a concat.
SHAPED = {
    "asymmetric_conv": _model(
        (2, 9, 9),
        "conv2d(4, 3, stride = 2, padding = [[1, 0], [0, 1]]) -> batchnorm -> relu\n"
        "maxpool(2) -> flatten -> dense(3)",
    ),
    "branches": _model(
        (3, 6, 6),
        "a = x -> conv2d(2, 1)\n"
        "b = x -> conv2d(3, 3, padding = same)\n"
        "c = x -> avgpool(3, stride = 1, padding = [[1, 1], [1, 1]])\n"
        "concat(a, b, c) -> global_avgpool",
    ),
}


@pytest.mark.parametrize("name", SHAPED)
def test_trace_shapes_and_dtype_are_the_checked_irs(backend: Backend, name: str) -> None:
    model = SHAPED[name]
    x = np.random.default_rng(0).standard_normal((5, *model.input.shape))
    traced = backend.compile(model).trace(x, train=True)
    assert list(traced) == [node.name for node in model.nodes]
    for node in model.nodes:
        assert traced[node.name].shape == (5, *node.output.shape), node.name
        assert traced[node.name].dtype == np.float32, node.name


@pytest.mark.parametrize(("path", "name"), _spec_models())
def test_every_spec_traces_to_its_checked_shapes_and_trains(
    backend: Backend, path: Path, name: str
) -> None:
    program = netspec.load(path)
    checked = program.model(name)
    compiled = backend.compile(checked, seed=1)
    rng = np.random.default_rng(0)
    # Values in [0, 1), or valid indices for an integer input.
    if checked.input.dtype.startswith("float"):
        x = rng.uniform(0, 1, (3, *checked.input.shape))
    else:
        x = random_inputs(checked, rng, 3)
    # Training mode: dropout draws, batchnorm uses and moves the batch statistics.
    trace = compiled.trace(x, train=True)
    assert list(trace) == [node.name for node in checked.nodes]
    for node in checked.nodes:
        assert trace[node.name].shape == (3, *node.output.shape), node.name
        assert np.isfinite(trace[node.name]).all(), node.name
    train = program.train(name)
    # A float32 backward pass at ImageNet size takes many seconds in NumPy: its loss and
    # gradients are compared across backends in test_imagenet_size_backends_agree.
    if train is None or checked.parameter_count >= LARGE:
        return
    out = trace[checked.output]
    if train.loss.kind == "softmax_cross_entropy":
        # A label per position of the output's leading axes; the classes are the last.
        y = (np.arange(3 * math.prod(out.shape[1:-1])) % out.shape[-1]).reshape(out.shape[:-1])
    else:
        y = np.zeros(out.shape)
    value, grads = compiled.loss_and_grads(x, y, train.loss)
    assert np.isfinite(value)
    assert set(grads) == {p.name for p in checked.params}
    assert all(np.isfinite(g).all() for g in grads.values())
