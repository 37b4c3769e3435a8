"""permute, transpose, slice, adaptive_avgpool and upsample against PyTorch, in float64.

Each case is one layer as a spec writes it (negative axes, Python slice bounds past
either end, sizes that do not divide, scales 2 and 3, bilinear with and without
align_corners) and its twin in torch: the torch.nn module or the tensor operation
PyTorch defines, given the written arguments, so the checker's resolution is under test
too. The NumPy lowering's forward and hand-written backward and the JAX lowering under
``jax.vjp`` must give torch's values (1e-10) and input gradients (1e-9) for a cotangent
with no symmetry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.backends.numpy.nn import LOWERINGS as NUMPY_LOWERINGS
from netspec.backends.numpy.nn import arguments
from netspec.ir import CheckedNode

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install netspec[torch])")
nn = torch.nn

BATCH = 2


def _slice(axis: int, start: int, stop: int | None = None, step: int = 1) -> Callable[..., Any]:
    return lambda x: x[(slice(None),) * (axis % (x.dim() - 1) + 1) + (slice(start, stop, step),)]


def _upsample(scale: Any, mode: str = "nearest", align: bool | None = None) -> Any:
    factor = tuple(float(s) for s in scale) if isinstance(scale, tuple) else float(scale)
    return nn.Upsample(scale_factor=factor, mode=mode, align_corners=align)


def _per_sample(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return (0, *(a % rank + 1 for a in axes))


# (per-sample input shape, the layer as written, its torch twin)
CASES: list[tuple[tuple[int, ...], str, Callable[..., Any]]] = [
    ((3, 4), "permute(1, 0)", lambda x: x.permute(0, 2, 1)),
    ((2, 3, 4), "permute(2, 0, 1)", lambda x: x.permute(*_per_sample((2, 0, 1), 3))),
    ((2, 3, 4), "permute(-1, -3, 1)", lambda x: x.permute(*_per_sample((-1, -3, 1), 3))),
    ((2, 3, 4, 5), "permute(3, 1, 0, 2)", lambda x: x.permute(0, 4, 2, 1, 3)),
    ((3, 4), "transpose(0, 1)", lambda x: torch.transpose(x, 1, 2)),
    ((2, 3, 4), "transpose(-1, 0)", lambda x: torch.transpose(x, 3, 1)),
    ((2, 3, 4), "transpose(1, 1)", lambda x: torch.transpose(x, 2, 2)),
    ((2, 3, 4, 5), "transpose(1, 3)", lambda x: torch.transpose(x, 2, 4)),
    ((5, 6), "slice(0, 0, 1)", _slice(0, 0, 1)),
    ((5, 6), "slice(0, -1)", _slice(0, -1)),
    ((5, 6), "slice(1, 1, none, 2)", _slice(1, 1, None, 2)),
    ((5, 6), "slice(-1, -4, -1)", _slice(-1, -4, -1)),
    ((5, 6), "slice(0, -100, 100)", _slice(0, -100, 100)),
    ((5, 6), "slice(1, 2, 100, step = 3)", _slice(1, 2, 100, 3)),
    ((2, 7, 3), "slice(1, 1, 6, 4)", _slice(1, 1, 6, 4)),
    ((2, 5, 7), "adaptive_avgpool([3, 4])", nn.AdaptiveAvgPool2d((3, 4))),
    ((2, 6, 6), "adaptive_avgpool(3)", nn.AdaptiveAvgPool2d(3)),
    ((2, 10, 9), "adaptive_avgpool([4, 7])", nn.AdaptiveAvgPool2d((4, 7))),
    ((2, 5, 7), "adaptive_avgpool([5, 7])", nn.AdaptiveAvgPool2d((5, 7))),
    ((2, 4, 3), "adaptive_avgpool([6, 5])", nn.AdaptiveAvgPool2d((6, 5))),
    ((1, 7, 7), "adaptive_avgpool(1)", nn.AdaptiveAvgPool2d(1)),
    ((2, 4, 5), "upsample(2)", _upsample(2)),
    ((2, 4, 5), "upsample(3)", _upsample(3)),
    ((2, 3, 4), "upsample([2, 3])", _upsample((2, 3))),
    ((2, 4, 5), "upsample(1)", _upsample(1)),
    ((2, 4, 5), "upsample(2, mode = bilinear)", _upsample(2, "bilinear", False)),
    ((2, 4, 5), "upsample(3, mode = bilinear)", _upsample(3, "bilinear", False)),
    ((2, 3, 4), "upsample([3, 2], mode = bilinear)", _upsample((3, 2), "bilinear", False)),
    (
        (2, 4, 5),
        "upsample(2, mode = bilinear, align_corners = true)",
        _upsample(2, "bilinear", True),
    ),
    (
        (2, 4, 5),
        "upsample(3, mode = bilinear, align_corners = true)",
        _upsample(3, "bilinear", True),
    ),
    (
        (2, 1, 4),
        "upsample([2, 3], mode = bilinear, align_corners = true)",
        _upsample((2, 3), "bilinear", True),
    ),
    ((2, 1, 1), "upsample(3, mode = bilinear)", _upsample(3, "bilinear", False)),
]
IDS = [f"{list(shape)}-{layer}" for shape, layer, _ in CASES]


def node_of(shape: tuple[int, ...], layer: str) -> CheckedNode:
    """The one checked node of a model made of ``layer`` on a per-sample ``shape``."""
    model = netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{ {layer} }}").model()
    (node,) = model.nodes
    return node


def oracle(shape: tuple[int, ...], twin: Callable[..., Any]) -> tuple[np.ndarray, ...]:
    """The input, a cotangent, and torch's output and input gradient."""
    rng = np.random.default_rng(sum(shape) * 7 + len(shape))
    x = rng.normal(size=(BATCH, *shape))
    xt = torch.tensor(x, requires_grad=True)
    yt = twin(xt)
    cotangent = rng.normal(size=tuple(yt.shape))
    (grad,) = torch.autograd.grad(yt, xt, torch.tensor(cotangent))
    return x, cotangent, yt.detach().numpy(), grad.numpy()


def errors(y: np.ndarray, grad: np.ndarray, want_y: np.ndarray, want_grad: np.ndarray) -> tuple:
    """The largest absolute differences of the values and of the gradients."""
    assert y.shape == want_y.shape and grad.shape == want_grad.shape
    assert y.dtype == grad.dtype == np.float64
    return float(np.max(np.abs(y - want_y))), float(np.max(np.abs(grad - want_grad)))


def numpy_errors(shape: tuple[int, ...], layer: str, twin: Callable[..., Any]) -> tuple:
    x, cotangent, want_y, want_grad = oracle(shape, twin)
    node = node_of(shape, layer)
    lowering = NUMPY_LOWERINGS[node.op.kind]
    static = lowering.static(node)
    y, cache = lowering.fn(x, **static)
    grad = lowering.backward(cotangent, cache, **arguments(lowering.backward, static))  # type: ignore[misc]
    assert y.shape == (BATCH, *node.output.shape)
    return errors(np.asarray(y), np.asarray(grad), want_y, want_grad)


def jax_errors(shape: tuple[int, ...], layer: str, twin: Callable[..., Any]) -> tuple:
    jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
    from netspec.backends.jax import precision_scope
    from netspec.backends.jax.nn import LOWERINGS as JAX_LOWERINGS

    x, cotangent, want_y, want_grad = oracle(shape, twin)
    node = node_of(shape, layer)
    lowering = JAX_LOWERINGS[node.op.kind]
    static = lowering.static(node)
    with precision_scope("float64"):
        y, pullback = jax.vjp(lambda v: lowering.fn(v, **static), jax.numpy.asarray(x))
        (grad,) = pullback(jax.numpy.asarray(cotangent))
        return errors(np.asarray(y), np.asarray(grad), want_y, want_grad)


@pytest.mark.parametrize(("shape", "layer", "twin"), CASES, ids=IDS)
def test_numpy_forward_and_backward_match_torch(
    shape: tuple[int, ...], layer: str, twin: Callable[..., Any]
) -> None:
    value_error, grad_error = numpy_errors(shape, layer, twin)
    assert value_error <= 1e-10 and grad_error <= 1e-9, (value_error, grad_error)


@pytest.mark.parametrize(("shape", "layer", "twin"), CASES, ids=IDS)
def test_jax_forward_and_gradient_match_torch(
    shape: tuple[int, ...], layer: str, twin: Callable[..., Any]
) -> None:
    value_error, grad_error = jax_errors(shape, layer, twin)
    assert value_error <= 1e-10 and grad_error <= 1e-9, (value_error, grad_error)


@pytest.mark.parametrize(("shape", "layer", "twin"), CASES, ids=IDS)
def test_torch_backend_matches_torch(
    shape: tuple[int, ...], layer: str, twin: Callable[..., Any]
) -> None:
    """The torch backend's compiled model, as a whole: output, and the input gradient of
    an mse loss against a target, as torch.nn.functional.mse_loss gives them."""
    x, target, want_y, _ = oracle(shape, twin)
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.mse_loss(twin(xt), torch.tensor(target))
    (want_grad,) = torch.autograd.grad(loss, xt)
    model = netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{ {layer} }}").model()
    compiled = get_backend("torch").compile(model, dtype="float64")
    _, grads = compiled.loss_and_grads(x, target, "mse", input_grad=True)
    value_error, grad_error = errors(compiled.forward(x), grads["x"], want_y, want_grad.numpy())
    assert value_error <= 1e-10 and grad_error <= 1e-9, (value_error, grad_error)
