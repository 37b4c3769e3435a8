"""layer_norm and group_norm against their torch.nn twins, in float64.

Each case is a one-layer netspec model and the torch.nn.LayerNorm or torch.nn.GroupNorm
it claims to be. The netspec weights (random, away from ones and zeros) load into the
torch module by name with ``strict=True``; then every backend's forward (in training and
in evaluation, which must agree: there are no running statistics) and its gradients of an
MSE loss with respect to the input, the scale and the shift are compared with torch's
autograd. The batch holds a constant sample (variance 0, so eps matters) and a sample far
from zero (a one-pass variance would lose digits there).
"""

from __future__ import annotations

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

# (id, per-sample input shape, the layer as a spec writes it, its torch twin)
CASES: list[tuple[str, tuple[int, ...], str, Callable[[], Any]]] = [
    ("layer_norm_vector", (6,), "layer_norm", lambda: nn.LayerNorm(6)),
    ("layer_norm_sequence", (5, 7), "layer_norm", lambda: nn.LayerNorm(7)),
    ("layer_norm_sequence_both_axes", (5, 7), "layer_norm(axes = 2)", lambda: nn.LayerNorm([5, 7])),
    ("layer_norm_image_width", (3, 4, 5), "layer_norm(eps = 0.1)", lambda: nn.LayerNorm(5, 0.1)),
    ("layer_norm_image_whole", (3, 4, 5), "layer_norm(axes = 3)", lambda: nn.LayerNorm([3, 4, 5])),
    (
        "layer_norm_no_affine",
        (3, 4, 5),
        "layer_norm(axes = 2, affine = false)",
        lambda: nn.LayerNorm([4, 5], elementwise_affine=False),
    ),
    ("layer_norm_one_feature", (1,), "layer_norm", lambda: nn.LayerNorm(1)),
    ("group_norm_one_group", (6, 4, 5), "group_norm(1)", lambda: nn.GroupNorm(1, 6)),
    ("group_norm_per_channel", (6, 4, 5), "group_norm(6)", lambda: nn.GroupNorm(6, 6)),
    (
        "group_norm_between",
        (6, 4, 5),
        "group_norm(3, eps = 1e-3)",
        lambda: nn.GroupNorm(3, 6, eps=1e-3),
    ),
    ("group_norm_vector", (6,), "group_norm(2)", lambda: nn.GroupNorm(2, 6)),
    ("group_norm_vector_per_channel", (6,), "group_norm(6)", lambda: nn.GroupNorm(6, 6)),
    ("group_norm_sequence", (6, 7), "group_norm(3)", lambda: nn.GroupNorm(3, 6)),
    (
        "group_norm_no_affine",
        (6, 4, 5),
        "group_norm(2, affine = false)",
        lambda: nn.GroupNorm(2, 6, affine=False),
    ),
]
BATCH = 4


def _batch(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((BATCH, *shape)) * 3.0 + 0.5
    x[1] = 0.7  # a constant sample: every group has variance 0
    x[2] = x[2] * 1e-2 + 1e3  # far from zero, with a small spread
    return x


def _twin(
    backend: str, shape: tuple[int, ...], layer: str, make: Callable[[], Any], label: str
) -> tuple[Any, Any, dict[str, np.ndarray], np.random.Generator]:
    """The compiled netspec model, its torch twin holding the same random weights
    (loaded by name, strictly), those weights, and the case's generator."""
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    model = netspec.load(f"model m(x: {list(shape)}) {{ {layer} }}").model()
    compiled = get_backend(backend).compile(model, dtype="float64", seed=0)
    weights = {p.name: rng.uniform(-1.5, 1.5, p.shape) for p in model.params}
    compiled.set_parameters(weights)
    twin = make().double()
    twin.load_state_dict(
        {name.partition(".")[2]: torch.from_numpy(value) for name, value in weights.items()},
        strict=True,
    )
    return compiled, twin, weights, rng


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(
    ("label", "shape", "layer", "make"), CASES, ids=[case[0] for case in CASES]
)
def test_forward_and_gradients_match_the_torch_module(
    backend: str, label: str, shape: tuple[int, ...], layer: str, make: Callable[[], Any]
) -> None:
    compiled, twin, weights, rng = _twin(backend, shape, layer, make, label)
    x = _batch(shape, rng)
    target = rng.standard_normal(x.shape)

    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    y_torch = twin(xt)
    loss_torch = torch.nn.functional.mse_loss(y_torch, torch.from_numpy(target))
    loss_torch.backward()

    want = y_torch.detach().numpy()
    for train in (False, True):
        y = compiled.forward(x, train=train)
        assert y.dtype == np.float64
        np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10, err_msg=f"train={train}")

    loss, grads = compiled.loss_and_grads(x, target, "mse", input_grad=True)
    assert loss == pytest.approx(loss_torch.item(), rel=1e-10, abs=1e-12)
    assert set(grads) == {*weights, "x"}
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=1e-9, atol=1e-9, err_msg="dx")
    torch_params = dict(twin.named_parameters())
    for name in weights:
        want_grad = torch_params[name.partition(".")[2]].grad.numpy()
        np.testing.assert_allclose(grads[name], want_grad, rtol=1e-9, atol=1e-9, err_msg=name)

    # Without the input's gradient (a first layer's backward may skip it), the same.
    _, without = compiled.loss_and_grads(x, target, "mse")
    assert set(without) == set(weights)
    for name in weights:
        np.testing.assert_allclose(without[name], grads[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(
    ("label", "shape", "layer", "make"),
    [CASES[1], CASES[9]],
    ids=[CASES[1][0], CASES[9][0]],
)
def test_float32_stays_float32_and_near_torch(
    backend: str, label: str, shape: tuple[int, ...], layer: str, make: Callable[[], Any]
) -> None:
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    model = netspec.load(f"model m(x: {list(shape)}) {{ {layer} }}").model()
    compiled = get_backend(backend).compile(model, dtype="float32", seed=0)
    x = rng.standard_normal((BATCH, *shape)).astype(np.float32)
    y = compiled.forward(x)
    assert y.dtype == np.float32
    want = make()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
