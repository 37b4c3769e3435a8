"""The NumPy backend against PyTorch as an oracle: outputs, losses, gradients, state.

A small functional interpreter below runs the same checked IR with ``torch.nn.functional``
(explicit pads through ``F.pad``, as the shared semantics define them). PyTorch is an
optional dependency, so the module is skipped without it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_numpy_support import assert_close, build

from netspec.backends.numpy import BACKEND
from netspec.ir import CheckedModel, Regularize
from netspec.ir import ops as ir
from netspec.ir.train import (
    BinaryCrossEntropy,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _axis(axis: int) -> int:
    return axis + 1 if axis >= 0 else axis


def _torch_op(op: Any, xs: list[Any], p: dict[str, Any], s: dict[str, Any], train: bool) -> Any:
    x = xs[0]
    kind = op.kind
    if kind == "dense":
        return F.linear(x, p["weight"], p.get("bias"))
    if kind in ("conv2d", "maxpool", "avgpool"):
        (top, bottom), (left, right) = op.padding
        fill = float("-inf") if kind == "maxpool" else 0.0
        x = F.pad(x, (left, right, top, bottom), value=fill)
        if kind == "conv2d":
            return F.conv2d(x, p["weight"], p.get("bias"), op.stride, 0, op.dilation, op.groups)
        if kind == "maxpool":
            return F.max_pool2d(x, op.kernel, op.stride)
        return F.avg_pool2d(x, op.kernel, op.stride)
    if kind in ("conv1d", "maxpool1d", "avgpool1d"):
        x = F.pad(x, op.padding, value=float("-inf") if kind == "maxpool1d" else 0.0)
        if kind == "conv1d":
            return F.conv1d(x, p["weight"], p.get("bias"), op.stride, 0, op.dilation, op.groups)
        if kind == "maxpool1d":
            return F.max_pool1d(x, op.kernel, op.stride)
        return F.avg_pool1d(x, op.kernel, op.stride)
    if kind == "global_avgpool":
        return x.mean(dim=tuple(range(2, x.dim())))
    if kind == "batchnorm":
        return F.batch_norm(
            x,
            s["running_mean"],
            s["running_var"],
            p.get("weight"),
            p.get("bias"),
            training=train,
            momentum=op.momentum,
            eps=op.eps,
        )
    if kind in ("flatten", "reshape"):
        return x.reshape(x.shape[0], -1) if kind == "flatten" else x.reshape(x.shape[0], *op.shape)
    if kind == "add":
        return sum(xs[1:], xs[0])
    if kind == "multiply":
        out = xs[0]
        for other in xs[1:]:
            out = out * other
        return out
    if kind == "concat":
        return torch.cat(xs, dim=_axis(op.axis))
    simple: dict[str, Callable[[Any], Any]] = {
        "identity": lambda t: t,
        "step": lambda t: (t > 0).to(t.dtype),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "silu": F.silu,
        "mish": F.mish,
        "selu": F.selu,
        "relu6": F.relu6,
        "hard_sigmoid": F.hardsigmoid,
        "hard_swish": F.hardswish,
    }
    if kind in simple:
        return simple[kind](x)
    if kind == "leaky_relu":
        return F.leaky_relu(x, op.negative_slope)
    if kind == "prelu":
        return F.prelu(x, p["weight"])
    if kind == "elu":
        return F.elu(x, op.alpha)
    if kind == "gelu":
        return F.gelu(x, approximate=op.approximate)
    if kind == "softplus":
        return F.softplus(x, op.beta, op.threshold)
    if kind == "softmax":
        return F.softmax(x, dim=_axis(op.axis))
    if kind == "log_softmax":
        return F.log_softmax(x, dim=_axis(op.axis))
    raise NotImplementedError(kind)


def _torch_loss(out: Any, y: np.ndarray, spec: LossSpec) -> Any:
    if isinstance(spec, SoftmaxCrossEntropy):
        weight = None
        if spec.class_weights is not None:
            weight = torch.tensor(spec.class_weights, dtype=out.dtype)
        target = torch.from_numpy(y)
        if not np.issubdtype(y.dtype, np.integer):
            target = target.to(out.dtype)
        return F.cross_entropy(out, target, weight=weight)
    t = torch.from_numpy(y).to(out.dtype).reshape(out.shape)
    if isinstance(spec, BinaryCrossEntropy):
        return F.binary_cross_entropy_with_logits(out, t)
    if isinstance(spec, MeanSquaredError):
        return F.mse_loss(out, t)
    if isinstance(spec, HalfSumSquaredError):
        return 0.5 * ((out - t) ** 2).sum() / out.shape[0]
    if isinstance(spec, MeanAbsoluteError):
        return F.l1_loss(out, t)
    raise NotImplementedError(spec)


def torch_run(
    model: CheckedModel,
    values: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    loss: LossSpec,
    train: bool,
) -> tuple[np.ndarray, float, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Output, loss with penalties, gradients (params and ``x``) and state after the step."""
    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    params = {
        s.name: torch.tensor(values[s.name], dtype=dtype, requires_grad=True) for s in model.params
    }
    state = {s.name: torch.tensor(values[s.name], dtype=dtype) for s in model.state}
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    tensors: dict[str, Any] = {model.input.name: xt}
    for node in model.nodes:
        mine = {s.attr: params[s.name] for s in model.params if s.node == node.name}
        own_state = {s.attr: state[s.name] for s in model.state if s.node == node.name}
        tensors[node.name] = _torch_op(
            node.op, [tensors[n] for n in node.inputs], mine, own_state, train
        )
    out = tensors[model.output]
    total = _torch_loss(out, y, loss)
    for spec in model.params:
        w = params[spec.name]
        reg = spec.regularize
        total = total + 0.5 * reg.l2 * (w * w).sum() + reg.l1 * w.abs().sum()
    total.backward()
    # No gradient reaches a tensor behind a step: that is a zero gradient.
    grads = {
        name: np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy()
        for name, t in {**params, model.input.name: xt}.items()
    }
    return (
        out.detach().numpy(),
        float(total.detach()),
        grads,
        {name: t.numpy() for name, t in state.items()},
    )


IMG = (4, 7, 7)
VEC = (6,)
SEQ = (4, 9)
# (id, model). Every op of netspec/ir/ops.py but dropout, whose masks come from
# different generators (its statistics are tested in test_contract_model.py).
CASES: list[tuple[str, Callable[[], CheckedModel]]] = [
    ("dense", lambda: build(VEC, ir.Dense(units=5))),
    (
        "conv_stride_dilation_groups",
        lambda: build(
            IMG,
            ir.Conv2d(
                filters=6,
                kernel=(3, 2),
                stride=(2, 1),
                padding=((0, 2), (1, 1)),
                dilation=(2, 1),
                groups=2,
            ),
        ),
    ),
    (
        "conv_same_stride2",
        lambda: build(IMG, ir.Conv2d(filters=3, kernel=(4, 4), stride=(2, 2), padding="same")),
    ),
    (
        "maxpool_padded",
        lambda: build(IMG, ir.MaxPool(kernel=(3, 3), stride=(2, 2), padding=((1, 0), (1, 1)))),
    ),
    (
        "avgpool_padded",
        lambda: build(IMG, ir.AvgPool(kernel=(3, 2), stride=(2, 2), padding=((1, 1), (0, 1)))),
    ),
    ("global_avgpool", lambda: build(IMG, ir.GlobalAvgPool())),
    (
        "conv1d_same_stride2",
        lambda: build(SEQ, ir.Conv1d(filters=4, kernel=4, stride=2, padding="same", groups=2)),
    ),
    ("maxpool1d_padded", lambda: build(SEQ, ir.MaxPool1d(kernel=3, stride=2, padding=(1, 0)))),
    ("avgpool1d_padded", lambda: build(SEQ, ir.AvgPool1d(kernel=2, stride=1, padding=(1, 1)))),
    ("global_avgpool_sequence", lambda: build(SEQ, ir.GlobalAvgPool())),
    ("batchnorm_image", lambda: build(IMG, ir.BatchNorm(momentum=0.2, eps=1e-3))),
    ("batchnorm_vector", lambda: build(VEC, ir.BatchNorm())),
    ("flatten_reshape", lambda: build(IMG, ir.Flatten(), ir.Reshape(shape=(7, 28)))),
    (
        "merges",
        lambda: build(
            VEC,
            ("a", ir.Dense(units=6), ("x",)),
            ("b", ir.Tanh(), ("x",)),
            ("s", ir.Add(), ("a", "b")),
            ("m", ir.Multiply(), ("s", "x")),
            ("c", ir.Concat(axis=-1), ("m", "a")),
        ),
    ),
    ("step", lambda: build(VEC, ir.Dense(units=4), ir.Step(), ir.Dense(units=3))),
    ("sigmoid", lambda: build(VEC, ir.Sigmoid())),
    ("tanh", lambda: build(VEC, ir.Tanh())),
    ("relu", lambda: build(VEC, ir.Relu())),
    ("silu", lambda: build(VEC, ir.Silu())),
    ("mish", lambda: build(VEC, ir.Mish())),
    ("selu", lambda: build(VEC, ir.Selu())),
    ("relu6", lambda: build(VEC, ir.Relu6())),
    ("hard_sigmoid", lambda: build(VEC, ir.HardSigmoid())),
    ("hard_swish", lambda: build(VEC, ir.HardSwish())),
    ("leaky_relu", lambda: build(VEC, ir.LeakyRelu(negative_slope=0.05))),
    ("prelu_shared", lambda: build(IMG, ir.Prelu())),
    ("prelu_per_channel", lambda: build(IMG, ir.Prelu(per_channel=True))),
    ("elu", lambda: build(VEC, ir.Elu(alpha=1.3))),
    ("gelu", lambda: build(VEC, ir.Gelu())),
    ("gelu_tanh", lambda: build(VEC, ir.Gelu(approximate="tanh"))),
    ("softplus", lambda: build(VEC, ir.Softplus(beta=3.0, threshold=2.0))),
    ("softmax", lambda: build(IMG, ir.Softmax(axis=0))),
    ("log_softmax", lambda: build(IMG, ir.LogSoftmax(axis=-2))),
    (
        "penalised_dense",
        lambda: build(VEC, ir.Dense(units=3, regularize=Regularize(l2=0.5, l1=0.25))),
    ),
]


def _compare(
    model: CheckedModel,
    dtype: str,
    loss: LossSpec,
    y: np.ndarray | None,
    train: bool,
    seed: int,
    rtol: float,
    atol: float,
) -> None:
    rng = np.random.default_rng(seed)
    compiled = BACKEND.compile(model, dtype=dtype, seed=seed)  # type: ignore[arg-type]
    start = {**compiled.parameters(), **compiled.state()}
    start = {k: (v + rng.uniform(-0.5, 0.5, v.shape)).astype(dtype) for k, v in start.items()}
    compiled.set_parameters(start)
    x = (rng.standard_normal((4, *model.input.shape)) * 2).astype(dtype)
    if y is None:
        y = rng.standard_normal((4, *model.output_type.shape)).astype(dtype)
    want_out, want_loss, want_grads, want_state = torch_run(model, start, x, y, loss, train)
    got_out = compiled.forward(x, train=False) if not train else None
    got_loss, got_grads = compiled.loss_and_grads(x, y, loss, train=train, input_grad=True)
    if got_out is not None:
        assert_close("output", got_out, want_out, rtol, atol)
    assert abs(got_loss - want_loss) <= atol + rtol * abs(want_loss), (got_loss, want_loss)
    assert set(got_grads) == set(want_grads)
    for name, want in want_grads.items():
        assert got_grads[name].dtype == np.dtype(dtype), name
        assert_close(f"gradient of {name}", got_grads[name], want, rtol, atol)
    for name, want in want_state.items():
        assert_close(f"state {name}", compiled.state()[name], want, rtol, atol)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("label", "make"), CASES, ids=[c[0] for c in CASES])
def test_float64_matches_pytorch(label: str, make: Callable[[], CheckedModel], train: bool) -> None:
    _compare(
        make(), "float64", MeanSquaredError(), None, train, zlib.crc32(label.encode()), 1e-10, 1e-12
    )


CNN = lambda: build(  # noqa: E731
    (1, 12, 12),
    ir.Conv2d(filters=4, kernel=(3, 3), padding="same"),
    ir.BatchNorm(),
    ir.Relu(),
    ir.MaxPool(kernel=(2, 2), stride=(2, 2)),
    ir.Conv2d(filters=6, kernel=(3, 3), stride=(2, 2), groups=2),
    ir.Gelu(),
    ir.Flatten(),
    ir.Dense(units=5),
)


@pytest.mark.parametrize(
    ("loss", "labels"),
    [
        (SoftmaxCrossEntropy(), "int"),
        (SoftmaxCrossEntropy(class_weights=(1.0, 2.0, 0.5, 3.0, 1.5)), "int"),
        (SoftmaxCrossEntropy(), "probs"),
        (SoftmaxCrossEntropy(class_weights=(1.0, 2.0, 0.5, 3.0, 1.5)), "probs"),
        (BinaryCrossEntropy(), "binary"),
        (MeanSquaredError(), "real"),
        (HalfSumSquaredError(), "real"),
        (MeanAbsoluteError(), "real"),
    ],
    ids=["ce", "ce_weighted", "ce_probs", "ce_probs_weighted", "bce", "mse", "half_sse", "l1"],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_losses_on_a_cnn_match_pytorch(loss: LossSpec, labels: str, dtype: str) -> None:
    rng = np.random.default_rng(5)
    if labels == "int":
        y = rng.integers(0, 5, 4)
    elif labels == "probs":
        y = rng.dirichlet(np.ones(5), 4).astype(dtype)
    elif labels == "binary":
        y = rng.integers(0, 2, (4, 5)).astype(dtype)
    else:
        y = rng.standard_normal((4, 5)).astype(dtype)
    tol = (1e-10, 1e-12) if dtype == "float64" else (2e-4, 1e-5)
    _compare(CNN(), dtype, loss, y, True, 9, *tol)
