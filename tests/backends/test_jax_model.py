"""The compiled JAX model: worked values, precision, errors, randomness, state, params."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

from test_jax_support import inline, random_params, spec_model  # noqa: E402

from netspec.backend import CompiledModel, get_backend  # noqa: E402
from netspec.backends.jax import BACKEND, JaxModel, build_apply, precision_scope  # noqa: E402
from netspec.errors import NetspecError, ShapeError  # noqa: E402
from netspec.initializers import initial_params  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import MeanSquaredError, SoftmaxCrossEntropy  # noqa: E402

# -- worked values from the design notes (the project's specs) -----------------------


def test_relu_worked_example_gives_46_0() -> None:
    compiled = BACKEND.compile(spec_model("relu_worked_example.net"))
    np.testing.assert_array_equal(compiled.forward(np.array([[3.0, 4.0]])), [[46.0, 0.0]])


def test_sigmoid_worked_example() -> None:
    model = spec_model("sigmoid_worked_example.net")
    compiled = BACKEND.compile(model, dtype="float64")
    x = np.array([[1.0, 0.5]])
    w = compiled.parameters()

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-z))

    h = sigmoid(x @ w["dense_1.weight"].T + w["dense_1.bias"])
    h = sigmoid(h @ w["dense_2.weight"].T + w["dense_2.bias"])
    out = compiled.forward(x)
    np.testing.assert_allclose(out, h @ w["dense_3.weight"].T + w["dense_3.bias"], rtol=1e-14)
    np.testing.assert_allclose(out, [[0.3168, 0.6963]], atol=1e-4)


@pytest.mark.parametrize(
    ("gate", "truth"),
    [
        ("and_gate", (0, 0, 0, 1)),
        ("nand_gate", (1, 1, 1, 0)),
        ("or_gate", (0, 1, 1, 1)),
        ("xor_gate", (0, 1, 1, 0)),
    ],
)
def test_logic_gates(gate: str, truth: tuple[int, ...]) -> None:
    compiled = BACKEND.compile(spec_model("logic_gates.net", gate))
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    np.testing.assert_array_equal(compiled.forward(inputs)[:, 0], truth)


# -- precision ---------------------------------------------------------------------------

LENET = "lenet5.net"
# Small, but with every kind of state and randomness: conv, batchnorm, pool, dropout.
SMALL_CNN = "conv2d(2, 3) -> batchnorm -> relu -> maxpool(2) -> flatten -> dropout(0.5) -> dense(3)"


def small_cnn() -> CheckedModel:
    return inline((1, 8, 8), SMALL_CNN)


def images(n: int, seed: int = 0, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 1, size, size))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_of_everything(dtype: str) -> None:
    compiled = BACKEND.compile(small_cnn(), dtype=dtype)
    x = images(2)
    assert compiled.forward(x).dtype == dtype
    assert all(v.dtype == dtype for v in compiled.trace(x).values())
    loss, grads = compiled.loss_and_grads(
        x, np.array([1, 2]), SoftmaxCrossEntropy(), input_grad=True
    )
    assert isinstance(loss, float)
    assert all(g.dtype == dtype for g in grads.values())
    assert all(p.dtype == dtype for p in compiled.parameters().values())


def test_float64_leaves_the_global_x64_flag_alone() -> None:
    before = jax.config.jax_enable_x64
    compiled = BACKEND.compile(small_cnn(), dtype="float64")
    x = images(2)
    compiled.forward(x, train=True)
    compiled.trace(x)
    compiled.loss_and_grads(x, np.array([1, 2]), SoftmaxCrossEntropy())
    compiled.set_parameters(compiled.parameters())
    compiled.seed(5)
    assert jax.config.jax_enable_x64 == before
    # And JAX outside the model still makes float32 by default.
    assert jax.numpy.ones(1).dtype == (np.float64 if before else np.float32)


def test_float32_model_ignores_a_callers_x64() -> None:
    model = small_cnn()
    values, x = random_params(model), images(2, seed=1)
    plain = BACKEND.compile(model, params=values).forward(x)
    with jax.enable_x64(True):
        inside = BACKEND.compile(model, params=values).forward(x)
        assert jax.config.jax_enable_x64
    assert inside.dtype == np.float32
    np.testing.assert_array_equal(inside, plain)


def test_float64_is_exact_where_float32_is_not() -> None:
    # 1 + 1e-12 is 1 in float32: only a true float64 computation keeps the difference.
    model = inline((1,), "dense(1, weight = [[1]], bias = [1e-12])")
    x = np.ones((1, 1))
    assert BACKEND.compile(model, dtype="float64").forward(x)[0, 0] - 1 > 0
    assert BACKEND.compile(model, dtype="float32").forward(x)[0, 0] == 1


def test_pure_apply_in_a_float64_scope() -> None:
    model = inline((3,), "dense(4) -> tanh -> dense(2)")
    values = random_params(model)
    x = np.random.default_rng(2).normal(size=(5, 3))
    with precision_scope("float64"):
        out, state = build_apply(model)(values, {}, x, train=False)
        assert out.dtype == np.float64 and state == {}
    expected = BACKEND.compile(model, dtype="float64", params=values).forward(x)
    np.testing.assert_array_equal(np.asarray(out), expected)


# -- bad inputs ------------------------------------------------------------------------

SMALL = "dense(3)"


@pytest.mark.parametrize(
    ("x", "received"),
    [
        (np.zeros((2, 3)), "(2, 3)"),
        (np.zeros((2, 4, 1)), "(2, 4, 1)"),
        (np.zeros(4), "(4,)"),
        (np.zeros((0, 4)), "(0, 4)"),
        (np.zeros((2, 4), dtype=np.complex128), "complex128"),
        (np.array([["a"] * 4]), "<U1"),
    ],
)
def test_bad_batches_raise_shape_error(x: np.ndarray, received: str) -> None:
    compiled = BACKEND.compile(inline((4,), SMALL))
    for call in (
        compiled.forward,
        compiled.trace,
        lambda x: compiled.loss_and_grads(x, np.zeros((len(x), 3)), MeanSquaredError()),
    ):
        with pytest.raises(ShapeError) as info:
            call(x)
        message = str(info.value)
        assert received in message
        assert "(N, 4)" in message or "real numbers" in message


def test_batchnorm_with_one_value_per_channel_needs_two_samples() -> None:
    compiled = BACKEND.compile(inline((3,), "batchnorm"))
    with pytest.raises(ShapeError, match="more than one value per feature"):
        compiled.forward(np.zeros((1, 3)), train=True)
    assert compiled.forward(np.ones((1, 3))).shape == (1, 3)  # eval is fine


def test_set_parameters_checks_names_and_shapes() -> None:
    compiled = BACKEND.compile(inline((4,), SMALL))
    before = compiled.parameters()
    with pytest.raises(ShapeError, match=r"dense_1\.weight: expected shape \(3, 4\), found"):
        compiled.set_parameters({"dense_1.bias": np.ones(3), "dense_1.weight": np.ones((4, 3))})
    with pytest.raises(NetspecError, match=r"did you mean dense_1\.weight\?"):
        compiled.set_parameters({"dense_1.weights": np.ones((3, 4))})
    # Nothing was applied: a rejected call leaves every value as it was.
    for key, value in compiled.parameters().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cpu:7"])
def test_unknown_device(device: str) -> None:
    with pytest.raises(NetspecError, match=device):
        BACKEND.compile(inline((4,), SMALL), device=device)


@pytest.mark.skipif(any(d.platform != "cpu" for d in jax.devices()), reason="a GPU is present")
@pytest.mark.parametrize("device", ["cuda", "gpu", "cuda:0"])
def test_gpu_request_without_gpu_names_cpu(device: str) -> None:
    with pytest.raises(NetspecError, match="device='cpu'"):
        BACKEND.compile(inline((4,), SMALL), device=device)
    assert BACKEND.compile(inline((4,), SMALL), device="auto").device == "cpu"


# -- randomness ------------------------------------------------------------------------


def dropout_model(p: float = 0.5, dtype: str = "float32") -> JaxModel:
    return BACKEND.compile(inline((200,), f"dropout({p})"), seed=3, dtype=dtype)


def test_dropout_is_inverted_and_identity_in_eval() -> None:
    compiled = dropout_model(0.25)
    x = np.ones((50, 200), dtype=np.float32)
    np.testing.assert_array_equal(compiled.forward(x), x)
    out = compiled.forward(x, train=True)
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.015  # 10 000 draws: 3 sigma is 0.013


def test_same_seed_same_masks_and_each_call_new_ones() -> None:
    x = np.ones((4, 200), dtype=np.float32)
    a, b = dropout_model(), dropout_model()
    first = [a.forward(x, train=True) for _ in range(3)]
    second = [b.forward(x, train=True) for _ in range(3)]
    for one, other in zip(first, second, strict=True):
        np.testing.assert_array_equal(one, other)
    assert not np.array_equal(first[0], first[1])
    a.seed(3)
    np.testing.assert_array_equal(a.forward(x, train=True), first[0])
    a.seed(4)
    assert not np.array_equal(a.forward(x, train=True), first[0])


def test_masks_do_not_depend_on_dtype_or_eval_calls() -> None:
    x = np.ones((4, 200))
    single, double = dropout_model(), dropout_model(dtype="float64")
    double.forward(x)  # eval calls draw nothing and do not advance the stream
    np.testing.assert_array_equal(
        single.forward(x, train=True) != 0, double.forward(x, train=True) != 0
    )


def test_each_dropout_layer_draws_its_own_mask() -> None:
    compiled = BACKEND.compile(inline((200,), "dropout(0.5) -> dropout(0.5)"), seed=1)
    trace = compiled.trace(np.ones((1, 200)), train=True)
    first, second = trace["dropout_1"] != 0, trace["dropout_2"] != 0
    # Independent masks: the second drops about half of what the first kept.
    assert 0.3 < (first & ~second).sum() / first.sum() < 0.7


def test_dropout_changes_gradients_in_training_only() -> None:
    compiled = BACKEND.compile(spec_model("dropout_mlp.net"))
    x, y = np.random.default_rng(0).normal(size=(8, 784)), np.arange(8)
    loss = SoftmaxCrossEntropy()
    eval_a = compiled.loss_and_grads(x, y, loss, train=False)
    eval_b = compiled.loss_and_grads(x, y, loss, train=False)
    train_a = compiled.loss_and_grads(x, y, loss)
    train_b = compiled.loss_and_grads(x, y, loss)
    assert eval_a[0] == eval_b[0]
    assert train_a[0] != train_b[0] and train_a[0] != eval_a[0]


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_extremes(p: float) -> None:
    x = np.ones((2, 200), dtype=np.float32)
    np.testing.assert_array_equal(dropout_model(p).forward(x, train=True), x * (1 - p))


# -- state and params -------------------------------------------------------------------


def test_batchnorm_running_stats_follow_torch_over_steps() -> None:
    compiled = BACKEND.compile(inline((3, 4, 4), "batchnorm(momentum = 0.2)"), dtype="float64")
    reference = torch.nn.BatchNorm2d(3, momentum=0.2).double()
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(2.0, 3.0, size=(5, 3, 4, 4))
        np.testing.assert_allclose(
            compiled.forward(x, train=True), reference(torch.tensor(x)).detach().numpy(), atol=1e-12
        )
    state = compiled.state()
    np.testing.assert_allclose(
        state["batchnorm_1.running_mean"], reference.running_mean.numpy(), atol=1e-12
    )
    np.testing.assert_allclose(
        state["batchnorm_1.running_var"], reference.running_var.numpy(), atol=1e-12
    )
    reference.eval()
    x = rng.normal(size=(2, 3, 4, 4))
    np.testing.assert_allclose(
        compiled.forward(x), reference(torch.tensor(x)).detach().numpy(), atol=1e-12
    )


def test_loss_and_grads_updates_state_only_in_training() -> None:
    compiled = BACKEND.compile(inline((3,), "batchnorm"))
    x, y = np.random.default_rng(0).normal(5.0, 1.0, size=(8, 3)), np.zeros((8, 3))
    initial = compiled.state()
    compiled.loss_and_grads(x, y, MeanSquaredError(), train=False)
    np.testing.assert_array_equal(
        compiled.state()["batchnorm_1.running_mean"], initial["batchnorm_1.running_mean"]
    )
    compiled.loss_and_grads(x, y, MeanSquaredError())
    np.testing.assert_allclose(
        compiled.state()["batchnorm_1.running_mean"], 0.1 * x.mean(0), rtol=1e-5
    )


def test_initial_params_come_from_netspec_initializers() -> None:
    model = spec_model(LENET)
    compiled = BACKEND.compile(model, seed=11, dtype="float64")
    expected = initial_params(model, seed=11, dtype="float64")
    assert list(compiled.parameters()) == [spec.name for spec in model.params]
    for name, value in compiled.parameters().items():
        np.testing.assert_array_equal(value, expected[name])


def test_partial_params_keep_the_seeded_rest() -> None:
    model = spec_model("mlp.net")
    fixed = np.full((256, 784), 0.5)
    compiled = BACKEND.compile(model, seed=2, params={"dense_1.weight": fixed})
    expected = initial_params(model, seed=2)
    np.testing.assert_array_equal(compiled.parameters()["dense_1.weight"], fixed)
    np.testing.assert_array_equal(
        compiled.parameters()["dense_2.weight"], expected["dense_2.weight"]
    )


def test_parameters_are_copies_and_set_parameters_round_trips() -> None:
    compiled = BACKEND.compile(inline((2, 4, 4), "conv2d(2, 3) -> batchnorm"))
    params = compiled.parameters()
    params["conv2d_1.weight"] += 1.0  # writable, and the model does not see it
    assert not np.array_equal(compiled.parameters()["conv2d_1.weight"], params["conv2d_1.weight"])
    compiled.set_parameters({**params, "batchnorm_1.running_var": np.full(2, 4.0)})
    np.testing.assert_array_equal(
        compiled.parameters()["conv2d_1.weight"], params["conv2d_1.weight"].astype(np.float32)
    )
    np.testing.assert_array_equal(compiled.state()["batchnorm_1.running_var"], [4.0, 4.0])


def test_trace_has_every_node_and_ends_in_forward() -> None:
    model = spec_model(LENET)
    compiled = BACKEND.compile(model)
    x = images(3, size=28)
    trace = compiled.trace(x)
    assert list(trace) == [node.name for node in model.nodes]
    for node in model.nodes:
        assert trace[node.name].shape == (3, *node.output.shape)
    np.testing.assert_array_equal(trace[model.output], compiled.forward(x))


def test_jit_traces_once_per_shape() -> None:
    compiled = BACKEND.compile(inline((4,), "dense(8) -> relu -> dense(2)"))
    for batch in (5, 5, 5, 7, 7):
        compiled.forward(np.zeros((batch, 4), dtype=np.float32))
        compiled.loss_and_grads(
            np.zeros((batch, 4)), np.zeros(batch, dtype=int), SoftmaxCrossEntropy()
        )
    programs = compiled._programs
    assert programs.forward(False, False)._cache_size() == 2
    assert programs.step(SoftmaxCrossEntropy(), True, False)._cache_size() == 2


def test_the_backend_protocol() -> None:
    assert get_backend("jax") is BACKEND
    assert BACKEND.name == "jax"
    assert isinstance(BACKEND.compile(inline((4,), SMALL)), CompiledModel)
