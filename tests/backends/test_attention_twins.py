"""Attention, the positional embedding, dense on sequences and std.transformer's encoder
layer against their torch twins, in float64.

Each case is a netspec model and the torch module it claims to be. The netspec weights
(random, away from the initial values) load into the torch module by name, strictly
(``out_proj.weight`` and all); then every backend's forward and its gradients of an MSE
loss with respect to the input and every parameter are compared with torch's autograd.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from tests.backends.conftest import backend_params

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install netspec[torch])")
nn = torch.nn
BATCH = 3


def _future(steps: int) -> Any:
    """torch's boolean mask of the later steps (True: not attended to)."""
    return torch.ones(steps, steps, dtype=torch.bool).triu(1)


class SelfAttention(nn.MultiheadAttention):  # type: ignore[misc]
    """torch.nn.MultiheadAttention(batch_first=True) called on (x, x, x)."""

    def __init__(self, width: int, heads: int, causal: bool = False, bias: bool = True) -> None:
        super().__init__(width, heads, bias=bias, batch_first=True)
        self.causal = causal

    def forward(self, x: Any) -> Any:  # type: ignore[override]
        mask = _future(x.shape[1]) if self.causal else None
        return super().forward(x, x, x, attn_mask=mask, need_weights=False)[0]


class LearnedPositions(nn.Module):  # type: ignore[misc]
    """x plus a learned table of its per-sample shape."""

    def __init__(self, steps: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(steps, width))

    def forward(self, x: Any) -> Any:
        return x + self.weight


class Encoder(nn.TransformerEncoderLayer):  # type: ignore[misc]
    """The pre-norm encoder layer without dropout, optionally causal."""

    def __init__(self, width: int, heads: int, ff: int, activation: str, causal: bool) -> None:
        super().__init__(
            width, heads, ff, dropout=0.0, activation=activation, batch_first=True, norm_first=True
        )
        self.causal = causal

    def forward(self, x: Any) -> Any:  # type: ignore[override]
        if not self.causal:
            return super().forward(x)
        return super().forward(x, src_mask=_future(x.shape[1]), is_causal=True)


# std.transformer's node names inside an encoder_layer instance, and torch's.
ENCODER_NAMES = {
    "layer_norm_1": "norm1",
    "multi_head_attention_1": "self_attn",
    "dense_1": "linear1",
    "dense_2": "linear2",
    "layer_norm_2": "norm2",
}


def _torch_name(name: str) -> str:
    """A netspec parameter name as the one-layer twin names it."""
    scope, _, rest = name.partition(".")
    if scope.startswith("encoder_layer"):
        node, _, tensor = rest.partition(".")
        return f"{ENCODER_NAMES[node]}.{tensor}"
    return rest


# (id, per-sample input shape, the model body as a spec writes it, its torch twin)
CASES: list[tuple[str, tuple[int, ...], str, Callable[[], Any]]] = [
    ("mha_two_heads", (5, 8), "multi_head_attention(2)", lambda: SelfAttention(8, 2)),
    (
        "mha_two_heads_causal",
        (5, 8),
        "multi_head_attention(2, causal = true)",
        lambda: SelfAttention(8, 2, causal=True),
    ),
    ("mha_one_head", (4, 6), "multi_head_attention(1)", lambda: SelfAttention(6, 1)),
    ("mha_one_step", (1, 4), "multi_head_attention(2)", lambda: SelfAttention(4, 2)),
    (
        "mha_one_step_causal",
        (1, 4),
        "multi_head_attention(4, causal = true)",
        lambda: SelfAttention(4, 4, causal=True),
    ),
    (
        "mha_no_bias",
        (7, 12),
        "multi_head_attention(3, bias = false)",
        lambda: SelfAttention(12, 3, bias=False),
    ),
    (
        "mha_head_per_feature_causal_no_bias",
        (6, 6),
        "multi_head_attention(6, causal = true, bias = false)",
        lambda: SelfAttention(6, 6, causal=True, bias=False),
    ),
    # Dropout is off in evaluation; the twin runs in evaluation mode too.
    (
        "mha_dropout_evaluation",
        (5, 8),
        "multi_head_attention(4, dropout = 0.5)",
        lambda: SelfAttention(8, 4),
    ),
    ("positional_embedding", (5, 7), "positional_embedding", lambda: LearnedPositions(5, 7)),
    ("dense_sequence", (5, 7), "dense(4)", lambda: nn.Linear(7, 4)),
    ("dense_sequence_no_bias", (3, 2), "dense(5, bias = false)", lambda: nn.Linear(2, 5, False)),
    (
        "encoder_layer_relu",
        (5, 8),
        "encoder_layer(8, 2, 12, dropout = 0)",
        lambda: Encoder(8, 2, 12, "relu", causal=False),
    ),
    (
        "encoder_layer_gelu_causal",
        (6, 12),
        "encoder_layer(12, 3, 16, dropout = 0, activation = gelu, causal = true)",
        lambda: Encoder(12, 3, 16, "gelu", causal=True),
    ),
    (
        "encoder_layer_one_head",
        (4, 4),
        "encoder_layer(4, 1, 8, dropout = 0, activation = gelu)",
        lambda: Encoder(4, 1, 8, "gelu", causal=False),
    ),
]


def _model(shape: tuple[int, ...], body: str) -> Any:
    return netspec.load(
        f"netspec 1\nimport std.transformer\nmodel m(x: {list(shape)}) {{ {body} }}\n"
    ).model()


def _twin(
    backend: str, shape: tuple[int, ...], body: str, make: Callable[[], Any], label: str
) -> tuple[Any, Any, dict[str, np.ndarray], np.random.Generator]:
    """The compiled netspec model, its torch twin holding the same random weights
    (loaded by name, strictly), those weights, and the case's generator."""
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    model = _model(shape, body)
    compiled = get_backend(backend).compile(model, dtype="float64", seed=0)
    weights = {p.name: rng.uniform(-1.0, 1.0, p.shape) for p in model.params}
    compiled.set_parameters(weights)
    twin = make().double().eval()
    twin.load_state_dict(
        {_torch_name(name): torch.from_numpy(value) for name, value in weights.items()},
        strict=True,
    )
    return compiled, twin, weights, rng


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(("label", "shape", "body", "make"), CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_the_torch_module(
    backend: str, label: str, shape: tuple[int, ...], body: str, make: Callable[[], Any]
) -> None:
    compiled, twin, weights, rng = _twin(backend, shape, body, make, label)
    x = rng.standard_normal((BATCH, *shape))
    out_shape = twin(torch.from_numpy(x)).shape
    target = rng.standard_normal(tuple(out_shape))

    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    y_torch = twin(xt)
    loss_torch = torch.nn.functional.mse_loss(y_torch, torch.from_numpy(target))
    loss_torch.backward()

    y = compiled.forward(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=1e-10, atol=1e-10)

    # Attention dropout draws masks in training: that case compares evaluation passes.
    train = "dropout = 0.5" not in body
    loss, grads = compiled.loss_and_grads(x, target, "mse", train=train, input_grad=True)
    assert loss == pytest.approx(loss_torch.item(), rel=1e-10, abs=1e-12)
    assert set(grads) == {*weights, "x"}
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=1e-9, atol=1e-9, err_msg="dx")
    torch_params = dict(twin.named_parameters())
    for name in weights:
        want = torch_params[_torch_name(name)].grad.numpy()
        np.testing.assert_allclose(grads[name], want, rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(
    ("label", "shape", "body", "make"), [CASES[1], CASES[12]], ids=[CASES[1][0], CASES[12][0]]
)
def test_float32_stays_float32_and_near_torch(
    backend: str, label: str, shape: tuple[int, ...], body: str, make: Callable[[], Any]
) -> None:
    compiled, twin, weights, rng = _twin(backend, shape, body, make, label)
    compiled = get_backend(backend).compile(_model(shape, body), dtype="float32", seed=0)
    compiled.set_parameters({k: v.astype(np.float32) for k, v in weights.items()})
    x = rng.standard_normal((BATCH, *shape))
    y = compiled.forward(x.astype(np.float32))
    assert y.dtype == np.float32
    want = twin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("width", "heads"), [(8, 2), (12, 3), (6, 1)])
def test_attention_starts_as_torch_draws_it(width: int, heads: int) -> None:
    """xavier_uniform in_proj_weight, zero biases, out_proj.weight within 1 / sqrt(D):
    the ranges torch.nn.MultiheadAttention draws from, under its names and shapes."""
    model = _model((4, width), f"multi_head_attention({heads})")
    values = get_backend("numpy").compile(model, dtype="float64", seed=3).parameters()
    twin = nn.MultiheadAttention(width, heads, batch_first=True)
    assert {k: tuple(v.shape) for k, v in values.items()} == {
        f"multi_head_attention_1.{k}": tuple(v.shape) for k, v in twin.state_dict().items()
    }
    in_bound = math.sqrt(6.0 / (4 * width))
    in_proj = values["multi_head_attention_1.in_proj_weight"]
    assert np.abs(in_proj).max() <= in_bound
    assert np.abs(in_proj).max() > 0.8 * in_bound  # spread over the range, not near zero
    out_proj = values["multi_head_attention_1.out_proj.weight"]
    assert np.abs(out_proj).max() <= 1.0 / math.sqrt(width)
    assert np.abs(out_proj).max() > 0.5 / math.sqrt(width)
    assert not values["multi_head_attention_1.in_proj_bias"].any()
    assert not values["multi_head_attention_1.out_proj.bias"].any()
    # torch's own draw has the same ranges: the bounds above are its bounds.
    assert twin.in_proj_weight.abs().max().item() <= in_bound
    assert twin.out_proj.weight.abs().max().item() <= 1.0 / math.sqrt(width)


def test_positional_embedding_starts_normal_with_std_002() -> None:
    model = _model((64, 32), "positional_embedding")
    table = get_backend("numpy").compile(model, dtype="float64", seed=0).parameters()
    values = table["positional_embedding_1.weight"]
    assert values.shape == (64, 32)
    assert abs(values.std() - 0.02) < 0.002 and abs(values.mean()) < 0.002


@pytest.mark.parametrize("backend", backend_params())
def test_attention_dropout_drops_weights_in_training_only(backend: str) -> None:
    """With dropout, a training pass differs from evaluation, which equals the layer
    without dropout; the same seed draws the same masks again."""
    shape = (6, 8)
    plain = get_backend(backend).compile(
        _model(shape, "multi_head_attention(2)"), dtype="float64", seed=1
    )
    dropped = get_backend(backend).compile(
        _model(shape, "multi_head_attention(2, dropout = 0.4)"), dtype="float64", seed=1
    )
    x = np.random.default_rng(0).standard_normal((BATCH, *shape))
    np.testing.assert_allclose(dropped.forward(x), plain.forward(x), rtol=1e-12, atol=1e-12)
    dropped.seed(5)
    first = dropped.forward(x, train=True)
    dropped.seed(5)
    again = dropped.forward(x, train=True)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - plain.forward(x)).max() > 1e-3
