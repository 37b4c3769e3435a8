"""Every op of the JAX lowering against torch.nn.functional, in float64, to 1e-10.

Each case runs one op (or a small merge) on the same inputs and weights through
``build_apply`` and through PyTorch, and compares the outputs and the gradients, for the
input and every parameter, of ``sum(output * g)`` for a random cotangent ``g``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")
F = torch.nn.functional

from test_jax_support import Layer, checked, random_params  # noqa: E402

from netspec.backends.jax import build_apply, precision_scope  # noqa: E402
from netspec.ir import ops as ir  # noqa: E402

TOL = 1e-10
Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Case:
    """One op check: ``layers`` after input x, and the same computation in torch."""

    layers: list[Layer]
    shape: tuple[int, ...]
    torch_fn: Callable[[torch.Tensor, Tensors], torch.Tensor]
    train: bool = False
    zeros: bool = False  # put exact zeros in x, to pin the gradient conventions at 0
    kinks: tuple[float, ...] = ()  # more exact values in x, for kinks away from 0
    scale: float = 1.0  # the spread of x, to reach every piece of a piecewise op
    ties: bool = False  # round x to integers: maxpool windows with tied maxima
    state: bool = field(default=False)  # compare updated running statistics too


def one(op: ir.Op) -> list[Layer]:
    return [Layer("op", op)]


def pads(
    x: torch.Tensor, top: int, bottom: int, left: int, right: int, value: float = 0.0
) -> torch.Tensor:
    return F.pad(x, (left, right, top, bottom), value=value)


def bn_torch(
    momentum: float = 0.1, eps: float = 1e-5, affine: bool = True, train: bool = True
) -> Callable[[torch.Tensor, Tensors], torch.Tensor]:
    def run(x: torch.Tensor, p: Tensors) -> torch.Tensor:
        return F.batch_norm(
            x,
            p["op.running_mean"],
            p["op.running_var"],
            p["op.weight"] if affine else None,
            p["op.bias"] if affine else None,
            training=train,
            momentum=momentum,
            eps=eps,
        )

    return run


def conv(x: torch.Tensor, p: Tensors, **kw: object) -> torch.Tensor:
    return F.conv2d(x, p["op.weight"], p.get("op.bias"), **kw)  # type: ignore[arg-type]


CASES = {
    # affine
    "dense": Case(
        one(ir.Dense(units=3)), (5,), lambda x, p: F.linear(x, p["op.weight"], p["op.bias"])
    ),
    "dense_no_bias": Case(
        one(ir.Dense(units=3, bias=False)), (5,), lambda x, p: F.linear(x, p["op.weight"])
    ),
    "conv": Case(
        one(ir.Conv2d(filters=4, kernel=(3, 3), padding=((1, 1), (1, 1)))),
        (2, 6, 6),
        lambda x, p: conv(x, p, padding=1),
    ),
    "conv_stride2_asymmetric_pad": Case(
        one(ir.Conv2d(filters=3, kernel=(3, 3), stride=(2, 2), padding=((0, 1), (1, 2)))),
        (2, 7, 8),
        lambda x, p: conv(pads(x, 0, 1, 1, 2), p, stride=2),
    ),
    "conv_rect_stride": Case(
        one(ir.Conv2d(filters=2, kernel=(2, 3), stride=(1, 2))),
        (3, 5, 7),
        lambda x, p: conv(x, p, stride=(1, 2)),
    ),
    "conv_dilation": Case(
        one(ir.Conv2d(filters=3, kernel=(3, 3), dilation=(2, 1), padding=((2, 2), (1, 1)))),
        (2, 8, 8),
        lambda x, p: conv(x, p, dilation=(2, 1), padding=(2, 1)),
    ),
    "conv_groups": Case(
        one(ir.Conv2d(filters=6, kernel=(3, 3), groups=2, bias=False)),
        (4, 5, 5),
        lambda x, p: conv(x, p, groups=2),
    ),
    "conv_depthwise": Case(
        one(ir.Conv2d(filters=4, kernel=(3, 3), groups=4, padding=((1, 1), (1, 1)))),
        (4, 5, 5),
        lambda x, p: conv(x, p, groups=4, padding=1),
    ),
    # pooling
    "maxpool": Case(
        one(ir.MaxPool(kernel=(2, 2), stride=(2, 2))), (2, 6, 6), lambda x, p: F.max_pool2d(x, 2)
    ),
    "maxpool_pad": Case(
        one(ir.MaxPool(kernel=(3, 3), stride=(2, 2), padding=((1, 1), (1, 1)))),
        (2, 7, 7),
        lambda x, p: F.max_pool2d(x, 3, 2, padding=1),
    ),
    "maxpool_asymmetric_pad": Case(
        one(ir.MaxPool(kernel=(3, 3), stride=(2, 2), padding=((0, 1), (1, 1)))),
        (2, 6, 7),
        lambda x, p: F.max_pool2d(pads(x, 0, 1, 1, 1, value=-np.inf), 3, 2),
    ),
    "maxpool_ties_go_to_the_first_maximum": Case(
        one(ir.MaxPool(kernel=(3, 3), stride=(1, 1), padding=((1, 1), (1, 1)))),
        (2, 5, 5),
        lambda x, p: F.max_pool2d(x, 3, 1, padding=1),
        ties=True,
    ),
    "avgpool": Case(
        one(ir.AvgPool(kernel=(2, 2), stride=(2, 2))), (2, 6, 6), lambda x, p: F.avg_pool2d(x, 2)
    ),
    "avgpool_pad_counts_padding": Case(
        one(ir.AvgPool(kernel=(3, 3), stride=(1, 1), padding=((1, 1), (1, 1)))),
        (2, 5, 5),
        lambda x, p: F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=True),
    ),
    "avgpool_asymmetric_pad": Case(
        one(ir.AvgPool(kernel=(2, 3), stride=(2, 2), padding=((1, 0), (0, 1)))),
        (2, 6, 6),
        lambda x, p: F.avg_pool2d(pads(x, 1, 0, 0, 1), (2, 3), 2),
    ),
    "global_avgpool": Case(one(ir.GlobalAvgPool()), (3, 4, 5), lambda x, p: x.mean(dim=(2, 3))),
    # one-dimensional ops on [channels, length] (tests/backends/test_conv1d_twins.py has more)
    "conv1d": Case(
        one(ir.Conv1d(filters=4, kernel=3, stride=2, padding=(1, 2), dilation=2, groups=2)),
        (4, 11),
        lambda x, p: F.conv1d(F.pad(x, (1, 2)), p["op.weight"], p["op.bias"], 2, 0, 2, 2),
    ),
    "maxpool1d_ties": Case(
        one(ir.MaxPool1d(kernel=3, stride=1, padding=(1, 1))),
        (2, 9),
        lambda x, p: F.max_pool1d(x, 3, 1, padding=1),
        ties=True,
    ),
    "avgpool1d_asymmetric_pad": Case(
        one(ir.AvgPool1d(kernel=3, stride=2, padding=(0, 2))),
        (2, 9),
        lambda x, p: F.avg_pool1d(F.pad(x, (0, 2)), 3, 2),
    ),
    "global_avgpool_sequence": Case(one(ir.GlobalAvgPool()), (3, 7), lambda x, p: x.mean(dim=2)),
    # batchnorm
    "batchnorm_1d_train": Case(one(ir.BatchNorm()), (5,), bn_torch(), train=True, state=True),
    "batchnorm_2d_train": Case(
        one(ir.BatchNorm(momentum=0.3, eps=1e-3)),
        (3, 4, 4),
        bn_torch(momentum=0.3, eps=1e-3),
        train=True,
        state=True,
    ),
    "batchnorm_no_affine_train": Case(
        one(ir.BatchNorm(affine=False)), (3, 4, 4), bn_torch(affine=False), train=True, state=True
    ),
    "batchnorm_1d_eval": Case(one(ir.BatchNorm()), (5,), bn_torch(train=False), state=True),
    "batchnorm_2d_eval": Case(
        one(ir.BatchNorm(eps=1e-3)), (3, 4, 4), bn_torch(eps=1e-3, train=False), state=True
    ),
    # shape
    "flatten": Case(one(ir.Flatten()), (2, 3, 4), lambda x, p: x.flatten(1)),
    "reshape": Case(
        one(ir.Reshape(shape=(4, -1))), (2, 3, 4), lambda x, p: x.reshape(x.shape[0], 4, 6)
    ),
    "dropout_eval": Case(one(ir.Dropout(p=0.5)), (6,), lambda x, p: x),
    # merges: two branches of x, merged
    "add": Case(
        [
            Layer("a", ir.Tanh()),
            Layer("b", ir.Sigmoid(), ("x",)),
            Layer("op", ir.Add(), ("a", "b", "x")),
        ],
        (2, 3, 3),
        lambda x, p: torch.tanh(x) + torch.sigmoid(x) + x,
    ),
    "multiply": Case(
        [Layer("a", ir.Tanh()), Layer("op", ir.Multiply(), ("a", "x"))],
        (4,),
        lambda x, p: torch.tanh(x) * x,
    ),
    "concat_channels": Case(
        [Layer("a", ir.Tanh()), Layer("op", ir.Concat(), ("a", "x"))],
        (2, 3, 3),
        lambda x, p: torch.cat([torch.tanh(x), x], dim=1),
    ),
    "concat_last_axis": Case(
        [Layer("a", ir.Tanh()), Layer("op", ir.Concat(axis=-1), ("x", "a"))],
        (2, 3, 3),
        lambda x, p: torch.cat([x, torch.tanh(x)], dim=-1),
    ),
    # activations (exact zeros in x check each gradient at 0)
    "identity": Case(one(ir.Identity()), (6,), lambda x, p: x, zeros=True),
    "step": Case(one(ir.Step()), (6,), lambda x, p: (x > 0).to(x.dtype), zeros=True),
    "sigmoid": Case(one(ir.Sigmoid()), (6,), lambda x, p: torch.sigmoid(x), zeros=True),
    "tanh": Case(one(ir.Tanh()), (6,), lambda x, p: torch.tanh(x), zeros=True),
    "relu": Case(one(ir.Relu()), (2, 3, 3), lambda x, p: F.relu(x), zeros=True),
    "leaky_relu": Case(
        one(ir.LeakyRelu(negative_slope=0.2)), (6,), lambda x, p: F.leaky_relu(x, 0.2), zeros=True
    ),
    "prelu_shared": Case(
        one(ir.Prelu()), (2, 3, 3), lambda x, p: F.prelu(x, p["op.weight"]), zeros=True
    ),
    "prelu_per_channel_image": Case(
        one(ir.Prelu(per_channel=True)),
        (3, 2, 2),
        lambda x, p: F.prelu(x, p["op.weight"]),
        zeros=True,
    ),
    "prelu_per_feature": Case(
        one(ir.Prelu(per_channel=True)), (5,), lambda x, p: F.prelu(x, p["op.weight"]), zeros=True
    ),
    "elu": Case(one(ir.Elu(alpha=0.7)), (6,), lambda x, p: F.elu(x, 0.7), zeros=True),
    "gelu": Case(one(ir.Gelu()), (6,), lambda x, p: F.gelu(x), zeros=True),
    "silu": Case(one(ir.Silu()), (6,), lambda x, p: F.silu(x), zeros=True),
    "mish": Case(
        one(ir.Mish()), (6,), lambda x, p: F.mish(x), zeros=True, kinks=(-40.0, 40.0), scale=4.0
    ),
    "selu": Case(
        one(ir.Selu()), (6,), lambda x, p: F.selu(x), zeros=True, kinks=(-40.0, 40.0), scale=4.0
    ),
    "relu6": Case(
        one(ir.Relu6()), (6,), lambda x, p: F.relu6(x), zeros=True, kinks=(6.0, -6.0), scale=4.0
    ),
    "hard_sigmoid": Case(
        one(ir.HardSigmoid()),
        (6,),
        lambda x, p: F.hardsigmoid(x),
        zeros=True,
        kinks=(-3.0, 3.0),
        scale=3.0,
    ),
    "hard_swish": Case(
        one(ir.HardSwish()),
        (6,),
        lambda x, p: F.hardswish(x),
        zeros=True,
        kinks=(-3.0, 3.0),
        scale=3.0,
    ),
    "gelu_tanh": Case(
        one(ir.Gelu(approximate="tanh")),
        (6,),
        lambda x, p: F.gelu(x, approximate="tanh"),
        zeros=True,
    ),
    "softplus": Case(one(ir.Softplus()), (6,), lambda x, p: F.softplus(x), zeros=True),
    "softplus_beta_threshold": Case(
        one(ir.Softplus(beta=2.0, threshold=1.0)),
        (8,),
        lambda x, p: F.softplus(x, beta=2.0, threshold=1.0),
        zeros=True,
    ),
    "softmax": Case(one(ir.Softmax()), (5,), lambda x, p: F.softmax(x, dim=1)),
    "softmax_channels": Case(one(ir.Softmax(axis=0)), (3, 2, 2), lambda x, p: F.softmax(x, dim=1)),
    "softmax_last_axis": Case(
        one(ir.Softmax(axis=-1)), (3, 2, 4), lambda x, p: F.softmax(x, dim=-1)
    ),
    "log_softmax": Case(one(ir.LogSoftmax()), (5,), lambda x, p: F.log_softmax(x, dim=1)),
    "log_softmax_axis1": Case(
        one(ir.LogSoftmax(axis=1)), (3, 4, 2), lambda x, p: F.log_softmax(x, dim=2)
    ),
}


def ours(
    case: Case, x: np.ndarray, g: np.ndarray, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    model = checked(case.shape, case.layers)
    apply = build_apply(model)
    with precision_scope("float64"):
        params = {s.name: jax.numpy.asarray(values[s.name]) for s in model.params}
        state = {s.name: jax.numpy.asarray(values[s.name]) for s in model.state}

        def run(params: dict, x: jax.Array) -> tuple[jax.Array, dict]:
            return apply(params, state, x, train=case.train)

        out, pullback, new_state = jax.vjp(run, params, jax.numpy.asarray(x), has_aux=True)
        param_grads, x_grad = pullback(jax.numpy.asarray(g))
        return (
            np.asarray(out),
            {k: np.asarray(v) for k, v in param_grads.items()},
            np.asarray(x_grad),
            {k: np.asarray(v) for k, v in new_state.items()},
        )


def theirs(
    case: Case, x: np.ndarray, g: np.ndarray, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    model = checked(case.shape, case.layers)
    learnable = {s.name for s in model.params}
    tensors = {
        name: torch.tensor(value, requires_grad=name in learnable) for name, value in values.items()
    }
    tx = torch.tensor(x, requires_grad=True)
    out = case.torch_fn(tx, tensors)
    if out.requires_grad:  # step has no gradient path at all
        out.backward(torch.tensor(g))

    def grad(t: torch.Tensor) -> np.ndarray:
        return np.zeros(t.shape) if t.grad is None else t.grad.numpy()

    state = {s.name: tensors[s.name].detach().numpy() for s in model.state}
    return (out.detach().numpy(), {n: grad(tensors[n]) for n in learnable}, grad(tx), state)


@pytest.mark.parametrize("name", list(CASES))
def test_op_matches_torch(name: str) -> None:
    case = CASES[name]
    model = checked(case.shape, case.layers)
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.normal(size=(4, *case.shape)) * case.scale
    if case.zeros:
        x.flat[::5] = 0.0
    x.flat[1 : 1 + len(case.kinks)] = case.kinks
    if case.ties:
        x = np.round(x)
    values = random_params(model, seed=1)
    out_shape = (4, *model.output_type.shape)
    g = rng.normal(size=out_shape)

    out, param_grads, x_grad, state = ours(case, x, g, values)
    t_out, t_param_grads, t_x_grad, t_state = theirs(case, x, g, values)

    assert out.shape == out_shape == t_out.shape
    np.testing.assert_allclose(out, t_out, rtol=TOL, atol=TOL, err_msg=f"{name}: output")
    np.testing.assert_allclose(
        x_grad, t_x_grad, rtol=TOL, atol=TOL, err_msg=f"{name}: input gradient"
    )
    assert set(param_grads) == set(t_param_grads)
    for key in param_grads:
        np.testing.assert_allclose(
            param_grads[key],
            t_param_grads[key],
            rtol=TOL,
            atol=TOL,
            err_msg=f"{name}: gradient of {key}",
        )
    if case.state:
        for key in state:
            np.testing.assert_allclose(
                state[key], t_state[key], rtol=TOL, atol=TOL, err_msg=f"{name}: {key}"
            )
