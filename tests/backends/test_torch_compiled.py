"""The torch backend's CompiledModel: the contract, losses and gradients, bad inputs,
devices, weights and dropout streams."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

import netspec  # noqa: E402
from netspec.backend import CompiledModel, get_backend  # noqa: E402
from netspec.backends.torch import BACKEND, TorchModel, ieee_float32, resolve_device  # noqa: E402
from netspec.errors import NetspecError, ShapeError  # noqa: E402
from netspec.initializers import initial_params  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import (  # noqa: E402
    BinaryCrossEntropy,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)

RNG = np.random.default_rng(99)


def model_of(shape: tuple[int, ...], body: str) -> CheckedModel:
    """The checked model ``m`` with input ``x`` of per-sample ``shape`` and ``body``."""
    return netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{\n{body}\n}}\n").model()


# A small net touching every layer with parameters or state, and both penalties.
SMALL_CNN = """conv2d(3, 3, padding = same, regularize = l2(0.3)) -> batchnorm
    prelu(per_channel = true) -> maxpool(2, padding = same) -> flatten
    dense(4, regularize = [l1(0.05), l2(0.1)]) -> tanh
    dense(3, init = xavier_uniform)"""


@pytest.fixture(scope="module")
def small_cnn() -> CheckedModel:
    return model_of((2, 5, 5), SMALL_CNN)


def test_backend_meets_the_protocol(small_cnn: CheckedModel) -> None:
    assert get_backend("torch") is BACKEND
    assert BACKEND.name == "torch"
    compiled = BACKEND.compile(small_cnn)
    assert isinstance(compiled, CompiledModel)
    assert (compiled.dtype, compiled.device, compiled.ir) == ("float32", "cpu", small_cnn)
    assert isinstance(compiled.module, torch.nn.Module)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_initial_weights_are_netspecs_bit_for_bit(small_cnn: CheckedModel, dtype: str) -> None:
    compiled = BACKEND.compile(small_cnn, dtype=dtype, seed=11)
    want = initial_params(small_cnn, seed=11, dtype=dtype)
    got = {**compiled.parameters(), **compiled.state()}
    assert list(got) == list(want)
    for name, value in want.items():
        assert got[name].dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    out = compiled.forward(RNG.normal(size=(2, 2, 5, 5)))
    assert out.dtype == np.dtype(dtype)


def test_compiling_leaves_torch_global_random_state_alone(small_cnn: CheckedModel) -> None:
    before = torch.get_rng_state()
    model = model_of((6,), "dense(5) -> dropout(0.5)")
    compiled = BACKEND.compile(model, seed=1)
    compiled.forward(np.ones((3, 6)), train=True)
    BACKEND.compile(small_cnn)
    assert torch.equal(torch.get_rng_state(), before)


# --- losses and gradients --------------------------------------------------------------


def _targets(loss: LossSpec, n: int, classes: int, probabilities: bool) -> np.ndarray:
    if isinstance(loss, SoftmaxCrossEntropy):
        if probabilities:
            return RNG.dirichlet(np.ones(classes), size=n)
        return RNG.integers(0, classes, size=n)
    if isinstance(loss, BinaryCrossEntropy):
        return RNG.integers(0, 2, size=(n, classes)).astype(np.float64)
    return RNG.normal(size=(n, classes))


LOSSES = [
    (SoftmaxCrossEntropy(), False),
    (SoftmaxCrossEntropy(), True),
    (SoftmaxCrossEntropy(class_weights=(0.5, 2.0, 1.0)), False),
    (SoftmaxCrossEntropy(class_weights=(0.5, 2.0, 1.0)), True),
    (BinaryCrossEntropy(), False),
    (MeanSquaredError(), False),
    (HalfSumSquaredError(), False),
    (MeanAbsoluteError(), False),
]


@pytest.mark.parametrize(("loss", "probabilities"), LOSSES)
def test_loss_values_match_their_formulas(loss: LossSpec, probabilities: bool) -> None:
    # An identity model: the output is the batch itself, so the loss is the formula.
    compiled = BACKEND.compile(model_of((3,), "identity"), dtype="float64")
    y = RNG.normal(size=(5, 3))
    t = _targets(loss, 5, 3, probabilities)
    got, _ = compiled.loss_and_grads(y, t, loss)
    log_p = y - np.log(np.exp(y).sum(axis=1, keepdims=True))
    if isinstance(loss, SoftmaxCrossEntropy):
        w = np.asarray(loss.class_weights or (1.0, 1.0, 1.0))
        if probabilities:
            want = -np.sum(w * t * log_p) / 5
        else:
            picked = log_p[np.arange(5), t]
            want = -np.sum(w[t] * picked) / np.sum(w[t])
    elif isinstance(loss, BinaryCrossEntropy):
        p = 1 / (1 + np.exp(-y))
        want = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    elif isinstance(loss, MeanSquaredError):
        want = np.mean((y - t) ** 2)
    elif isinstance(loss, HalfSumSquaredError):
        want = 0.5 * np.sum((y - t) ** 2) / 5
    else:
        want = np.mean(np.abs(y - t))
    assert got == pytest.approx(want, rel=1e-12)


def test_penalties_add_to_the_loss() -> None:
    model = model_of(
        (2,),
        "dense(2, weight = [[1, -2], [3, 0.5]], bias = [1, 1], regularize = [l2(0.1), l1(0.2)])",
    )
    compiled = BACKEND.compile(model, dtype="float64")
    x, t = np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])
    loss, grads = compiled.loss_and_grads(x, t, HalfSumSquaredError())
    weight = np.array([[1, -2], [3, 0.5]])
    y = x @ weight.T + 1
    want = 0.5 * np.sum(y**2) + 0.5 * 0.1 * np.sum(weight**2) + 0.2 * np.sum(np.abs(weight))
    assert loss == pytest.approx(want, rel=1e-14)
    want_grad = y.T @ x + 0.1 * weight + 0.2 * np.sign(weight)
    np.testing.assert_allclose(grads[model.params[0].name], want_grad, rtol=1e-14)
    np.testing.assert_allclose(grads[model.params[1].name], y[0], rtol=1e-14)  # no penalty


def _numeric_grad(f, array: np.ndarray, picks: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    flat = array.reshape(-1)
    out = np.empty(len(picks))
    for k, i in enumerate(picks):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        out[k] = (plus - minus) / (2 * eps)
    return out


@pytest.mark.parametrize(("loss", "probabilities"), LOSSES[::2] + LOSSES[1:2])
def test_gradients_match_finite_differences(
    small_cnn: CheckedModel, loss: LossSpec, probabilities: bool
) -> None:
    compiled = BACKEND.compile(small_cnn, dtype="float64", seed=4)
    x = RNG.normal(size=(4, 2, 5, 5))
    t = _targets(loss, 4, 3, probabilities)
    _, grads = compiled.loss_and_grads(x, t, loss, input_grad=True)
    params = compiled.parameters()
    arrays = {**params, "x": x}
    for name, array in arrays.items():

        def loss_at(name: str = name, array: np.ndarray = array) -> float:
            if name != "x":
                compiled.set_parameters({name: array})
            return compiled.loss_and_grads(x, t, loss)[0]

        picks = RNG.choice(array.size, size=min(array.size, 6), replace=False)
        numeric = _numeric_grad(loss_at, array, picks)
        compiled.set_parameters(params)
        np.testing.assert_allclose(
            grads[name].reshape(-1)[picks], numeric, rtol=1e-5, atol=1e-8, err_msg=name
        )


def test_gradients_do_not_touch_the_modules_grad_fields(small_cnn: CheckedModel) -> None:
    compiled = BACKEND.compile(small_cnn)
    loss, grads = compiled.loss_and_grads(
        RNG.normal(size=(3, 2, 5, 5)), np.array([0, 1, 2]), SoftmaxCrossEntropy()
    )
    assert np.isfinite(loss)
    assert list(grads) == [spec.name for spec in small_cnn.params]
    assert all(p.grad is None for p in compiled.module.parameters())


# --- bad inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        (np.zeros((4, 2, 5, 4)), r"shape \(4, 2, 5, 4\), expected \(N, 2, 5, 5\)"),
        (np.zeros((2, 5, 5)), r"(?s)shape \(2, 5, 5\).*add the batch axis"),
        (np.zeros((4, 50)), r"(?s)shape \(4, 50\).*x.reshape\(4, 2, 5, 5\)"),
        (np.zeros((4, 2, 5, 5), dtype=bool), r"dtype bool, expected real numbers"),
        (np.zeros((4, 2, 5, 5), dtype=complex), r"dtype complex128"),
        (np.zeros((0, 2, 5, 5)), r"is empty"),
        ([[1, 2], [3]], r"not an array"),
    ],
)
def test_bad_batches_are_named_before_torch_sees_them(
    small_cnn: CheckedModel, batch: object, match: str
) -> None:
    compiled = BACKEND.compile(small_cnn)
    with pytest.raises(ShapeError, match=match):
        compiled.forward(batch)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("loss", "targets", "match"),
    [
        (SoftmaxCrossEntropy(), np.array([0, 1, 3]), r"\[0, 3\), got 3"),
        (SoftmaxCrossEntropy(), np.array([0, 1.5, 2]), r"whole numbers .* got 1.5"),
        (SoftmaxCrossEntropy(), np.zeros((3, 4)), r"\(3,\) \(class indices\) or \(3, 3\)"),
        (SoftmaxCrossEntropy(), np.array([0, 1]), r"shape \(2,\)"),
        (MeanSquaredError(), np.zeros((3, 2)), r"have shape \(3, 2\), expected \(3, 3\)"),
        (MeanSquaredError(), np.array(["a", "b", "c"]), r"dtype <U1"),
    ],
)
def test_bad_targets_are_named(loss: LossSpec, targets: np.ndarray, match: str) -> None:
    compiled = BACKEND.compile(model_of((3,), "identity"))
    with pytest.raises(ShapeError, match=match):
        compiled.loss_and_grads(np.zeros((3, 3)), targets, loss)


def test_class_weights_must_match_the_classes() -> None:
    compiled = BACKEND.compile(model_of((3,), "identity"))
    with pytest.raises(NetspecError, match=r"2 class_weights, expected one per class \(3\)"):
        compiled.loss_and_grads(
            np.zeros((2, 3)), np.array([0, 1]), SoftmaxCrossEntropy(class_weights=(1.0, 2.0))
        )


def test_batchnorm_needs_two_samples_in_training() -> None:
    compiled = BACKEND.compile(model_of((4,), "dense(3) -> batchnorm"))
    with pytest.raises(ShapeError, match=r"batchnorm 'batchnorm_1' .* batch of 1 sample"):
        compiled.forward(np.ones((1, 4)), train=True)
    assert compiled.forward(np.ones((1, 4))).shape == (1, 3)  # eval is fine


def test_device_errors_name_the_way_out(small_cnn: CheckedModel) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(NetspecError, match=r"(?s)no CUDA device is present.*device='cpu'"):
            BACKEND.compile(small_cnn, device="cuda")
        assert BACKEND.compile(small_cnn, device="auto").device == "cpu"
    with pytest.raises(NetspecError, match=r"only \d+ CUDA device|no CUDA device"):
        BACKEND.compile(small_cnn, device="cuda:99")
    for bad in ("gpu", "cuda:x", "cpu:0"):
        with pytest.raises(NetspecError, match=r"unknown device .*'cpu', 'cuda', 'cuda:N'"):
            BACKEND.compile(small_cnn, device=bad)


def test_cuda_device_strings_resolve_to_an_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend two GPUs are present, the second current: only the resolution is tested.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("CUDA:0") == torch.device("cuda", 0)
    with pytest.raises(NetspecError, match=r"names GPU 2, but only 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


# --- weights -----------------------------------------------------------------------------


def test_given_params_are_used_and_checked(small_cnn: CheckedModel) -> None:
    values = initial_params(small_cnn, seed=3, dtype="float64")
    params = {spec.name: values[spec.name] for spec in small_cnn.params}
    compiled = BACKEND.compile(small_cnn, params=params, seed=0)
    for name, value in compiled.parameters().items():
        np.testing.assert_array_equal(value, params[name].astype(np.float32))
    state = compiled.state()
    assert all(np.all(v == (1.0 if n.endswith("var") else 0.0)) for n, v in state.items())

    first = small_cnn.params[0].name
    with pytest.raises(NetspecError, match=rf"missing: {first}"):
        BACKEND.compile(small_cnn, params={k: v for k, v in params.items() if k != first})
    with pytest.raises(ShapeError, match=rf"{first}: expected shape \(3, 2, 3, 3\), found \(3,\)"):
        BACKEND.compile(small_cnn, params={**params, first: np.zeros(3)})
    with pytest.raises(NetspecError, match=rf"{first[:-1]} \(did you mean {first}\?\)"):
        BACKEND.compile(small_cnn, params={**params, first[:-1]: params[first]})


def test_set_parameters_writes_in_place_and_all_or_nothing(small_cnn: CheckedModel) -> None:
    compiled = BACKEND.compile(small_cnn)
    held = list(compiled.module.parameters())
    names = [spec.name for spec in small_cnn.params]
    before = compiled.parameters()
    with pytest.raises(ShapeError):
        compiled.set_parameters({names[0]: np.ones_like(before[names[0]]), names[1]: np.ones(7)})
    np.testing.assert_array_equal(compiled.parameters()[names[0]], before[names[0]])
    compiled.set_parameters({names[0]: np.ones_like(before[names[0]])})
    assert all(a is b for a, b in zip(held, compiled.module.parameters(), strict=True))
    assert torch.all(held[0] == 1)
    # parameters() hands out copies.
    compiled.parameters()[names[0]][...] = 5
    assert torch.all(held[0] == 1)


def test_trace_holds_every_node_and_ends_in_the_output(small_cnn: CheckedModel) -> None:
    compiled = BACKEND.compile(small_cnn, dtype="float64")
    x = RNG.normal(size=(3, 2, 5, 5))
    trace = compiled.trace(x)
    assert list(trace) == [node.name for node in small_cnn.nodes]
    for node in small_cnn.nodes:
        assert trace[node.name].shape == (3, *node.output.shape), node.name
    np.testing.assert_array_equal(trace[small_cnn.output], compiled.forward(x))


# --- dropout -----------------------------------------------------------------------------


def test_dropout_masks_follow_the_seed() -> None:
    model = model_of((200,), "dropout(0.25)")
    x = np.ones((4, 200))
    first = BACKEND.compile(model, seed=5)
    masks = [first.forward(x, train=True) for _ in range(2)]
    assert not np.array_equal(masks[0], masks[1]), "the stream must move on"
    second = BACKEND.compile(model, seed=5)
    np.testing.assert_array_equal(second.forward(x, train=True), masks[0])
    second.seed(5)
    np.testing.assert_array_equal(second.forward(x, train=True), masks[0])
    other = BACKEND.compile(model, seed=6)
    assert not np.array_equal(other.forward(x, train=True), masks[0])
    # Inverted: kept units are scaled by 1 / (1 - p); eval is the identity.
    assert set(np.unique(masks[0])) == {0.0, np.float32(1 / 0.75)}
    assert 0.6 < np.mean(masks[0] != 0) < 0.9
    np.testing.assert_array_equal(first.forward(x), x)


# --- TF32 ----------------------------------------------------------------------------------


def test_ieee_float32_turns_tf32_off_and_restores_the_users_settings() -> None:
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    try:
        matmul.allow_tf32, cudnn.allow_tf32 = True, True
        with ieee_float32():
            assert (matmul.allow_tf32, cudnn.allow_tf32) == (False, False)
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (True, True)
        # A user who mixed the two TF32 APIs: the new one is used and restored.
        cudnn.conv.fp32_precision = "ieee"
        with ieee_float32():
            assert (matmul.fp32_precision, cudnn.conv.fp32_precision) == ("ieee", "ieee")
        assert (matmul.fp32_precision, cudnn.conv.fp32_precision) == ("tf32", "ieee")
    finally:
        cudnn.conv.fp32_precision = "tf32"
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_compiled_model_type_is_exported() -> None:
    assert isinstance(BACKEND.compile(model_of((2,), "relu")), TorchModel)
