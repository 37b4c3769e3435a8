"""conv1d, maxpool1d, avgpool1d and global_avgpool on sequences against their torch.nn twins.

Each case is a one-layer spec on a [channels, length] sample and the torch.nn module that
means the same (``Conv1d``, ``MaxPool1d``, ``AvgPool1d`` with its default
``count_include_pad=True``, ``AdaptiveAvgPool1d(1)`` and ``Flatten``), given netspec's
weights by name through ``load_state_dict``. Where torch's module cannot say the padding
(asymmetric sides, "same" with a stride, a pool pad over half the kernel), the twin pads
first with ``F.pad`` (zeros, or -inf before a max) and the module pads nothing; the
sides are written in the case, worked out by hand from TensorFlow's rule.

In float64, each backend's lowering (NumPy forward and hand-written backward, JAX under
``jax.vjp``, the torch backend's function under autograd) with the static arguments of
the checked node gives the twin's output to 1e-10 and the gradients of the input and of
every parameter to 1e-9 (relative to max(|value|, 1)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backends.numpy import nn as numpy_nn
from netspec.initializers import initial_params
from netspec.ir import CheckedModel

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install netspec[torch])")
F = torch.nn.functional
nn = torch.nn

BATCH = 3
# torch's own padding="same" twin with an even kernel warns that it copies the input.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


@dataclass(frozen=True)
class Twin:
    """A spec's layer, its input shape, the torch.nn module and the pads it needs first."""

    layer: str
    shape: tuple[int, int]
    module: Callable[[], Any]
    pads: tuple[int, int] = (0, 0)
    fill: float = 0.0
    ties: bool = False  # integer inputs, so that windows hold equal maxima

    @property
    def id(self) -> str:
        return self.layer


CONV = [
    Twin("conv1d(4, 3)", (2, 9), lambda: nn.Conv1d(2, 4, 3)),
    Twin(
        "conv1d(6, 5, stride = 2, padding = 2, dilation = 2, groups = 3)",
        (3, 17),
        lambda: nn.Conv1d(3, 6, 5, stride=2, padding=2, dilation=2, groups=3),
    ),
    # An even kernel: "same" puts the odd cell after, as torch's padding="same" does.
    Twin("conv1d(4, 4, padding = same)", (2, 10), lambda: nn.Conv1d(2, 4, 4, padding="same")),
    Twin(
        "conv1d(5, 3, padding = same, dilation = 3, groups = 5)",
        (5, 8),
        lambda: nn.Conv1d(5, 5, 3, padding="same", dilation=3, groups=5),
    ),
    # "same" with a stride, which torch refuses: out = ceil(11 / 3) = 4, span 5, total 3.
    Twin(
        "conv1d(4, 3, stride = 3, padding = same, dilation = 2, bias = false)",
        (4, 11),
        lambda: nn.Conv1d(4, 4, 3, stride=3, dilation=2, bias=False),
        pads=(1, 2),
    ),
    # A 1-wide kernel (NumPy's matmul path without columns), grouped.
    Twin("conv1d(8, 1, groups = 4)", (4, 6), lambda: nn.Conv1d(4, 8, 1, groups=4)),
    # A causal convolution: all padding before; the kernel spans the whole padded input.
    Twin("conv1d(2, 7, padding = [6, 0])", (1, 7), lambda: nn.Conv1d(1, 2, 7), pads=(6, 0)),
    # One output: the kernel exactly as long as the input.
    Twin("conv1d(3, 5, stride = 4)", (2, 5), lambda: nn.Conv1d(2, 3, 5, stride=4)),
]

POOL = [
    Twin("maxpool1d(2)", (3, 9), lambda: nn.MaxPool1d(2)),
    Twin("maxpool1d(3, stride = 2, padding = 1)", (2, 10), lambda: nn.MaxPool1d(3, 2, 1)),
    Twin("maxpool1d(3, stride = 1)", (2, 12), lambda: nn.MaxPool1d(3, 1), ties=True),
    Twin(
        "maxpool1d(3, stride = 1, padding = [2, 0])",
        (2, 6),
        lambda: nn.MaxPool1d(3, 1),
        pads=(2, 0),
        fill=-math.inf,
    ),
    # out = ceil(10 / 3) = 4, total = 3 * 3 + 4 - 10 = 3: one before, two after.
    Twin(
        "maxpool1d(4, stride = 3, padding = same)",
        (2, 10),
        lambda: nn.MaxPool1d(4, 3),
        pads=(1, 2),
        fill=-math.inf,
        ties=True,
    ),
    Twin("avgpool1d(2)", (3, 9), lambda: nn.AvgPool1d(2)),
    Twin("avgpool1d(3, stride = 2, padding = 1)", (2, 10), lambda: nn.AvgPool1d(3, 2, 1)),
    Twin("avgpool1d(4, stride = 3, padding = same)", (2, 10), lambda: nn.AvgPool1d(4, 3), (1, 2)),
    Twin("avgpool1d(3, stride = 1, padding = [0, 2])", (1, 4), lambda: nn.AvgPool1d(3, 1), (0, 2)),
    Twin(
        "global_avgpool",
        (4, 7),
        lambda: nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten()),
    ),
]

TWINS = [pytest.param(twin, id=twin.id) for twin in CONV + POOL]


def _model(twin: Twin) -> CheckedModel:
    channels, length = twin.shape
    return netspec.load(f"model m(x: [{channels}, {length}]) {{ {twin.layer} }}").model()


def _inputs(twin: Twin, model: CheckedModel) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A batch, and the layer's parameters by attribute (``weight``, ``bias``), float64."""
    rng = np.random.default_rng(sum(map(ord, twin.layer)))
    shape = (BATCH, *twin.shape)
    x = rng.integers(-2, 3, size=shape).astype(np.float64) if twin.ties else rng.normal(size=shape)
    weights = initial_params(model, 5, "float64")
    # Non-zero biases, so that a bias in the wrong place shows.
    params = {
        spec.attr: weights[spec.name] + (rng.normal(size=spec.shape) if spec.attr == "bias" else 0)
        for spec in model.params
    }
    return x, params


def _oracle(
    twin: Twin, x: np.ndarray, params: dict[str, np.ndarray], g: np.ndarray | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The torch.nn twin's output and, for the cotangent ``g``, the gradients of the input
    (``x``) and of each parameter by name."""
    module = twin.module().double()
    # netspec's parameter names and layouts load by name into the torch module.
    module.load_state_dict({name: torch.tensor(v) for name, v in params.items()})
    xt = torch.tensor(x, requires_grad=True)
    y = module(F.pad(xt, twin.pads, value=twin.fill) if any(twin.pads) else xt)
    if g is None:
        return y.detach().numpy(), {}
    y.backward(torch.tensor(g))
    grads = {"x": xt.grad.numpy()}
    grads |= {name: p.grad.numpy() for name, p in module.named_parameters()}
    return y.detach().numpy(), grads


def _numpy(
    kind: str, static: dict[str, Any], x: np.ndarray, params: dict[str, np.ndarray], g: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    lowering = numpy_nn.LOWERINGS[kind]
    available = {**params, **static, "need_dx": True, "workspace": {}}
    y, cache = lowering.fn(x, **numpy_nn.arguments(lowering.fn, available))
    y = np.array(y)  # the cache may share the workspace's buffers; y must outlive them
    assert lowering.backward is not None
    back = lowering.backward(g, cache, **numpy_nn.arguments(lowering.backward, available))
    back = back if isinstance(back, tuple) else (back,)
    names = ["x", *(name for name in ("weight", "bias") if name in params)]
    return y, dict(zip(names, back, strict=True))


def _jax(
    kind: str, static: dict[str, Any], x: np.ndarray, params: dict[str, np.ndarray], g: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
    from netspec.backends.jax import precision_scope
    from netspec.backends.jax.nn import LOWERINGS

    fn = LOWERINGS[kind].fn
    with precision_scope("float64"):
        y, pullback = jax.vjp(lambda x, p: fn(x, **p, **static), x, params)
        dx, dparams = pullback(jax.numpy.asarray(g))
        return np.asarray(y), {"x": np.asarray(dx)} | {k: np.asarray(v) for k, v in dparams.items()}


def _torch(
    kind: str, static: dict[str, Any], x: np.ndarray, params: dict[str, np.ndarray], g: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from netspec.backends.torch.nn import LOWERINGS

    tensors = {"x": torch.tensor(x, requires_grad=True)}
    tensors |= {name: torch.tensor(v, requires_grad=True) for name, v in params.items()}
    inputs = {name: t for name, t in tensors.items() if name != "x"}
    y = LOWERINGS[kind].fn(tensors["x"], **inputs, **static)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), {name: t.grad.numpy() for name, t in tensors.items()}


BACKENDS = {"numpy": _numpy, "jax": _jax, "torch": _torch}


def _close(got: np.ndarray, want: np.ndarray, tolerance: float, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch.nn gives {want.shape}"
    error = float(np.max(np.abs(got - want), initial=0.0))
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
    assert error <= tolerance * scale, f"{what}: max |diff| {error:.3e} against torch.nn"


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("twin", TWINS)
def test_forward_and_gradients_equal_the_torch_nn_module(twin: Twin, backend: str) -> None:
    model = _model(twin)
    (node,) = model.nodes
    x, params = _inputs(twin, model)
    want, _ = _oracle(twin, x, params, None)
    g = np.random.default_rng(1).normal(size=want.shape)
    want, want_grads = _oracle(twin, x, params, g)
    run = BACKENDS[backend]
    static = _static(backend, node)
    y, grads = run(node.op.kind, static, x, params, g)
    assert node.output.shape == want.shape[1:]
    _close(y, want, 1e-10, f"{backend} {twin.layer} output")
    assert set(grads) == set(want_grads)
    for name, grad in grads.items():
        _close(grad, want_grads[name], 1e-9, f"{backend} {twin.layer} d{name}")


def _static(backend: str, node: Any) -> dict[str, Any]:
    if backend == "numpy":
        return numpy_nn.LOWERINGS[node.op.kind].static(node)
    if backend == "jax":
        from netspec.backends.jax.lowerings import CALLS
    else:
        from netspec.backends.torch.lowerings import CALLS
    _, static = CALLS[node.op.kind]
    return static(node)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_compiled_model_loads_into_torch_conv1d_by_name(backend: str) -> None:
    """The whole path: a conv1d model compiled by each backend, its weights (by name, as
    a weight file holds them) loaded into a torch.nn.Conv1d, give one output."""
    if backend != "numpy":
        pytest.importorskip(
            backend, reason=f"{backend} is not installed (pip install netspec[{backend}])"
        )
    model = netspec.load(
        "model m(x: [4, 20]) { h = x -> conv1d(6, 5, stride = 2, padding = same, dilation = 2,"
        " groups = 2) }"
    ).model()
    compiled = netspec.backend.get_backend(backend).compile(model, dtype="float64", seed=3)
    weights = compiled.parameters()
    assert set(weights) == {"h.weight", "h.bias"}
    twin = nn.Conv1d(4, 6, 5, stride=2, dilation=2, groups=2).double()
    twin.load_state_dict({name.removeprefix("h."): torch.tensor(v) for name, v in weights.items()})
    x = np.random.default_rng(2).normal(size=(BATCH, 4, 20))
    # out = ceil(20 / 2) = 10, span 9, total = 9 * 2 + 9 - 20 = 7: three before, four after.
    want = twin(F.pad(torch.tensor(x), (3, 4))).detach().numpy()
    _close(compiled.forward(x), want, 1e-10, f"{backend} compiled conv1d")


def test_unit_height_numpy_conv1d_equals_a_direct_sum() -> None:
    """The NumPy conv1d runs conv2d over a unit height; the unit axis adds no term, so it
    equals the defining sum y[n, f, o] = b[f] + sum_{c, i} W[f, c, i] xp[n, c0 + c, o s + i d]
    to rounding, and torch.nn.Conv1d with it."""
    rng = np.random.default_rng(4)
    x, w, b = rng.normal(size=(2, 6, 23)), rng.normal(size=(4, 3, 3)), rng.normal(size=4)
    stride, dilation, groups, pads = 2, 3, 2, (2, 1)
    y, _ = numpy_nn.LOWERINGS["conv1d"].fn(
        x, w, b, stride=stride, pads=pads, dilation=dilation, groups=groups
    )
    xp = np.pad(x, ((0, 0), (0, 0), pads))
    out = (xp.shape[2] - dilation * 2 - 1) // stride + 1
    direct = np.empty((2, 4, out))
    for f in range(4):
        c0 = (f // 2) * 3
        for o in range(out):
            window = xp[:, c0 : c0 + 3, o * stride : o * stride + dilation * 2 + 1 : dilation]
            direct[:, f, o] = b[f] + np.einsum("nci,ci->n", window, w[f])
    np.testing.assert_allclose(y, direct, rtol=0, atol=1e-13)
