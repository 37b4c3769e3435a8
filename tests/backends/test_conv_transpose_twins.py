"""conv2d_transpose against torch.nn.ConvTranspose2d as an external oracle, in float64.

Each case is a spec line; its checked node gives the static arguments of the NumPy and
JAX lowerings, so the registry's path from spec to call is under test too. The NumPy
forward and hand-written backward, and the JAX lowering under ``jax.vjp``, must give
torch's output and its gradients for the input, the weight and the bias: values to 1e-10
and gradients to 1e-9. The weights are the module's own, loaded by name. A compiled model
of each backend, given the module's state_dict, gives the module's output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.backends.numpy.nn import LOWERINGS as NUMPY_LOWERINGS
from tests.backends.conftest import backend_params

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install netspec[torch])")

# (input [C, H, W], the layer as a spec writes it): strides 1 to 3, symmetric and per-axis
# padding (a padding above dilation * (kernel - 1), where the JAX pads are negative),
# output_padding below the stride and below a larger dilation only, groups, no bias.
CASES = [
    ([3, 5, 4], "conv2d_transpose(4, 3)"),
    ([4, 4, 5], "conv2d_transpose(6, 3, stride = 2, padding = 1, output_padding = 1)"),
    ([6, 3, 3], "conv2d_transpose(6, [4, 2], stride = 3, padding = [2, 0], groups = 3)"),
    ([2, 4, 3], "conv2d_transpose(5, 3, stride = [3, 2], output_padding = [2, 1], bias = false)"),
    ([4, 5, 5], "conv2d_transpose(2, 2, stride = 2, dilation = 2, padding = 1, groups = 2)"),
    ([3, 4, 4], "conv2d_transpose(3, [1, 2], dilation = [3, 2], output_padding = [2, 1])"),
    ([2, 6, 5], "conv2d_transpose(4, 1, padding = 1, bias = false)"),
    ([4, 3, 4], "conv2d_transpose(8, 3, stride = 2, dilation = 2, padding = [3, 1], groups = 4)"),
    ([1, 1, 1], "conv2d_transpose(2, 3, stride = 3, output_padding = 2)"),
]
IDS = [layer for _, layer in CASES]


def _node(shape: list[int], layer: str) -> Any:
    model = netspec.load(f"model m(x: {shape}) {{ {layer} }}").model()
    (node,) = model.nodes
    return model, node


def _module(node: Any, channels: int, seed: int) -> Any:
    """The torch module of the same settings, with weights drawn by torch."""
    op = node.op
    torch.manual_seed(seed)
    module = torch.nn.ConvTranspose2d(
        channels,
        op.filters,
        op.kernel,
        stride=op.stride,
        padding=(op.padding[0][0], op.padding[1][0]),
        output_padding=op.output_padding,
        groups=op.groups,
        bias=op.bias,
        dilation=op.dilation,
    ).double()
    with torch.no_grad():
        for tensor in module.parameters():
            tensor.normal_()
    return module


def _oracle(case: tuple[list[int], str], seed: int = 0) -> dict[str, Any]:
    """The node, the module's parameters, an input, a cotangent, and torch's output
    and gradients (of sum(y * cotangent))."""
    shape, layer = case
    _, node = _node(shape, layer)
    module = _module(node, shape[0], seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, *shape))
    tx = torch.tensor(x, requires_grad=True)
    y = module(tx)
    assert tuple(y.shape[1:]) == node.output.shape
    cotangent = rng.normal(size=tuple(y.shape))
    y.backward(torch.tensor(cotangent))
    params = {name: t.detach().numpy().copy() for name, t in module.named_parameters()}
    grads = {name: t.grad.numpy().copy() for name, t in module.named_parameters()}
    return {
        "node": node,
        "params": params,
        "x": x,
        "cotangent": cotangent,
        "y": y.detach().numpy(),
        "grads": {"x": tx.grad.numpy(), **grads},
    }


def _check(want: dict[str, Any], y: np.ndarray, grads: dict[str, np.ndarray]) -> None:
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, want["y"], rtol=1e-10, atol=1e-12, err_msg="output")
    assert set(grads) == set(want["grads"])
    for name, grad in grads.items():
        np.testing.assert_allclose(
            grad, want["grads"][name], rtol=1e-9, atol=1e-12, err_msg=f"gradient of {name}"
        )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numpy_forward_and_backward_match_torch(case: tuple[list[int], str]) -> None:
    want = _oracle(case)
    lowering = NUMPY_LOWERINGS["conv2d_transpose"]
    static = lowering.static(want["node"])
    y, cache = lowering.fn(want["x"], **want["params"], **static)
    backward: Any = lowering.backward
    dx, *dparams = backward(want["cotangent"], cache, **want["params"], **static)
    _check(want, y, {"x": dx, **dict(zip(want["params"], dparams, strict=True))})


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numpy_backward_without_the_input_gradient(case: tuple[list[int], str]) -> None:
    want = _oracle(case)
    lowering = NUMPY_LOWERINGS["conv2d_transpose"]
    static = lowering.static(want["node"])
    _, cache = lowering.fn(want["x"], **want["params"], **static)
    backward: Any = lowering.backward
    dx, *dparams = backward(want["cotangent"], cache, **want["params"], **static, need_dx=False)
    assert dx is None
    for name, grad in zip(want["params"], dparams, strict=True):
        np.testing.assert_allclose(grad, want["grads"][name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_forward_and_gradients_match_torch(case: tuple[list[int], str]) -> None:
    jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
    from netspec.backends.jax import precision_scope
    from netspec.backends.jax.nn import LOWERINGS as JAX_LOWERINGS

    want = _oracle(case)
    lowering = JAX_LOWERINGS["conv2d_transpose"]
    static = lowering.static(want["node"])
    names = list(want["params"])
    with precision_scope("float64"):

        def run(x: Any, *params: Any) -> Any:
            return lowering.fn(x, **dict(zip(names, params, strict=True)), **static)

        arrays = [jax.numpy.asarray(want["params"][name]) for name in names]
        y, pullback = jax.vjp(run, jax.numpy.asarray(want["x"]), *arrays)
        dx, *dparams = pullback(jax.numpy.asarray(want["cotangent"]))
        grads = {"x": np.asarray(dx)} | {
            name: np.asarray(g) for name, g in zip(names, dparams, strict=True)
        }
        _check(want, np.asarray(y), grads)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("case", CASES[1:4], ids=IDS[1:4])
def test_a_compiled_model_runs_the_modules_weights_by_name(
    backend: str, case: tuple[list[int], str]
) -> None:
    """netspec's parameter names and layouts are the module's: its state_dict, prefixed
    with the node's name, loads into every backend and gives the module's output."""
    want = _oracle(case, seed=3)
    model, node = _node(*case)
    params = {f"{node.name}.{name}": value for name, value in want["params"].items()}
    assert {p.name: p.shape for p in model.params} == {k: v.shape for k, v in params.items()}
    compiled = get_backend(backend).compile(model, dtype="float64", params=params)
    np.testing.assert_allclose(compiled.forward(want["x"]), want["y"], rtol=1e-10, atol=1e-12)


def test_the_initialisers_read_fans_as_torch_does() -> None:
    """A ConvTranspose2d weight [in, out / groups, kh, kw] has fan-in out / groups * kh * kw
    in torch.nn.init; netspec's initialisers, given netspec's weight shape, agree."""
    from netspec.initializers import fans

    model, node = _node([6, 4, 4], "conv2d_transpose(4, [3, 2], groups = 2)")
    module = _module(node, 6, seed=0)
    (weight,) = (p for p in model.params if p.attr == "weight")
    assert weight.shape == tuple(module.weight.shape) == (6, 2, 3, 2)
    assert fans(weight.shape) == torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
    assert fans(weight.shape) == (12, 36)
