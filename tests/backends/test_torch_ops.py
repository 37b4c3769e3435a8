"""Each op of the torch backend against values computed by hand or by plain NumPy loops.

Models are written as specs and loaded with ``netspec.load``, so the backend sees the
checked IR it will really receive. One test builds its IR by hand, because the names it
needs (a node called ``train``, a node nested under another layer) are not ones a spec
can produce.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

import netspec  # noqa: E402
from netspec.backends.torch import BACKEND, NetspecModule, TorchModel  # noqa: E402
from netspec.check.checker import check_model  # noqa: E402
from netspec.diagnostics import Diagnostics  # noqa: E402
from netspec.ir import CheckedModel, Input, Model, Node  # noqa: E402
from netspec.ir import ops as ir  # noqa: E402

SPECS = Path(__file__).resolve().parents[2] / "specs"
RNG = np.random.default_rng(1234)


def model_of(shape: tuple[int, ...], body: str) -> CheckedModel:
    """The checked model ``m`` with input ``x`` of per-sample ``shape`` and ``body``."""
    return netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{\n{body}\n}}\n").model()


def compile64(model: CheckedModel) -> TorchModel:
    return BACKEND.compile(model, dtype="float64", seed=0)


def pads_text(padding: object) -> str:
    return padding if isinstance(padding, str) else str([list(side) for side in padding])


# --- windows: convolution and pooling against NumPy loops ------------------------------


def _pad(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], value: float) -> np.ndarray:
    (top, bottom), (left, right) = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, int], dilation=(1, 1)):
    """Yield (i, j, window [N, C, kh, kw]) for every output position."""
    _, _, h, w = x.shape
    span_h, span_w = dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1
    for i in range((h - span_h) // stride[0] + 1):
        for j in range((w - span_w) // stride[1] + 1):
            top, left = i * stride[0], j * stride[1]
            yield (
                i,
                j,
                x[:, :, top : top + span_h : dilation[0], left : left + span_w : dilation[1]],
            )


def _conv_reference(x, weight, bias, stride, pads, dilation, groups):
    padded = _pad(x, pads, 0.0)
    windows = list(_windows(padded, weight.shape[2:], stride, dilation))
    out = np.zeros((x.shape[0], weight.shape[0], windows[-1][0] + 1, windows[-1][1] + 1))
    per_group_in, per_group_out = x.shape[1] // groups, weight.shape[0] // groups
    for i, j, window in windows:
        for f in range(weight.shape[0]):
            g = f // per_group_out
            part = window[:, g * per_group_in : (g + 1) * per_group_in]
            out[:, f, i, j] = np.sum(part * weight[f], axis=(1, 2, 3)) + bias[f]
    return out


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"),
    [
        ((1, 1), ((1, 1), (1, 1)), (1, 1), 1),
        ((2, 2), "same", (1, 1), 1),  # TF "same" with stride 2: asymmetric pads
        ((2, 1), ((0, 2), (1, 0)), (1, 1), 2),
        ((1, 1), ((2, 1), (0, 1)), (2, 2), 1),
    ],
)
def test_conv2d_matches_a_loop(stride, padding, dilation, groups) -> None:
    model = model_of(
        (4, 7, 8),
        f"conv2d(6, 3, stride = {list(stride)}, padding = {pads_text(padding)}, "
        f"dilation = {list(dilation)}, groups = {groups})",
    )
    compiled = compile64(model)
    node = model.nodes[0]
    params = compiled.parameters()
    x = RNG.normal(size=(2, 4, 7, 8))
    want = _conv_reference(
        x,
        params[f"{node.name}.weight"],
        params[f"{node.name}.bias"],
        stride,
        node.op.padding,
        dilation,
        groups,
    )
    got = compiled.forward(x)
    assert got.shape == (2, *node.output.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("kind", "kernel", "stride", "padding"),
    [
        ("maxpool", (2, 2), (2, 2), ((0, 0), (0, 0))),
        ("maxpool", (3, 3), (2, 2), "same"),
        ("maxpool", (3, 2), (1, 2), ((2, 0), (1, 1))),  # 2 > kernel // 2: padded by F.pad
        ("avgpool", (3, 3), (1, 1), ((1, 1), (1, 1))),
        ("avgpool", (2, 3), (2, 1), ((1, 0), (0, 2))),
    ],
)
def test_pooling_matches_a_loop(kind, kernel, stride, padding) -> None:
    model = model_of(
        (3, 7, 6),
        f"{kind}({list(kernel)}, stride = {list(stride)}, padding = {pads_text(padding)})",
    )
    x = RNG.normal(size=(2, 3, 7, 6))
    # Max pooling pads with -inf; average pooling with zeros that count in the divisor.
    padded = _pad(x, model.nodes[0].op.padding, -math.inf if kind == "maxpool" else 0.0)
    windows = list(_windows(padded, kernel, stride))
    want = np.zeros((2, 3, windows[-1][0] + 1, windows[-1][1] + 1))
    for i, j, window in windows:
        pooled = window.max(axis=(2, 3)) if kind == "maxpool" else window.mean(axis=(2, 3))
        want[:, :, i, j] = pooled
    np.testing.assert_allclose(compile64(model).forward(x), want, rtol=1e-12, atol=1e-12)


# --- element-wise and axis ops ---------------------------------------------------------

ERF = np.vectorize(math.erf)

ACTIVATIONS = {
    "identity": lambda x: x,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "relu6": lambda x: np.clip(x, 0, 6),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hard_swish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "leaky_relu(negative_slope = 0.2)": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu(alpha = 0.7)": lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1)),
    "gelu": lambda x: 0.5 * x * (1 + ERF(x / math.sqrt(2))),
    "gelu(approximate = tanh)": lambda x: (
        0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    ),
    "softplus(beta = 2, threshold = 3)": lambda x: np.where(
        2 * x > 3.0, x, np.log1p(np.exp(2 * x)) / 2
    ),
    "step": lambda x: (x > 0).astype(np.float64),
}


@pytest.mark.parametrize("call", list(ACTIVATIONS))
def test_activation_matches_formula(call: str) -> None:
    x = RNG.normal(scale=3.0, size=(5, 2, 3, 4))
    got = compile64(model_of((2, 3, 4), call)).forward(x)
    np.testing.assert_allclose(got, ACTIVATIONS[call](x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("per_channel", [False, True])
def test_prelu_slopes_shared_or_per_channel(per_channel: bool) -> None:
    model = model_of((3, 2, 2), f"prelu(per_channel = {str(per_channel).lower()})")
    compiled = compile64(model)
    assert compiled.parameters()[model.params[0].name] == pytest.approx(0.25)
    slopes = np.array([0.1, -0.5, 2.0]) if per_channel else np.array([0.3])
    compiled.set_parameters({model.params[0].name: slopes})
    x = RNG.normal(size=(4, 3, 2, 2))
    want = np.where(x > 0, x, slopes.reshape(1, -1, 1, 1) * x)
    np.testing.assert_allclose(compiled.forward(x), want, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
def test_softmax_axis_is_per_sample(kind: str, axis: int) -> None:
    x = RNG.normal(size=(3, 4, 5))
    batched = axis + 1 if axis >= 0 else axis
    shifted = x - x.max(axis=batched, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=batched, keepdims=True))
    want = np.exp(log_p) if kind == "softmax" else log_p
    got = compile64(model_of((4, 5), f"{kind}(axis = {axis})")).forward(x)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_merges_concat_add_multiply(axis: int) -> None:
    model = model_of(
        (2, 3, 4),
        f"""a = x -> tanh
        b = x -> sigmoid
        s = add(a, b, x)
        p = multiply(a, b, s)
        concat(p, x, a, axis = {axis})""",
    )
    x = RNG.normal(size=(2, 2, 3, 4))
    a, b = np.tanh(x), 1 / (1 + np.exp(-x))
    s = a + b + x
    batched = axis + 1 if axis >= 0 else axis
    want = np.concatenate([a * b * s, x, a], axis=batched)
    np.testing.assert_allclose(compile64(model).forward(x), want, rtol=1e-12)


def test_reshape_flatten_and_global_average() -> None:
    model = model_of(
        (2, 3, 4),
        """g = x -> global_avgpool
        f = x -> flatten
        r = f -> reshape([4, -1])""",
    )
    x = RNG.normal(size=(3, 2, 3, 4))
    trace = compile64(model).trace(x)
    np.testing.assert_allclose(trace["g"], x.mean(axis=(2, 3)), rtol=1e-12)
    np.testing.assert_array_equal(trace["f"], x.reshape(3, 24))
    np.testing.assert_array_equal(trace["r"], x.reshape(3, 4, 6))


# --- the module itself -------------------------------------------------------------------


def test_state_dict_keys_are_the_ir_names_even_for_awkward_node_names() -> None:
    steps = [
        ("res1.conv2d_1", ir.Conv2d(filters=3, kernel=(3, 3), padding="same"), "x"),
        ("res1.bn", ir.BatchNorm(), "res1.conv2d_1"),
        ("train", ir.Prelu(per_channel=True), "res1.bn"),  # a method name of nn.Module
        ("flat", ir.Flatten(), "train"),
        ("a", ir.Dense(units=4), "flat"),
        ("a.b.c", ir.Dense(units=2, bias=False), "a"),  # nested under a layer
    ]
    nodes = tuple(Node(name=name, op=op, inputs=(source,)) for name, op, source in steps)
    ir_model = Model(name="m", input=Input(name="x", shape=(3, 6, 6)), nodes=nodes, output="a.b.c")
    model = check_model(ir_model, {}, Diagnostics())
    assert model is not None
    module = BACKEND.compile(model).module
    params = [spec.name for spec in model.params]
    state = [spec.name for spec in model.state]
    assert sorted(module.state_dict()) == sorted(params + state)
    assert [name for name, _ in module.named_parameters()] == params
    # Loadable from the IR's names alone, strictly.
    fresh = NetspecModule(model, seed=5)
    fresh.load_state_dict(module.state_dict())
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(fresh.eval()(x), module.eval()(x))


def test_dead_tensors_are_dropped_but_trace_keeps_every_node() -> None:
    model = model_of(
        (4,),
        """a = x -> relu
        unused = x -> tanh
        b = a -> sigmoid
        add(a, b)""",
    )
    module = BACKEND.compile(model).module
    x = torch.randn(3, 4)
    assert list(module.walk(x, keep=False)) == [model.output]
    assert list(module.trace(x)) == ["x", "a", "unused", "b", model.output]


CONV_NET = """conv2d(4, 3) -> relu -> maxpool(2) -> dropout(0.3)
    flatten
    dense(2)"""


def test_module_pickles_and_trains_in_a_plain_torch_loop() -> None:
    compiled = BACKEND.compile(model_of((3, 8, 8), CONV_NET), seed=3)
    module: NetspecModule = pickle.loads(pickle.dumps(compiled.module))
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 2, (16,))
    module.train()
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_module_rejects_a_batch_of_the_wrong_shape() -> None:
    module = BACKEND.compile(model_of((4,), "relu")).module
    with pytest.raises(netspec.ShapeError, match=r"shape \(2, 5\), expected \(N, 4\)"):
        module(torch.zeros(2, 5))


@pytest.mark.parametrize("own_stream", [True, False])
def test_torch_compile_traces_the_walk(own_stream: bool) -> None:
    module = BACKEND.compile(model_of((3, 8, 8), CONV_NET)).module
    module.own_dropout_stream = own_stream
    x = torch.randn(2, 3, 8, 8)
    # With the module's own generator, dropout breaks the graph (dynamo cannot trace a
    # Generator argument); with torch's global RNG the whole walk is one graph.
    compiled = torch.compile(module, backend="aot_eager", fullgraph=not own_stream)
    module.train()
    if own_stream:
        module.seed_dropout(7)
        eager = module(x)
        module.seed_dropout(7)
        torch.testing.assert_close(compiled(x), eager)
    assert not torch.equal(compiled(x), compiled(x)), "dropout must draw new masks"
    module.eval()
    torch.testing.assert_close(compiled(x), module(x))
