"""rnn, lstm and gru against torch.nn.RNN, LSTM and GRU, in float64.

Each case is a one-layer netspec model and the torch module it claims to be
(``batch_first=True``). The netspec weights (random) load into the torch module by name
with ``strict=True``; then every backend's output and its gradients of an MSE loss with
respect to the input and every parameter are compared with torch's autograd. The torch
module's output is ``output`` with ``return_sequences``, else its ``h_n`` of the last layer
(the forward direction's, then the backward direction's), which is what netspec returns.
Then: float32 agreement of the backends to 1e-5, the NumPy backward with dropout between
layers against central differences (the same mask each call), and the parameters'
default initialisation as PyTorch's.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.backends.numpy.nn_recurrent import recurrent, recurrent_backward
from netspec.parity import run_parity
from tests.backends.conftest import AVAILABLE, backend_params

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install netspec[torch])")

# (id, per-sample [T, F], the layer as a spec writes it)
CASES: list[tuple[str, tuple[int, int], str]] = [
    ("rnn_tanh", (5, 3), "rnn(4)"),
    ("rnn_relu_sequences", (5, 3), "rnn(4, relu, return_sequences = true)"),
    ("rnn_relu_two_layers_bidirectional", (4, 2), "rnn(3, relu, layers = 2, bidirectional = true)"),
    ("lstm", (6, 3), "lstm(4)"),
    ("lstm_sequences", (6, 3), "lstm(4, return_sequences = true)"),
    ("lstm_two_layers", (5, 3), "lstm(3, layers = 2)"),
    ("lstm_bidirectional", (5, 3), "lstm(3, bidirectional = true)"),
    (
        "lstm_deep_bidirectional_sequences",
        (4, 2),
        "lstm(3, layers = 3, bidirectional = true, return_sequences = true)",
    ),
    ("lstm_no_bias", (5, 3), "lstm(3, layers = 2, bias = false, bidirectional = true)"),
    ("lstm_one_step", (1, 3), "lstm(2, bidirectional = true)"),
    ("gru", (6, 3), "gru(4)"),
    (
        "gru_sequences_bidirectional",
        (5, 2),
        "gru(3, bidirectional = true, return_sequences = true)",
    ),
    ("gru_two_layers_no_bias", (5, 3), "gru(3, layers = 2, bias = false)"),
    ("gru_one_feature", (7, 1), "gru(2, layers = 2, bidirectional = true)"),
]
BATCH = 3


def _torch_module(op: Any, features: int) -> Any:
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[op.kind]
    extra = {"nonlinearity": op.nonlinearity} if op.kind == "rnn" else {}
    return cls(
        features,
        op.hidden,
        num_layers=op.layers,
        bias=op.bias,
        batch_first=True,
        bidirectional=op.bidirectional,
        **extra,
    ).double()


def _torch_output(module: Any, op: Any, x: Any) -> Any:
    output, state = module(x)
    if op.return_sequences:
        return output
    h_n = state[0] if isinstance(state, tuple) else state
    directions = 2 if op.bidirectional else 1
    # h_n is [layers * directions, N, H]: the last layer's directions, side by side.
    return h_n[-directions:].transpose(0, 1).reshape(x.shape[0], directions * op.hidden)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(("label", "shape", "layer"), CASES, ids=[case[0] for case in CASES])
def test_forward_and_gradients_match_the_torch_module(
    backend: str, label: str, shape: tuple[int, int], layer: str
) -> None:
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    model = netspec.load(f"model m(x: {list(shape)}) {{ {layer} }}").model()
    (node,) = model.nodes
    compiled = get_backend(backend).compile(model, dtype="float64", seed=0)
    weights = {p.name: rng.uniform(-0.8, 0.8, p.shape) for p in model.params}
    compiled.set_parameters(weights)
    twin = _torch_module(node.op, shape[1])
    twin.load_state_dict(
        {name.partition(".")[2]: torch.from_numpy(value) for name, value in weights.items()},
        strict=True,
    )
    x = rng.standard_normal((BATCH, *shape))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    y_torch = _torch_output(twin, node.op, xt)
    target = rng.standard_normal(tuple(y_torch.shape))
    loss_torch = torch.nn.functional.mse_loss(y_torch, torch.from_numpy(target))
    loss_torch.backward()

    y = compiled.forward(x)
    assert y.shape == (BATCH, *node.output.shape)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=1e-10, atol=1e-10)

    loss, grads = compiled.loss_and_grads(x, target, "mse", input_grad=True)
    assert loss == pytest.approx(loss_torch.item(), rel=1e-10, abs=1e-12)
    assert set(grads) == {*weights, "x"}
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=1e-9, atol=1e-9, err_msg="dx")
    torch_params = dict(twin.named_parameters())
    assert {name.partition(".")[2] for name in weights} == set(torch_params)
    for name in weights:
        want = torch_params[name.partition(".")[2]].grad.numpy()
        np.testing.assert_allclose(grads[name], want, rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="parity needs at least two backends installed")
@pytest.mark.parametrize("layer", ["lstm(6, layers = 2, bidirectional = true)", "gru(6)", "rnn(6)"])
def test_the_backends_agree_in_float32(layer: str) -> None:
    spec = f"model m(x: [12, 5]) {{ {layer} -> dense(3) }}"
    model = netspec.load(spec).model()
    report = run_parity(
        model, AVAILABLE, dtype="float32", batch=4, seed=3, train=False, tolerances=(1e-5, 1e-5)
    )
    assert report.ok, report.render()


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_the_numpy_backward_with_dropout_between_layers_matches_central_differences(
    mode: str,
) -> None:
    """In training the masks between layers scale the gradient as they scaled the
    values; a fresh generator of one seed draws the same masks at every call."""
    rng = np.random.default_rng(5)
    gates = {"lstm": 4, "gru": 3, "rnn_tanh": 1}[mode]
    hidden, features, steps = 3, 2, 4
    weights = {}
    for layer in range(2):
        for suffix in ("", "_reverse"):
            width = features if layer == 0 else 2 * hidden
            weights[f"weight_ih_l{layer}{suffix}"] = rng.uniform(-0.7, 0.7, (gates * hidden, width))
            weights[f"weight_hh_l{layer}{suffix}"] = rng.uniform(
                -0.7, 0.7, (gates * hidden, hidden)
            )
            weights[f"bias_ih_l{layer}{suffix}"] = rng.uniform(-0.7, 0.7, gates * hidden)
            weights[f"bias_hh_l{layer}{suffix}"] = rng.uniform(-0.7, 0.7, gates * hidden)
    x = rng.standard_normal((2, steps, features))
    settings = dict(mode=mode, layers=2, bidirectional=True, layer_dropout=0.4, train=True)

    def run(x: np.ndarray, weights: dict[str, np.ndarray]) -> tuple[np.ndarray, Any]:
        stream = np.random.Generator(np.random.PCG64(9))
        return recurrent(x, return_sequences=True, rng=stream, **settings, **weights)

    y, cache = run(x, weights)
    assert np.any(cache[4][0] == 0.0), "the mask drops something"
    dy = rng.standard_normal(y.shape)
    dx, *dparams = recurrent_backward(dy, cache, **weights)

    def numeric(value: np.ndarray, evaluate: Any) -> np.ndarray:
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            keep = value[index]
            value[index] = keep + 1e-6
            up = float(np.sum(evaluate()[0] * dy))
            value[index] = keep - 1e-6
            down = float(np.sum(evaluate()[0] * dy))
            value[index] = keep
            grad[index] = (up - down) / 2e-6
        return grad

    np.testing.assert_allclose(dx, numeric(x, lambda: run(x, weights)), atol=1e-7)
    for (name, value), grad in zip(weights.items(), dparams, strict=True):
        np.testing.assert_allclose(
            grad, numeric(value, lambda: run(x, weights)), atol=1e-7, err_msg=name
        )


def test_parameters_start_as_torch_draws_them() -> None:
    """uniform(-1/sqrt(hidden), 1/sqrt(hidden)) for every weight and bias by default, the
    layer's own schemes where it names them, and torch's names and shapes."""
    model = netspec.load(
        "model m(x: [7, 5]) { lstm(16, layers = 2, bidirectional = true, return_sequences = true)"
        " -> gru(9, init = orthogonal, bias_init = zeros) }"
    ).model()
    lstm = torch.nn.LSTM(5, 16, num_layers=2, bidirectional=True, batch_first=True)
    gru = torch.nn.GRU(32, 9, batch_first=True)
    specs = {spec.name: spec for spec in model.params}
    want = {f"lstm_1.{k}": tuple(v.shape) for k, v in lstm.state_dict().items()}
    want |= {f"gru_1.{k}": tuple(v.shape) for k, v in gru.state_dict().items()}
    assert [(name, spec.shape) for name, spec in specs.items()] == list(want.items())
    for name, spec in specs.items():
        if name.startswith("lstm_1."):
            assert (spec.init.scheme, spec.init.low, spec.init.high) == ("uniform", -0.25, 0.25)
        else:
            expected = "orthogonal" if ".weight" in name else "zeros"
            assert spec.init.scheme == expected, name


@pytest.mark.parametrize("layer", ["lstm(3, layers = 2", "gru(3, layers = 2", "rnn(3, layers = 2"])
def test_dropout_one_between_layers_leaves_the_next_layer_only_its_biases(layer: str) -> None:
    """With dropout 1 every value between the layers is dropped in training: each backend's
    output is then the second layer run on zeros, which torch computes exactly."""
    spec = f"model m(x: [4, 2]) {{ {layer}, dropout = 1, bidirectional = true) }}"
    model = netspec.load(spec).model()
    (node,) = model.nodes
    rng = np.random.default_rng(1)
    weights = {p.name: rng.uniform(-0.8, 0.8, p.shape) for p in model.params}
    twin = _torch_module(node.op.model_copy(update={"layers": 1}), 6)
    second = {
        name.partition(".")[2].replace("_l1", "_l0"): torch.from_numpy(value)
        for name, value in weights.items()
        if "_l1" in name
    }
    twin.load_state_dict(second, strict=True)
    x = rng.standard_normal((3, 4, 2))
    want = _torch_output(twin, node.op, torch.zeros(3, 4, 6, dtype=torch.float64)).detach()
    for backend in AVAILABLE:
        compiled = get_backend(backend).compile(model, dtype="float64", seed=0)
        compiled.set_parameters(weights)
        np.testing.assert_allclose(compiled.forward(x, train=True), want.numpy(), atol=1e-12)
        assert not np.allclose(compiled.forward(x), want.numpy()), backend


@pytest.mark.parametrize("backend", backend_params())
def test_dropout_between_layers_draws_from_the_models_stream(backend: str) -> None:
    """In training the masks come from the model's own stream: the same seed gives the
    same output, another seed another; evaluation draws nothing."""
    model = netspec.load("model m(x: [6, 3]) { lstm(8, layers = 3, dropout = 0.5) }").model()
    x = np.random.default_rng(2).standard_normal((4, 6, 3))

    def trained_output(seed: int) -> np.ndarray:
        compiled = get_backend(backend).compile(model, dtype="float64", seed=0)
        compiled.seed(seed)
        return compiled.forward(x, train=True)

    first, again, other = trained_output(1), trained_output(1), trained_output(2)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    compiled = get_backend(backend).compile(model, dtype="float64", seed=0)
    assert not np.allclose(compiled.forward(x), first)


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="parity needs at least two backends installed")
def test_parity_marks_what_depends_on_masks_between_recurrent_layers() -> None:
    """netspec parity in training: each backend draws its own masks between the layers,
    so the layer and everything after it differ by design, and are marked so."""
    model = netspec.load(
        "model m(x: [5, 3]) { layer_norm -> gru(4, layers = 2, dropout = 0.5) -> dense(2) }"
    ).model()
    report = run_parity(model, AVAILABLE, dtype="float64", batch=4, seed=1, train=True)
    assert report.ok, report.render()
    assert any(row.masked for row in report.rows)
    # Without a mode, parity compares evaluation, where nothing is drawn.
    assert run_parity(model, AVAILABLE, dtype="float64", batch=4, seed=1).ok
