"""Every op's backward against central differences, in float64, on small random shapes."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pytest
from test_numpy_support import assert_close, build, compile64, numeric_grad

from netspec.backends.numpy import BACKEND
from netspec.ir import CheckedModel, Regularize
from netspec.ir import ops as ir
from netspec.ir.train import HalfSumSquaredError, MeanSquaredError

IMG = (2, 6, 6)
VEC = (7,)
CUBE = (2, 3, 4)
SEQ = (4, 9)

# (id, builder, train mode). Every builder returns a checked model.
CASES: list[tuple[str, Callable[[], CheckedModel], bool]] = [
    ("dense", lambda: build(VEC, ir.Dense(units=4)), True),
    ("dense_no_bias", lambda: build(VEC, ir.Dense(units=3, bias=False)), True),
    ("conv", lambda: build(IMG, ir.Conv2d(filters=3, kernel=(3, 3))), True),
    ("conv_stride2", lambda: build(IMG, ir.Conv2d(filters=3, kernel=(3, 3), stride=(2, 2))), True),
    (
        "conv_asymmetric_padding",
        lambda: build(IMG, ir.Conv2d(filters=2, kernel=(2, 3), padding=((0, 2), (1, 0)))),
        True,
    ),
    (
        "conv_same_stride2",
        lambda: build(IMG, ir.Conv2d(filters=2, kernel=(3, 3), stride=(2, 2), padding="same")),
        True,
    ),
    (
        "conv_dilation2",
        lambda: build((2, 7, 7), ir.Conv2d(filters=2, kernel=(3, 3), dilation=(2, 2))),
        True,
    ),
    ("conv_groups2", lambda: build((4, 5, 5), ir.Conv2d(filters=6, kernel=(3, 3), groups=2)), True),
    (
        "conv_everything",
        lambda: build(
            (4, 7, 6),
            ir.Conv2d(
                filters=4,
                kernel=(3, 2),
                stride=(2, 1),
                padding=((1, 2), (2, 0)),
                dilation=(1, 2),
                groups=2,
                bias=False,
            ),
        ),
        True,
    ),
    ("conv_pointwise", lambda: build(IMG, ir.Conv2d(filters=3, kernel=(1, 1))), True),
    (
        "conv_transpose_stride2",
        lambda: build(
            (2, 3, 3),
            ir.Conv2dTranspose(
                filters=3,
                kernel=(3, 3),
                stride=(2, 2),
                padding=((1, 1), (1, 1)),
                output_padding=(1, 1),
            ),
        ),
        True,
    ),
    (
        # output_padding past the stride (under a larger dilation), groups, no bias.
        "conv_transpose_everything",
        lambda: build(
            (4, 3, 4),
            ir.Conv2dTranspose(
                filters=2,
                kernel=(2, 3),
                stride=(1, 2),
                padding=((1, 1), (0, 0)),
                output_padding=(1, 1),
                dilation=(2, 1),
                groups=2,
                bias=False,
            ),
        ),
        True,
    ),
    ("maxpool", lambda: build(IMG, ir.MaxPool(kernel=(2, 2), stride=(2, 2))), True),
    (
        "maxpool_padded",
        lambda: build(IMG, ir.MaxPool(kernel=(3, 3), stride=(2, 2), padding=((1, 0), (0, 1)))),
        True,
    ),
    (
        "maxpool_overlapping",
        lambda: build(IMG, ir.MaxPool(kernel=(3, 2), stride=(1, 2), padding=((1, 1), (0, 0)))),
        True,
    ),
    ("avgpool", lambda: build(IMG, ir.AvgPool(kernel=(2, 2), stride=(2, 2))), True),
    (
        "avgpool_padded",
        lambda: build(IMG, ir.AvgPool(kernel=(3, 3), stride=(2, 2), padding=((1, 0), (0, 1)))),
        True,
    ),
    (
        "avgpool_overlapping",
        lambda: build(IMG, ir.AvgPool(kernel=(3, 2), stride=(1, 2), padding=((1, 1), (0, 0)))),
        True,
    ),
    ("global_avgpool", lambda: build(IMG, ir.GlobalAvgPool()), True),
    (
        "conv1d_everything",
        lambda: build(
            SEQ,
            ir.Conv1d(filters=4, kernel=3, stride=2, padding=(2, 1), dilation=2, groups=2),
        ),
        True,
    ),
    ("conv1d_same", lambda: build(SEQ, ir.Conv1d(filters=3, kernel=4, padding="same")), True),
    ("conv1d_pointwise", lambda: build(SEQ, ir.Conv1d(filters=2, kernel=1, bias=False)), True),
    (
        "maxpool1d_overlapping",
        lambda: build(SEQ, ir.MaxPool1d(kernel=3, stride=1, padding=(1, 2))),
        True,
    ),
    (
        "avgpool1d_padded",
        lambda: build(SEQ, ir.AvgPool1d(kernel=3, stride=2, padding=(1, 0))),
        True,
    ),
    ("global_avgpool_sequence", lambda: build(SEQ, ir.GlobalAvgPool()), True),
    # Recurrent layers: backpropagation through time against central differences (the
    # twins in test_recurrent_twins.py hold them against torch too).
    (
        "lstm_two_layers_bidirectional",
        lambda: build(SEQ, ir.Lstm(hidden=3, layers=2, bidirectional=True)),
        True,
    ),
    ("gru_sequences", lambda: build(SEQ, ir.Gru(hidden=3, return_sequences=True)), True),
    (
        "rnn_relu_no_bias",
        lambda: build(SEQ, ir.Rnn(hidden=3, nonlinearity="relu", bias=False)),
        True,
    ),
    ("batchnorm_1d_train", lambda: build(VEC, ir.BatchNorm()), True),
    ("batchnorm_2d_train", lambda: build(IMG, ir.BatchNorm()), True),
    ("batchnorm_2d_eval", lambda: build(IMG, ir.BatchNorm()), False),
    ("batchnorm_no_affine_train", lambda: build(IMG, ir.BatchNorm(affine=False)), True),
    ("layer_norm_last_axis", lambda: build(CUBE, ir.LayerNorm()), True),
    ("layer_norm_whole_sample", lambda: build(CUBE, ir.LayerNorm(axes=3, eps=0.1)), False),
    ("layer_norm_no_affine", lambda: build(CUBE, ir.LayerNorm(axes=2, affine=False)), True),
    ("group_norm_image", lambda: build((4, 3, 3), ir.GroupNorm(groups=2)), True),
    ("group_norm_vector_per_channel", lambda: build(VEC, ir.GroupNorm(groups=7)), True),
    ("group_norm_no_affine", lambda: build(IMG, ir.GroupNorm(groups=1, affine=False)), False),
    ("dropout_train", lambda: build(VEC, ir.Dense(units=5), ir.Dropout(p=0.4)), True),
    ("dense_sequence", lambda: build(SEQ, ir.Dense(units=3)), True),
    ("dense_sequence_no_bias", lambda: build(SEQ, ir.Dense(units=2, bias=False)), True),
    ("positional_embedding", lambda: build(SEQ, ir.PositionalEmbedding()), True),
    ("attention", lambda: build((5, 6), ir.MultiHeadAttention(heads=2)), True),
    (
        "attention_causal_no_bias",
        lambda: build((5, 6), ir.MultiHeadAttention(heads=3, causal=True, bias=False)),
        True,
    ),
    # The same masks at every evaluation (the test reseeds): dropout's backward too.
    (
        "attention_dropout_train",
        lambda: build((4, 4), ir.MultiHeadAttention(heads=1, causal=True, dropout=0.3)),
        True,
    ),
    ("flatten", lambda: build(CUBE, ir.Flatten(), ir.Dense(units=2)), True),
    ("reshape", lambda: build(CUBE, ir.Reshape(shape=(4, -1)), ir.Tanh()), True),
    (
        "add",
        lambda: build(
            VEC,
            ("a", ir.Dense(units=7), ("x",)),
            ("b", ir.Tanh(), ("x",)),
            ("m", ir.Add(), ("a", "b", "x")),
        ),
        True,
    ),
    (
        "multiply",
        lambda: build(
            VEC,
            ("a", ir.Dense(units=7), ("x",)),
            ("b", ir.Sigmoid(), ("x",)),
            ("m", ir.Multiply(), ("a", "b", "x")),
        ),
        True,
    ),
    (
        "concat_channels",
        lambda: build(
            IMG,
            ("a", ir.Conv2d(filters=3, kernel=(3, 3), padding="same"), ("x",)),
            ("c", ir.Concat(axis=0), ("x", "a")),
        ),
        True,
    ),
    (
        "concat_last_axis",
        lambda: build(
            CUBE,
            ("a", ir.Elu(), ("x",)),
            ("c", ir.Concat(axis=-1), ("a", "x", "a")),
        ),
        True,
    ),
    ("identity", lambda: build(CUBE, ir.Identity()), True),
    ("sigmoid", lambda: build(CUBE, ir.Sigmoid()), True),
    ("tanh", lambda: build(CUBE, ir.Tanh()), True),
    ("relu", lambda: build(CUBE, ir.Relu()), True),
    ("silu", lambda: build(CUBE, ir.Silu()), True),
    ("mish", lambda: build(CUBE, ir.Mish()), True),
    ("selu", lambda: build(CUBE, ir.Selu()), True),
    ("relu6", lambda: build(CUBE, ir.Relu6()), True),
    ("hard_sigmoid", lambda: build(CUBE, ir.HardSigmoid()), True),
    ("hard_swish", lambda: build(CUBE, ir.HardSwish()), True),
    ("leaky_relu", lambda: build(CUBE, ir.LeakyRelu(negative_slope=0.2)), True),
    ("prelu_shared", lambda: build(CUBE, ir.Prelu(init=0.3)), True),
    ("prelu_per_channel_image", lambda: build(IMG, ir.Prelu(per_channel=True)), True),
    ("prelu_per_feature", lambda: build(VEC, ir.Prelu(per_channel=True, init=-0.1)), True),
    ("elu", lambda: build(CUBE, ir.Elu(alpha=0.7)), True),
    ("gelu", lambda: build(CUBE, ir.Gelu()), True),
    ("gelu_tanh", lambda: build(CUBE, ir.Gelu(approximate="tanh")), True),
    # threshold 1 puts some inputs (beta x > 1) on the linear branch.
    ("softplus", lambda: build(CUBE, ir.Softplus(beta=2.0, threshold=1.0)), True),
    ("softmax_axis0", lambda: build(CUBE, ir.Softmax(axis=0)), True),
    ("softmax_last_axis", lambda: build(CUBE, ir.Softmax(axis=-1)), True),
    ("log_softmax_axis0", lambda: build(CUBE, ir.LogSoftmax(axis=0)), True),
    ("log_softmax_axis1", lambda: build(CUBE, ir.LogSoftmax(axis=1)), True),
    (
        "penalties",
        lambda: build(VEC, ir.Dense(units=3, regularize=Regularize(l2=0.3, l1=0.2))),
        True,
    ),
]


def _perturbed_params(model: CheckedModel, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # Away from the initial values (ones, zeros, shared constants) so that no symmetry
    # can hide a wrong gradient.
    return {spec.name: rng.uniform(-1.0, 1.0, spec.shape) for spec in model.params}


@pytest.mark.parametrize(("label", "make", "train"), CASES, ids=[c[0] for c in CASES])
def test_backward_matches_central_differences(
    label: str, make: Callable[[], CheckedModel], train: bool
) -> None:
    model = make()
    rng = np.random.default_rng(zlib.crc32(label.encode()))  # stable across runs
    compiled = compile64(model)
    compiled.set_parameters(_perturbed_params(model, rng))
    if model.state:
        # Eval mode reads the running statistics: make them non-trivial.
        compiled.set_parameters({s.name: rng.uniform(0.5, 1.5, s.shape) for s in model.state})
    x = rng.standard_normal((3, *model.input.shape))
    target = rng.standard_normal((3, *model.output_type.shape))
    loss = MeanSquaredError()

    def value() -> float:
        compiled.seed(11)  # the same dropout masks at every evaluation
        return compiled.loss_and_grads(x, target, loss, train=train)[0]

    compiled.seed(11)
    _, grads = compiled.loss_and_grads(x, target, loss, train=train, input_grad=True)
    assert set(grads) == {*(s.name for s in model.params), "x"}
    assert_close(f"{label}: d loss / d x", grads["x"], numeric_grad(value, x), 1e-5, 1e-8)
    for name, start in compiled.parameters().items():
        array = start.copy()

        def value_at(array: np.ndarray = array, name: str = name) -> float:
            compiled.set_parameters({name: array})
            return value()

        want = numeric_grad(value_at, array)
        compiled.set_parameters({name: start})
        assert_close(f"{label}: d loss / d {name}", grads[name], want, 1e-5, 1e-8)


def test_step_has_zero_gradient() -> None:
    model = build(VEC, ir.Dense(units=4), ir.Step(), ir.Dense(units=2))
    compiled = compile64(model)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 7))
    _, grads = compiled.loss_and_grads(
        x, rng.standard_normal((4, 2)), MeanSquaredError(), input_grad=True
    )
    assert not grads["n0.weight"].any() and not grads["n0.bias"].any()
    assert not grads["x"].any()
    assert grads["n2.weight"].any()  # the layer after the step still learns


@pytest.mark.parametrize(
    ("op", "want"),
    [
        (ir.Relu(), [0.0, 0.0, 1.0]),
        (ir.LeakyRelu(negative_slope=0.1), [0.1, 0.1, 1.0]),
        (ir.Prelu(init=0.3), [0.3, 0.3, 1.0]),
        (ir.Elu(alpha=0.7), [0.7 * np.exp(-1.0), 0.7, 1.0]),
        (ir.Step(), [0.0, 0.0, 0.0]),
    ],
    ids=["relu", "leaky_relu", "prelu", "elu", "step"],
)
def test_gradient_at_the_kink_follows_pytorch(op: ir.Op, want: list[float]) -> None:
    compiled = compile64(build((3,), op))
    x = np.array([[-1.0, 0.0, 1.0]])
    # half_sse with target y - 1 makes d loss / d y = 1 everywhere.
    y = compiled.forward(x)
    _, grads = compiled.loss_and_grads(x, y - 1.0, HalfSumSquaredError(), input_grad=True)
    assert_close(f"{op.kind}'(-1, 0, 1)", grads["x"][0], np.array(want), 1e-12, 1e-12)


def test_maxpool_ties_send_the_gradient_to_the_first_maximum() -> None:
    compiled = compile64(build((1, 3, 3), ir.MaxPool(kernel=(2, 2), stride=(1, 1))))
    x = np.array([[[[1.0, 2.0, 2.0], [0.0, 2.0, 1.0], [0.0, 0.0, 0.0]]]])
    y = compiled.forward(x)
    _, grads = compiled.loss_and_grads(x, y - 1.0, HalfSumSquaredError(), input_grad=True)
    # Row-major first maximum per window: top-left [[1, 2], [0, 2]] and top-right
    # [[2, 2], [2, 1]] pick (0, 1); bottom-left [[0, 2], [0, 0]] and bottom-right
    # [[2, 1], [0, 0]] pick (1, 1). torch.nn.functional.max_pool2d on the CPU agrees.
    want = np.array([[0.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    assert_close("maxpool tie gradient", grads["x"][0, 0], want, 0, 0)


@pytest.mark.parametrize(
    ("op", "out"),
    [
        (ir.Conv2d(filters=4, kernel=(3, 3), groups=2), (4, 4, 4)),
        (ir.Conv2dTranspose(filters=4, kernel=(3, 3), groups=2), (4, 8, 8)),
    ],
    ids=["conv", "conv_transpose"],
)
def test_conv_weight_gradient_does_not_depend_on_the_chunking(
    monkeypatch: pytest.MonkeyPatch, op: ir.Op, out: tuple[int, ...]
) -> None:
    from netspec.backends.numpy import nn_conv as _conv

    model = build((4, 6, 6), op)
    compiled = compile64(model)
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((5, 4, 6, 6)), rng.standard_normal((5, *out))
    _, whole = compiled.loss_and_grads(x, t, MeanSquaredError())
    # A budget of one byte forces one sample per chunk.
    monkeypatch.setattr(_conv, "_WEIGHT_GRAD_BUDGET", 1)
    _, chunked = compiled.loss_and_grads(x, t, MeanSquaredError())
    assert_close("chunked weight gradient", chunked["n0.weight"], whole["n0.weight"], 1e-12, 0)


@pytest.mark.parametrize(("label", "make", "train"), CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(label: str, make: Callable[[], CheckedModel], train: bool) -> None:
    model = make()
    compiled = BACKEND.compile(model, dtype="float32")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, *model.input.shape)).astype(np.float32)
    target = rng.standard_normal((3, *model.output_type.shape)).astype(np.float32)
    for name, value in compiled.trace(x, train=train).items():
        assert value.dtype == np.float32, f"{label}: output of {name} is {value.dtype}"
    _, grads = compiled.loss_and_grads(x, target, MeanSquaredError(), train=train, input_grad=True)
    for name, g in grads.items():
        assert g.dtype == np.float32, f"{label}: gradient of {name} is {g.dtype}"
